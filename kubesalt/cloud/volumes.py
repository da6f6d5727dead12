"""Volumes of the lab cloud as block devices: a sparse file per Cinder volume, a loop device
while it is attached, and device nodes in the guest's own /dev where a virtio disk would be.

* the **file**: ``<cloud dir>/volumes/<volume id>.img``, sparse, of the volume's size (GiB);
  made on the first attachment, removed only when the API deletes the volume;
* **attached** (the instance boots with it): ``losetup --find --show --partscan FILE``; the loop
  device is detached when the instance is deleted (the file stays: the volume survives), when
  the volume goes, and when the cloud's daemon stops (``kubesalt cloud down``/``lab down``, a
  crashed daemon's next ``down`` or start: :func:`detach_all`);
* in the **guest** (a lab host with a private tmpfs /dev, never the machine's devtmpfs): the
  disk node Nova names (``/dev/vdb``) and the kernel's name of the same device (what ``lsblk``
  and cloud-init's ``fs_setup`` report, read from sysfs), with udev's link
  ``/dev/disk/by-id/virtio-<first 20 characters of the volume id>``. The image has no udev:
  :func:`mirror` is what udev's rules would do for the partitions (``vdb1`` and the kernel's
  name, ``...-part1`` links); the daemon runs it at attachment and the guest's ``udevadm
  settle`` (:data:`UDEVADM`, which cloud-init's ``cc_disk_setup`` calls after ``blockdev
  --rereadpt``) runs it again.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import stat
import subprocess
import sys
import time

BY_ID = "disk/by-id"
SERIAL_LENGTH = 20  # virtio-blk serials: Nova passes the volume id, the guest sees 20 chars
GIB = 1024**3
UDEVADM_PATH = "/usr/local/sbin/udevadm"
DETACH_TIMEOUT = 15.0


def by_id_name(volume_id: str) -> str:
    """udev's by-id name of a virtio disk whose serial is the Cinder volume id."""
    if not volume_id:
        raise ValueError("volume_id: empty")
    return "virtio-" + volume_id[:SERIAL_LENGTH]


def partition_name(disk: str, number: int) -> str:
    """The kernel's name of partition ``number`` of ``disk`` (``vdb`` 1 -> ``vdb1``, ``loop3``
    1 -> ``loop3p1``: a p when the disk's name ends with a digit)."""
    if number < 1:
        raise ValueError(f"number: {number} (partitions count from 1)")
    return f"{disk}{'p' if disk[-1:].isdigit() else ''}{number}"


def image_path(directory: str | os.PathLike, volume_id: str) -> pathlib.Path:
    return pathlib.Path(directory) / "volumes" / f"{volume_id}.img"


def ensure_image(path: pathlib.Path, size_gib: int) -> None:
    """The volume's sparse file (made once; never shrunk)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as handle:
        if handle.tell() < size_gib * GIB:
            handle.truncate(size_gib * GIB)


def attach(path: pathlib.Path) -> str:
    """A loop device on ``path`` with partition scanning (``/dev/loopN``)."""
    result = subprocess.run(
        ["losetup", "--find", "--show", "--partscan", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"losetup {path}: {result.stderr.strip()}")
    return result.stdout.strip()


def loops_of(directory: str | os.PathLike) -> list[str]:
    """The loop devices whose backing file is one of ``directory``'s volumes."""
    prefix = str(pathlib.Path(directory).resolve() / "volumes") + os.sep
    result = subprocess.run(
        ["losetup", "-J", "-l"], capture_output=True, text=True, timeout=30, check=False
    )
    if result.returncode != 0 or not result.stdout.strip():
        return []
    devices = json.loads(result.stdout).get("loopdevices", [])
    return [d["name"] for d in devices if (d.get("back-file") or "").startswith(prefix)]


def detach(device: str, timeout: float = DETACH_TIMEOUT) -> None:
    """Detach a loop device and wait (bounded) until the kernel has let it go: when it is
    still in use (a killed host's mount, released as its mount namespace goes) the kernel
    detaches it on the last close (autoclear)."""
    subprocess.run(["losetup", "-d", device], capture_output=True, timeout=30, check=False)
    backing = pathlib.Path("/sys/block") / pathlib.Path(device).name / "loop" / "backing_file"
    deadline = time.monotonic() + timeout
    while backing.exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def detach_all(directory: str | os.PathLike) -> None:
    """Detach every loop device of ``directory``'s volumes (a crashed daemon's too)."""
    for device in loops_of(directory):
        detach(device)


def _sys_dir(sys_root: str, node: str) -> pathlib.Path | None:
    """The sysfs directory of the block device behind device node ``node``."""
    try:
        rdev = os.stat(node).st_rdev
    except OSError:
        return None
    path = pathlib.Path(sys_root) / "dev" / "block" / f"{os.major(rdev)}:{os.minor(rdev)}"
    return path.resolve() if path.exists() else None


def _mknod(path: pathlib.Path, numbers: str) -> None:
    major, minor = (int(n) for n in numbers.strip().split(":"))
    with contextlib.suppress(FileNotFoundError):
        current = os.lstat(path)
        if stat.S_ISBLK(current.st_mode) and current.st_rdev == os.makedev(major, minor):
            return
        path.unlink()
    os.mknod(path, 0o660 | stat.S_IFBLK, os.makedev(major, minor))


def _link(path: pathlib.Path, target: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        if os.readlink(path) == target:
            return
        path.unlink()
    os.symlink(target, path)


def add_disk(dev_root: str | os.PathLike, name: str, loop: str, volume_id: str) -> None:
    """Disk node ``name`` (``vdb``) for loop device ``loop`` and its by-id link in a guest's
    /dev at ``dev_root``, then :func:`mirror`."""
    dev = pathlib.Path(dev_root)
    kernel = pathlib.Path(loop).name
    numbers = (pathlib.Path("/sys/block") / kernel / "dev").read_text()
    _mknod(dev / name, numbers)
    (dev / BY_ID).mkdir(parents=True, exist_ok=True)
    _link(dev / BY_ID / by_id_name(volume_id), f"../../{name}")
    mirror(dev_root)


def _record(dev: pathlib.Path, node: str, devno: str, links: list[str]) -> None:
    """udev's database entry of a block device (``/run/udev/data/b<major>:<minor>``, what
    ``lsblk`` and cloud-init's ``fs_setup`` read a device's filesystem and label from): the
    ``blkid`` builtin's ID_FS_* properties and the links, as udev's persistent-storage rules
    record them."""
    probe = subprocess.run(
        ["blkid", "-p", "-o", "udev", str(dev / node)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    data = dev.parent / "run" / "udev" / "data"
    data.mkdir(parents=True, exist_ok=True)
    lines = [f"S:{link}" for link in links] + ["I:1"]
    lines += [f"E:{line}" for line in probe.stdout.splitlines() if "=" in line]
    (data / f"b{devno.strip()}").write_text("\n".join(lines) + "\n")


def mirror(dev_root: str | os.PathLike = "/dev", sys_root: str = "/sys") -> list[str]:
    """What udev does for the disks linked in ``dev_root``/disk/by-id: the kernel's name of
    each disk and, for each partition the kernel knows (sysfs), its nodes under both names and
    the ``-partN`` link, and their database entries (:func:`_record`); nodes and links of
    partitions gone are removed. Returns the partitions' nodes."""
    dev = pathlib.Path(dev_root)
    by_id = dev / BY_ID
    made = []
    for link in sorted(by_id.glob("virtio-*")) if by_id.is_dir() else []:
        if "-part" in link.name or not link.is_symlink():
            continue
        name = pathlib.Path(os.readlink(link)).name
        sysdir = _sys_dir(sys_root, str(dev / name))
        if sysdir is None:
            continue
        kernel = sysdir.name
        if kernel != name:
            _mknod(dev / kernel, (sysdir / "dev").read_text())
        _record(dev, name, (sysdir / "dev").read_text(), [f"{BY_ID}/{link.name}"])
        numbers = {}
        for part in sysdir.iterdir():
            if (part / "partition").is_file():
                numbers[int((part / "partition").read_text())] = (part / "dev").read_text()
        for number, devno in sorted(numbers.items()):
            for node in {partition_name(name, number), partition_name(kernel, number)}:
                _mknod(dev / node, devno)
                made.append(node)
            _link(by_id / f"{link.name}-part{number}", f"../../{partition_name(name, number)}")
            _record(dev, partition_name(name, number), devno, [f"{BY_ID}/{link.name}-part{number}"])
        for stale in by_id.glob(f"{link.name}-part*"):
            number = stale.name.rsplit("-part", 1)[1]
            if number.isdigit() and int(number) not in numbers:
                stale.unlink()
                for node in {
                    partition_name(name, int(number)),
                    partition_name(kernel, int(number)),
                }:
                    with contextlib.suppress(FileNotFoundError):
                        (dev / node).unlink()
    return made


UDEVADM = (
    f"#!{sys.executable}\n"
    '"""udev\'s stand-in in a lab-cloud host: `settle` makes the volumes\' partition nodes."""\n'
    "import sys\n"
    f"sys.path.insert(0, {str(pathlib.Path(__file__).resolve().parents[2])!r})\n"
    "from kubesalt.cloud import volumes\n"
    "if sys.argv[1:2] == ['settle']:\n"
    "    volumes.mirror()\n"
)
