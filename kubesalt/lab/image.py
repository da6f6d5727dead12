"""What a lab host is made of: the lab's "image" every host shares (:func:`image_spec`), the
master host as Salt's Debian packages leave it (:func:`packaged_salt_script`), a host's
own spec (:func:`host_spec`) and the user-data Terraform renders for it
(:func:`render_user_data`)."""

from __future__ import annotations

import os
import pathlib
import sys

from kubesalt.lab import saltconf
from kubesalt.lab import topology
from kubesalt.lab.machine import LabError
from kubesalt.lab.machine import machine_paths_hidden_in_hosts
from kubesalt.lab.machine import repo_root
from kubesalt.lab.machine import salt_bin_dir
from kubesalt.lab.topology import Host
from kubesalt.tf import nocloud
from kubesalt.tf import render as tf_render


def image_spec(hostname: str, mountpoint: pathlib.Path, repo: pathlib.Path) -> dict:
    """The lab's "image": the part of a host's spec (:func:`kubesalt.lab.hostinit.build_root`)
    every lab host shares, whoever starts it (``kubesalt lab up`` or the lab cloud): the
    project's Salt commands in /usr/local/bin, ``runlevel``, the ``kubesalt`` launcher, none of
    the machine's own Salt state, and the machine paths a host's own /tmp would hide."""
    bin_dir = salt_bin_dir()
    files = {
        "/etc/hostname": (f"{hostname}\n", 0o644),
        # Debian's `runlevel` is systemd's here and fails without it; a sysvinit machine
        # answers "N 2" (Salt's debian_service provider asks it for every service call).
        "/usr/local/sbin/runlevel": ("#!/bin/sh\necho 'N 2'\n", 0o755),
        "/usr/local/bin/kubesalt": (
            f'#!/bin/sh\nexec env PYTHONPATH={repo} {bin_dir}/python -m kubesalt "$@"\n',
            0o755,
        ),
    }
    symlinks = [(str(bin_dir / name), f"/usr/local/bin/{name}") for name in saltconf.SALT_COMMANDS]
    # First, so that binds into the host's own /tmp find their place.
    needed = (repo, bin_dir.parent, pathlib.Path(os.path.realpath(sys.executable)).parents[1])
    return {
        "hostname": hostname,
        "mountpoint": str(mountpoint),
        "files": files,
        "symlinks": symlinks,
        "ro_binds": [(path, path) for path in machine_paths_hidden_in_hosts(needed)],
        "remove": ["/etc/salt", "/var/cache/salt", "/var/log/salt", "/run/salt"],
    }


def packaged_salt_script() -> str:
    """Shell that leaves a host as Salt's Debian packages do (saltconf.MASTER_PACKAGE_LAYOUT),
    with the project's Salt readable by the user ``salt``: the virtualenv's interpreter may
    live under a directory only root may enter (pyenv under /root). The host opens such
    directories to others (o+x) in its own copy-on-write root: the machine's stay as they
    are."""
    needed = [
        pathlib.Path(os.path.realpath(sys.executable)),
        pathlib.Path(sys.base_prefix),
        salt_bin_dir(),
        repo_root(),
    ]
    closed = sorted(
        {
            str(directory)
            for path in needed
            for directory in [path, *path.parents]
            if directory.is_dir() and not directory.stat().st_mode & 0o001
        }
    )
    script = saltconf.MASTER_PACKAGE_LAYOUT
    if closed:
        script += "chmod o+x " + " ".join(closed) + "\n"
    return script


def render_user_data(
    hosts: list[Host], workers: int, control_planes: int, domain: str
) -> dict[str, str]:
    """Every Salt host's user-data, by minion id, from the real Terraform module."""
    try:
        # Hosts beyond the Terraform layout's own (the MAAS hosts): the module's
        # extra_nodes, in the inventory with their roles.
        layout_roles = {"salt_master", "bastion", "microk8s_control_plane", "microk8s_worker"}
        extra_nodes = [
            {"hostname": h.name, "private_ip": h.private_ip, "roles": list(h.roles)}
            for h in hosts
            if h.runs_salt and not layout_roles & set(h.roles)
        ]
        rendered = tf_render.render_lab(
            None, control_planes, workers, domain, extra_nodes=extra_nodes
        )
    except Exception as exc:  # the engine's own errors say what went wrong
        raise LabError(f"rendering the user-data with Terraform failed: {exc}") from exc
    expected = {host.minion_id for host in hosts if host.runs_salt}
    if set(rendered.user_data) != expected:
        raise LabError(
            f"Terraform rendered user-data for {sorted(rendered.user_data)}, "
            f"the lab has {sorted(expected)}"
        )
    return rendered.user_data


def host_spec(
    state_dir: pathlib.Path,
    host: Host,
    hosts: list[Host],
    repo: pathlib.Path,
    user_data: dict[str, str] | None = None,
) -> dict:
    """What the supervisor builds ``host`` from (:func:`kubesalt.lab.hostinit.build_root`):
    the lab image, the host's own files, Salt's configuration and init scripts, and with
    ``user_data`` the NoCloud seed cloud-init boots it from."""
    bin_dir = salt_bin_dir()
    mountpoint = state_dir / "hosts" / host.name
    mountpoint.mkdir()
    spec = image_spec(host.name, mountpoint, repo)
    files, symlinks, remove = spec["files"], spec["symlinks"], spec["remove"]
    files.update(
        {
            "/etc/hosts": (topology.etc_hosts(hosts), 0o644),
            "/etc/resolv.conf": (topology.resolv_conf(host.domain), 0o644),
            "/etc/mailname": (f"{host.fqdn}\n", 0o644),
        }
    )
    ro_binds = []
    booting = bool(user_data) and host.runs_salt
    if host.bare_metal:
        # Powered off: cloud-init has never run; the power driver writes the NoCloud seed
        # MAAS's deployment carries and boots it (kubesalt.lab.power).
        files[nocloud.DATASOURCE_CFG_PATH] = (nocloud.DATASOURCE_CFG, 0o644)
        remove += ["/var/lib/cloud", nocloud.SEED_DIR]
        files["/etc/init.d/salt-minion"] = (
            saltconf.init_script("salt-minion", str(bin_dir / "salt-minion"), "Salt minion"),
            0o755,
        )
        symlinks += saltconf.rc_links("salt-minion")
    if booting:
        # cloud-init configures Salt from the seed; nothing of the machine's own
        # cloud-init state may make it think this instance already booted.
        seed = nocloud.seed_files(
            user_data[host.minion_id], f"kubesalt-{host.minion_id}", host.name
        )
        for path, text in seed.items():
            files[path] = (text, 0o600 if path.endswith("/user-data") else 0o644)
        remove += ["/var/lib/cloud/instance", "/var/lib/cloud/instances", "/var/lib/cloud/data"]
    if host.runs_salt:
        master = next(h for h in hosts if "salt_master" in h.roles)
        if not booting:
            files["/etc/salt/minion"] = (saltconf.minion_config(host, master), 0o644)
        files["/etc/init.d/salt-minion"] = (
            saltconf.init_script("salt-minion", str(bin_dir / "salt-minion"), "Salt minion"),
            0o755,
        )
        symlinks += saltconf.rc_links("salt-minion")
    if "salt_master" in host.roles and booting:
        files["/etc/salt/master"] = (saltconf.PACKAGED_MASTER_CONFIG, 0o644)
        files["/etc/init.d/salt-master"] = (
            saltconf.init_script(
                "salt-master", str(bin_dir / "salt-master"), "Salt master", saltconf.SALT_USER
            ),
            0o755,
        )
        symlinks += saltconf.rc_links("salt-master")
        # The bootstrap in the user-data finds the state tree here and does not clone it.
        # Only the tree's directories are the repository's (read-only): /srv/kubesalt itself
        # stays the host's, as a checkout on a real master is, so the salt_master state can
        # create the backup directory there (master.backup.directory).
        ro_binds = [
            (str(repo / "salt"), saltconf.SALT_DIR),
            (str(repo / "pillar"), saltconf.PILLAR_DIR),
        ]
    elif "salt_master" in host.roles:
        files["/etc/salt/master"] = (saltconf.master_config(host), 0o644)
        files["/etc/init.d/salt-master"] = (
            saltconf.init_script(
                "salt-master", str(bin_dir / "salt-master"), "Salt master", saltconf.SALT_USER
            ),
            0o755,
        )
        files[f"{saltconf.LAB_PILLAR_DIR}/_from_terraform.sls"] = (
            topology.inventory_sls(hosts),
            0o644,
        )
        symlinks += saltconf.rc_links("salt-master")
        ro_binds = [
            (str(repo / "salt" / "states"), saltconf.STATES_DIR),
            (str(repo / "salt"), saltconf.SALT_DIR),
        ]
        if (repo / "pillar").is_dir():
            ro_binds.append((str(repo / "pillar"), saltconf.PILLAR_DIR))
    spec["ro_binds"] += ro_binds
    return spec
