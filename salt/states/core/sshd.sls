{%- from "map.jinja" import kubesalt with context %}

# ssh-keygen -A when the host keys are missing (a state of our own: no `creates`, see
# tests/functional/states/test_host_states.py).
core-sshd-host-keys:
  host_security.ssh_host_keys:
    - name: /etc/ssh/ssh_host_ed25519_key

# sshd -t refuses to check a configuration without its privilege separation directory,
# which only the init script creates.
core-sshd-privsep-dir:
  file.directory:
    - name: /run/sshd
    - user: root
    - group: root
    - mode: '0755'

# The new file is checked by the real sshd (sshd -t -f <temporary copy>) and replaces the
# live one only if it passes.
core-sshd-config:
  file.managed:
    - name: /etc/ssh/sshd_config
    - source: salt://core/files/sshd_config.jinja
    - template: jinja
    - user: root
    - group: root
    - mode: '0644'
    - check_cmd: /usr/sbin/sshd -t -f
    - tmp_ext: .conf
    - context:
        sshd: {{ kubesalt.sshd | json }}
    - require:
      - host_security: core-sshd-host-keys
      - file: core-sshd-privsep-dir

core-sshd-service:
  service.running:
    - name: {{ kubesalt.sshd.service | json }}
    - enable: True
    - reload: True
    - watch:
      - file: core-sshd-config
