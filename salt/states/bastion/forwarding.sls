bastion-forwarding-ipv4:
  sysctl.present:
    - name: net.ipv4.ip_forward
    - value: 1
    - config: /etc/sysctl.d/90-kubesalt-bastion.conf
