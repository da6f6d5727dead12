{%- from "map.jinja" import kubesalt with context %}
{%- set fail2ban = kubesalt.bastion.fail2ban %}
include:
  - bastion.iptables

# Hosts without a syslog daemon have no auth log; the polling backend needs the file.
bastion-fail2ban-logfile:
  file.managed:
    - name: {{ fail2ban.logpath | json }}
    - replace: False
    - user: root
    - group: adm
    - mode: '0640'

bastion-fail2ban-jail:
  file.managed:
    - name: /etc/fail2ban/jail.d/kubesalt.conf
    - source: salt://bastion/files/jail.conf.jinja
    - template: jinja
    - user: root
    - group: root
    - mode: '0644'
    - context:
        fail2ban: {{ fail2ban | json }}
        ssh_port: {{ kubesalt.sshd.port | json }}
    - require:
      - pkg: bastion-iptables-packages

# Restarted after the firewall is reloaded: iptables-restore drops fail2ban's chains.
bastion-fail2ban-service:
  service.running:
    - name: {{ fail2ban.service | json }}
    - enable: {{ fail2ban.enable | json }}
    - watch:
      - file: bastion-fail2ban-jail
      - cmd: bastion-iptables-load
    - require:
      - file: bastion-fail2ban-logfile
