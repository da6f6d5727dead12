# Sourced by boot_in_overlay.sh and boot_master_in_overlay.sh (run inside private
# namespaces): a throwaway copy-on-write view of this machine's root, fresh for cloud-init.
# make_overlay_root SCRATCH_PARENT SEED_DIR -> sets $root and $scratch
make_overlay_root() {
  local parent=$1 seed=$2
  mount --make-rprivate /
  scratch=$(mktemp -d "$parent/.kubesalt-boot.XXXXXX")
  mount -t tmpfs -o mode=0700 tmpfs "$scratch"
  mkdir "$scratch/upper" "$scratch/work" "$scratch/root"
  mount -t overlay overlay -o "lowerdir=/,upperdir=$scratch/upper,workdir=$scratch/work" "$scratch/root"
  root=$scratch/root
  mount -t proc proc "$root/proc"
  mount --rbind /dev "$root/dev"
  mount -t tmpfs tmpfs "$root/run"
  mount -t tmpfs tmpfs "$root/tmp"
  # A checkout under /tmp or /run (its .venv, the Salt the boot runs) stays visible.
  local repo
  repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
  case "$repo" in
    /tmp/* | /run/*)
      mkdir -p "$root$repo"
      mount --bind "$repo" "$root$repo"
      mount -o remount,bind,ro "$root$repo"
      ;;
  esac
  # A fresh instance: nothing cached from this machine's own cloud-init.
  rm -rf "$root/var/lib/cloud/instance" "$root/var/lib/cloud/instances" "$root/var/lib/cloud/data"
  mkdir -p "$root/var/lib/cloud/seed/nocloud" "$root/etc/cloud/cloud.cfg.d"
  cp "$seed/user-data" "$seed/meta-data" "$root/var/lib/cloud/seed/nocloud/"
  cp "$seed/90-kubesalt-nocloud.cfg" "$root/etc/cloud/cloud.cfg.d/"
}

# run_in_root NAME CMD...: run CMD in the root (bounded), output in $out/NAME.log; failures
# are remembered in $rc.
run_in_root() {
  local name=$1
  shift
  chroot "$root" timeout 300 "$@" >"$out/$name.log" 2>&1 || {
    rc=$?
    echo "$* failed (rc=$rc)" >&2
  }
}
