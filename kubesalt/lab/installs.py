"""What the lab installs in its hosts: Salt on the master host as its Debian packages do, the
MicroK8s simulator's ``snap`` in every Salt host, the MAAS simulator and the region's
PostgreSQL in the MAAS hosts.

Each function takes the :class:`kubesalt.lab.lab.Lab` it acts on (``lab``); not imported
here, so the package imports one way.
"""

from __future__ import annotations

import subprocess
import sys

from kubesalt.lab import minions
from kubesalt.lab import topology
from kubesalt.lab.image import packaged_salt_script
from kubesalt.lab.machine import repo_root
from kubesalt.lab.topology import Host

MAAS_VERSION = "3.4"
# The region host's PostgreSQL cluster; its socket directory is MAAS_PG_DIR/sock (the lab
# pillar's maas:db:superuser:db_host).
MAAS_PG_DIR = "/var/lib/kubesalt-pg"


def install_master_as_packaged(lab) -> None:
    """The master host as Salt's Debian packages leave it (:func:`packaged_salt_script`)."""
    lab.exec("salt", ["sh", "-c", packaged_salt_script()], check=True)


def install_simulators(lab, hosts: list[Host], report) -> None:
    """Install the MicroK8s simulator's ``snap`` in every Salt host, when it exists."""
    probe = subprocess.run(
        [sys.executable, "-m", "kubesalt", "sim", "microk8s", "install-snap", "--help"],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
        cwd=str(repo_root()),
    )
    if probe.returncode != 0 or "--address" not in probe.stdout:
        report("MicroK8s simulator not available yet (no `kubesalt sim microk8s install-snap`)")
        return
    report("installing the MicroK8s simulator's snap command in every host")
    install = ["kubesalt", "sim", "microk8s", "install-snap", "--root", "/", "--address"]
    targets = [h for h in hosts if h.runs_salt or h.bare_metal]
    minions.parallel(lab, [(h.name, [*install, h.main_ip]) for h in targets])


def install_maas(lab, hosts: list[Host], report) -> None:
    """The MAAS simulator in each MAAS host (launchers in /usr/local/bin, registering as
    the host's short name) and the region host's PostgreSQL, where maas.db creates the
    role and the database. Its daemons live in the hosts' PID namespaces: they die with
    the lab."""
    maas_hosts = [h for h in hosts if {"maas_region", "maas_rack"} & set(h.roles)]
    report(f"installing the MAAS simulator in {', '.join(h.name for h in maas_hosts)}")
    install = ["kubesalt", "sim", "maas", "install", "--root", "/", "--version"]
    minions.parallel(
        lab,
        [
            (h.name, [*install, MAAS_VERSION, "--address", h.main_ip, "--hostname", h.name])
            for h in maas_hosts
        ],
    )
    for host in (h for h in hosts if "maas_db" in h.roles):
        report(f"starting PostgreSQL on {host.name} ({MAAS_PG_DIR}, {host.main_ip}:5432)")
        start = ["kubesalt", "sim", "maas", "postgres", "start", "--dir", MAAS_PG_DIR]
        start += ["--address", host.main_ip, "--port", "5432"]
        start += ["--allow", topology.PRIVATE_CIDR]
        lab.exec(host.name, start, check=True)
