#!/bin/bash
# boot_in_overlay.sh SEED_DIR OUT_DIR [EXTRA_MODULE...]
# Runs real cloud-init (init-local, init, config stages, then the named modules once) from
# a NoCloud seed inside a throwaway copy-on-write view of this machine's root. Meant to run
# under `unshare --mount --uts --net --ipc --fork`: every write lands in a tmpfs that dies
# with the namespace; the hostname and the network are the namespace's own.
# The upper layer (what cloud-init changed) is copied to OUT_DIR/upper for inspection.
set -euo pipefail
seed=$1 out=$2
shift 2
mount --make-rprivate /
scratch=$(mktemp -d "$out/.kubesalt-boot.XXXXXX")
mount -t tmpfs -o mode=0700 tmpfs "$scratch"
mkdir "$scratch/upper" "$scratch/work" "$scratch/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$scratch/upper,workdir=$scratch/work" "$scratch/root"
root=$scratch/root
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount -t tmpfs tmpfs "$root/run"
mount -t tmpfs tmpfs "$root/tmp"
# A fresh instance: nothing cached from this machine's own cloud-init.
rm -rf "$root/var/lib/cloud/instance" "$root/var/lib/cloud/instances" "$root/var/lib/cloud/data"
mkdir -p "$root/var/lib/cloud/seed/nocloud" "$root/etc/cloud/cloud.cfg.d"
cp "$seed/user-data" "$seed/meta-data" "$root/var/lib/cloud/seed/nocloud/"
cp "$seed/90-kubesalt-nocloud.cfg" "$root/etc/cloud/cloud.cfg.d/"
rc=0
run() {
  local name=$1
  shift
  chroot "$root" timeout 120 cloud-init "$@" >"$out/$name.log" 2>&1 || {
    rc=$?
    echo "cloud-init $* failed (rc=$rc)" >&2
  }
}
run init-local init --local
run init init
run config modules --mode config
for module in "$@"; do
  run "single-$module" single --name "$module" --frequency always
done
hostname >"$out/hostname"
cp -a "$scratch/upper" "$out/upper"
exit $rc
