# The bastion: the only host with a public address. It routes the private network out
# (NAT), accepts nothing but SSH, and bans SSH brute force.
include:
  - bastion.forwarding
  - bastion.iptables
  - bastion.fail2ban
