#!/bin/bash
# boot_master_in_overlay.sh SEED_DIR OUT_DIR REPO VENV_BIN
# The salt master's whole boot, final stage included, in a throwaway copy-on-write root:
# cloud-init runs kubesalt-bootstrap, which finds Salt present (the project's virtualenv),
# starts salt-master and salt-minion through LSB scripts; then the master is asked for the
# bootstrap status. Meant to run under
# `unshare --mount --uts --net --ipc --pid --fork --mount-proc`: every process dies with the
# PID namespace, every write with the mount namespace, 10.1.0.5 lives on the namespace's lo.
set -euo pipefail
seed=$1 out=$2 repo=$3 venv_bin=$4
. "$(dirname "$0")/overlay_root.sh"
ip link set lo up
ip addr add 10.1.0.5/32 dev lo
make_overlay_root "$out" "$seed"
rm -rf "$root/etc/salt" "$root/var/cache/salt" "$root/var/log/salt" "$root/srv"
mkdir -p "$root/srv/kubesalt"
# What an image with Salt has (and what the lab provides): the commands and init scripts.
mount --bind -o ro "$repo" "$root/srv/kubesalt"
for cmd in salt salt-call salt-key salt-run salt-master salt-minion; do
  ln -sf "$venv_bin/$cmd" "$root/usr/local/bin/$cmd"
done
for daemon in salt-master salt-minion; do
  cat >"$root/etc/init.d/$daemon" <<SCRIPT
#!/bin/sh
case "\$1" in
  start|restart) exec /usr/local/bin/$daemon -d ;;
  stop) exit 0 ;;
esac
SCRIPT
  chmod 0755 "$root/etc/init.d/$daemon"
done
rc=0
run_in_root init-local cloud-init init --local
run_in_root init cloud-init init
run_in_root config cloud-init modules --mode config
run_in_root final cloud-init modules --mode final
# The reactor has seen the master's own minion start: wait (bounded) for its verdict.
for _ in $(seq 60); do
  grep -q "kubesalt bootstrap: .* minions answer" "$root/var/log/salt/master" 2>/dev/null && break
  sleep 1
done
# stdout only: Salt 3008.4's salt-run warns on stderr about its own unclosed Runner and
# MasterMinion objects at exit.
chroot "$root" timeout 300 salt-run --out=json cluster_bootstrap.status \
  >"$out/status.log" 2>"$out/status-stderr.log" || {
  rc=$?
  echo "salt-run cluster_bootstrap.status failed (rc=$rc)" >&2
}
# The admission step (a Salt engine the master config names) answers on 10.1.0.5:4507: the
# master's own request (its minion's key is accepted) and the same with a forged credential.
ask_admission() {
  (exec 3<>/dev/tcp/10.1.0.5/4507 && printf '%s\n' "$1" >&3 && timeout 30 head -n 1 <&3) 2>/dev/null || true
}
request=$(cat "$root/etc/kubesalt/admission.json")
for _ in $(seq 60); do
  (exec 3<>/dev/tcp/10.1.0.5/4507) 2>/dev/null && break
  sleep 1
done
ask_admission "$request" >"$out/admission.log"
ask_admission "$(printf '%s' "$request" | sed -E 's/"credential":"[0-9a-f]{64}"/"credential":"'"$(printf '0%.0s' $(seq 64))"'"/')" \
  >"$out/admission-forged.log"
cp -a "$scratch/upper" "$out/upper"
exit $rc
