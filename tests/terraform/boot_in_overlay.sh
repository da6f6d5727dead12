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
. "$(dirname "$0")/overlay_root.sh"
make_overlay_root "$out" "$seed"
rc=0
run_in_root init-local cloud-init init --local
run_in_root init cloud-init init
run_in_root config cloud-init modules --mode config
for module in "$@"; do
  run_in_root "single-$module" cloud-init single --name "$module" --frequency always
done
hostname >"$out/hostname"
cp -a "$scratch/upper" "$out/upper"
exit $rc
