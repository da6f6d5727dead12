{%- from "map.jinja" import kubesalt with context %}

bastion-iptables-packages:
  pkg.installed:
    - pkgs: {{ kubesalt.bastion.packages | json }}
    - refresh: {{ kubesalt.packages.refresh | json }}

# The Debian way: netfilter-persistent (iptables-persistent) loads this file at boot.
# iptables-restore --test checks it before it replaces the live file.
bastion-iptables-rules:
  file.managed:
    - name: /etc/iptables/rules.v4
    - source: salt://bastion/files/rules.v4.jinja
    - template: jinja
    - user: root
    - group: root
    - mode: '0640'
    - makedirs: True
    - check_cmd: /usr/sbin/iptables-restore --test
    - context:
        private_cidr: {{ kubesalt.networks.private_cidr | json }}
        ssh_port: {{ kubesalt.sshd.port | json }}
        allow_icmp: {{ kubesalt.bastion.allow_icmp | json }}
    - require:
      - pkg: bastion-iptables-packages

bastion-iptables-load:
  cmd.run:
    - name: /usr/sbin/iptables-restore /etc/iptables/rules.v4
    - onchanges:
      - file: bastion-iptables-rules

# Drift repair: the live rules were flushed although the file did not change.
# (INPUT policy not DROP or no MASQUERADE rule: reloaded.)
bastion-iptables-live:
  host_security.iptables_live:
    - name: /etc/iptables/rules.v4
    - require:
      - cmd: bastion-iptables-load
