# Every host: kernel settings, locale, login banners, sshd, resolver, hosts file, packages,
# the salt minion, users and pillar-declared files.
include:
  - core.sysctl
  - core.locale
  - core.motd
  - core.sshd
  - core.resolv
  - core.hosts
  - core.packages
  - core.minion
  - core.users
  - core.file_transfer
