"""NoCloud seeds: what real cloud-init needs to boot a host from a rendered user-data.

cloud-init's NoCloud datasource reads ``user-data`` and ``meta-data`` from a seed directory
(``/var/lib/cloud/seed/nocloud`` inside the host, or any path named with
``ds=nocloud;s=file:///path/``). ``meta-data`` carries the ``instance-id`` (a new id makes
cloud-init run the per-instance modules again) and the ``local-hostname``.
"""

from __future__ import annotations

import os
import pathlib

import yaml

# Where cloud-init looks for a NoCloud seed without any kernel command line.
SEED_DIR = "/var/lib/cloud/seed/nocloud"
# Restrict cloud-init to the seed (no probing of cloud metadata services) and leave the
# network alone: in the lab, the lab configures each host's interfaces.
DATASOURCE_CFG_PATH = "/etc/cloud/cloud.cfg.d/90-kubesalt-nocloud.cfg"
DATASOURCE_CFG = "datasource_list: [NoCloud, None]\nnetwork: {config: disabled}\n"

# The stages a booting VM runs, in order (what cloud-init's systemd units do).
CLOUD_INIT_STAGES = (
    ("cloud-init", "init", "--local"),
    ("cloud-init", "init"),
    ("cloud-init", "modules", "--mode", "config"),
    ("cloud-init", "modules", "--mode", "final"),
)


def meta_data(instance_id: str, hostname: str) -> str:
    """The NoCloud ``meta-data`` document."""
    if not instance_id or not hostname:
        raise ValueError("meta_data needs an instance_id and a hostname")
    return yaml.safe_dump(
        {"instance-id": instance_id, "local-hostname": hostname}, default_flow_style=False
    )


def seed_files(user_data: str, instance_id: str, hostname: str) -> dict[str, str]:
    """``{absolute path inside the host: content}`` for a host's root (seed + datasource)."""
    if not user_data.startswith("#cloud-config\n"):
        raise ValueError("user_data must be a #cloud-config document")
    return {
        f"{SEED_DIR}/user-data": user_data,
        f"{SEED_DIR}/meta-data": meta_data(instance_id, hostname),
        DATASOURCE_CFG_PATH: DATASOURCE_CFG,
    }


def write_seed(
    seed_dir: str | os.PathLike, user_data: str, instance_id: str, hostname: str
) -> pathlib.Path:
    """Write ``user-data`` (0600: it holds keys) and ``meta-data`` into ``seed_dir``."""
    seed = pathlib.Path(seed_dir)
    seed.mkdir(parents=True, exist_ok=True)
    files = {"user-data": user_data, "meta-data": meta_data(instance_id, hostname)}
    for name, content in files.items():
        path = seed / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
        os.chmod(path, 0o600)
    return seed
