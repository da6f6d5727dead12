#!/bin/bash
# kubesalt-bootstrap ROLE...: run once by cloud-init (runcmd) on every host.
# Installs Salt at the pinned version unless it is already present, brings up the salt
# master (on the master), waits for the master, then (re)starts the minion whose id, keys
# and pinned master key cloud-init wrote before. Every wait is bounded. Logs to stdout
# (cloud-init-output.log) and syslog (tag kubesalt-bootstrap).
set -euo pipefail

ENV_FILE=${KUBESALT_BOOTSTRAP_ENV:-/etc/kubesalt/bootstrap.env}
# shellcheck source=/dev/null
. "$ENV_FILE"

log() {
  echo "kubesalt-bootstrap: $*"
  logger -t kubesalt-bootstrap -- "$*" 2>/dev/null || true
}
die() {
  log "ERROR: $*"
  exit 1
}
have() { command -v "$1" >/dev/null 2>&1; }

has_role() {
  local wanted=$1 role
  for role in $ROLES; do [ "$role" = "$wanted" ] && return 0; done
  return 1
}

restart_service() {
  local name=$1
  if have systemctl && [ -d /run/systemd/system ]; then
    systemctl enable "$name" >/dev/null 2>&1 || true
    systemctl restart "$name"
  else
    service "$name" restart
  fi
}

# Salt before 3008.3 has saltstack/salt#67947: after a master restart a minion may fail
# its re-authentication ('AsyncAuth' object has no attribute '_creds') and never reconnect.
warn_if_salt_predates_reconnect_fix() {
  local present=$1 major minor
  if [[ $present =~ ([0-9]{4})(\.([0-9]+))? ]]; then
    major=${BASH_REMATCH[1]}
    minor=${BASH_REMATCH[3]:-0}
    if [ "$major" -lt 3008 ] || { [ "$major" -eq 3008 ] && [ "$minor" -lt 3 ]; }; then
      log "WARNING: Salt on the image ($present) predates 3008.3: its minions may stay disconnected after a salt-master restart (saltstack/salt#67947); put Salt $SALT_VERSION on the image"
    fi
  fi
}

install_salt() {
  local missing="" pkg present
  for pkg in "$@"; do have "$pkg" || missing="$missing $pkg"; done
  if [ -z "$missing" ]; then
    present=$(salt-call --version 2>/dev/null || echo unknown)
    log "Salt already present ($present); not installing"
    warn_if_salt_predates_reconnect_fix "$present"
    return 0
  fi
  have apt-get || die "Salt ($missing) is missing and this is not a Debian/Ubuntu image: install Salt $SALT_VERSION on the image"
  log "installing Salt $SALT_VERSION:$missing from $SALT_REPO_URL"
  mkdir -m 755 -p /etc/apt/keyrings
  local attempt
  for attempt in 1 2 3 4 5; do
    if curl -fsSL --max-time 60 "$SALT_KEY_URL" | gpg --dearmor --yes -o /etc/apt/keyrings/salt-archive-keyring.pgp; then
      break
    fi
    [ "$attempt" = 5 ] && die "could not download the Salt signing key from $SALT_KEY_URL: does the host reach the internet through the bastion?"
    sleep $((attempt * 5))
  done
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get update -q &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o Dpkg::Options::=--force-confold $missing ||
    die "apt-get install$missing failed (pinned to $SALT_VERSION in /etc/apt/preferences.d/salt-pin-1001)"
}

wait_for_master() {
  local deadline=$((SECONDS + MASTER_WAIT_SECONDS))
  log "waiting up to ${MASTER_WAIT_SECONDS}s for the salt master at $SALT_MASTER_IP:4506"
  until (exec 3<>"/dev/tcp/$SALT_MASTER_IP/4506") 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "WARNING: the salt master $SALT_MASTER_IP:4506 did not answer in ${MASTER_WAIT_SECONDS}s; starting the minion anyway (it keeps retrying)"
      return 0
    fi
    sleep 2
  done
  log "the salt master answers on $SALT_MASTER_IP:4506"
}

bastion_forwarding() {
  sysctl -q -w net.ipv4.ip_forward=1
  local iptables
  iptables=$(command -v iptables || true)
  [ -n "$iptables" ] || die "iptables is missing on the bastion: the private network would have no way out"
  "$iptables" -t nat -C POSTROUTING -s "$PRIVATE_CIDR" ! -d "$PRIVATE_CIDR" -j MASQUERADE 2>/dev/null ||
    "$iptables" -t nat -A POSTROUTING -s "$PRIVATE_CIDR" ! -d "$PRIVATE_CIDR" -j MASQUERADE
  log "forwarding and NAT for $PRIVATE_CIDR are on"
}

# The master's SSH host keys live on its volume too: the first boot keeps there the keys
# sshd was given; a rebuilt master (the same volume, keys of its own in /etc/ssh) gets them
# back and restarts sshd, so the operator's known_hosts, and the strict ssh of a removed
# worker's removal (membership.tf), still match.
keep_ssh_host_keys() {
  local saved=${MASTER_HOST_KEYS_DIR:-} etc=${SSH_DIR:-/etc/ssh} name same=1
  [ -n "$saved" ] || return 0
  if ! compgen -G "$saved/ssh_host_*_key" >/dev/null; then
    if ! compgen -G "$etc/ssh_host_*_key" >/dev/null; then
      log "WARNING: no SSH host keys in $etc to keep in $saved"
      return 0
    fi
    mkdir -p "$saved"
    chmod 0700 "$saved"
    cp -p "$etc"/ssh_host_* "$saved"/
    log "kept the SSH host keys in $saved (a rebuilt master gets them back)"
    return 0
  fi
  for name in "$saved"/ssh_host_*; do
    cmp -s "$name" "$etc/${name##*/}" || same=0
  done
  [ "$same" = 0 ] || return 0
  rm -f "$etc"/ssh_host_*
  cp -p "$saved"/ssh_host_* "$etc"/
  log "restored the SSH host keys from $saved (this master was rebuilt)"
  restart_service ssh || restart_service sshd
}

salt_master() {
  install_salt salt-master salt-minion
  keep_ssh_host_keys
  if [ ! -d "$STATE_TREE_PATH/salt" ]; then
    [ -n "$STATE_TREE_REPOSITORY" ] || die "$STATE_TREE_PATH/salt is missing and no state_tree.repository is set"
    have git || DEBIAN_FRONTEND=noninteractive apt-get install -y -q git
    log "cloning $STATE_TREE_REPOSITORY ($STATE_TREE_REF) into $STATE_TREE_PATH"
    git clone --quiet --depth 1 --branch "$STATE_TREE_REF" "$STATE_TREE_REPOSITORY" "$STATE_TREE_PATH"
  fi
  # The cache (and the join secret in the pki dir) on the volume too: a rebuilt master keeps
  # its minions, their data and the same join tokens.
  local cache_dir=${MASTER_CACHE_DIR:-/var/cache/salt/master}
  mkdir -p "$cache_dir"
  # Salt 3006+ packages run the master as the user "salt": it must own its keys, pillar
  # and cache.
  if id salt >/dev/null 2>&1; then
    chown -R salt:salt "$MASTER_PKI_DIR" "$PILLAR_DIR" "$cache_dir"
  fi
  chmod 0700 "$MASTER_PKI_DIR"
  restart_service salt-master
}

# A minion the running master has not accepted in advance (a node added by a later
# `terraform apply`) is admitted by the master's admission step (TCP $ADMISSION_PORT): it
# accepts this host's pending key only if the credential Terraform put in
# /etc/kubesalt/admission.json matches this id, this key, these roles and this address.
# One JSON line out, one back: accepted, pending (no key from us yet: retry) or refused.
request_admission() {
  local file=${ADMISSION_FILE:-/etc/kubesalt/admission.json} reply
  local port=${ADMISSION_PORT:-4507} deadline=$((SECONDS + MASTER_WAIT_SECONDS))
  [ -f "$file" ] || return 0
  while :; do
    reply=$( (exec 3<>"/dev/tcp/$SALT_MASTER_IP/$port" &&
      cat "$file" >&3 && timeout 30 head -n 1 <&3) 2>/dev/null || true)
    case $reply in
      *'"result": "accepted"'* | *'"result":"accepted"'*)
        log "the salt master admitted $MINION_ID"
        return 0
        ;;
      *'"result": "refused"'* | *'"result":"refused"'*)
        die "the salt master refused to admit $MINION_ID: $reply"
        ;;
    esac
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "WARNING: no admission from the salt master $SALT_MASTER_IP:$port in ${MASTER_WAIT_SECONDS}s (last answer: ${reply:-none}); the minion keeps retrying its key"
      return 0
    fi
    sleep 3
  done
}

main() {
  [ $# -gt 0 ] || die "usage: kubesalt-bootstrap ROLE..."
  ROLES="$*"
  log "bootstrapping $MINION_ID (roles: $ROLES)"
  # cloud-init created the minion's key directory with its default mode.
  chmod 0700 /etc/salt/pki/minion 2>/dev/null || true
  if have netplan && [ -f /etc/netplan/60-kubesalt-private.yaml ]; then
    netplan apply
  fi
  if has_role bastion; then bastion_forwarding; fi
  if has_role salt_master; then salt_master; else install_salt salt-minion; fi
  wait_for_master
  restart_service salt-minion
  if ! has_role salt_master; then request_admission; fi
  log "salt-minion $MINION_ID started; the master takes it from here"
}

main "$@"
