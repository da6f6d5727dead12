"""The lab's bare-metal machines: enlisted in MAAS, and booted when MAAS has deployed them.

``kubesalt lab up --maas --bare-metal N`` adds hosts ``k8s-bm-0..N-1`` that stand for
machines in a rack: their network is wired, nothing runs in them (powered off), cloud-init has
never run there, Salt is on the image but not configured.

* :func:`enlist` announces them to MAAS as a PXE-booting machine would (``machines create``
  with the host's MAC, power type ``manual``, no hostname: MAAS names the machine its own way);
  MAAS commissions them to Ready.
* The power driver (``python -m kubesalt.lab.power STATE_DIR``, a child of the lab supervisor
  that dies with the lab) watches the MAAS simulator's deployment records
  (``var/lib/kubesalt-sim-maas/deployments/<system_id>.json`` in the region host): when a
  machine whose MAC is a lab host's reaches Deployed, it boots that host with the user-data
  MAAS deployed it with, through Debian's real cloud-init and a NoCloud seed (meta-data:
  instance id = system_id, local-hostname = MAAS's hostname), with the lab's one boot function
  :meth:`kubesalt.lab.lab.Lab.boot_cloud_init`. A machine that is deployed again (a new
  deployment after a release or a failure) is booted again.
* When MAAS releases (or deletes) a machine the driver booted, its deployment record goes
  away (or a new deployment replaces it) and the driver powers the host off, as MAAS does
  on release (``Node._release``: "mark ... available again and power off",
  ``src/maasserver/models/node.py``; with power type ``manual`` that is the operator's job,
  which the driver stands for): every process of the host is killed, its PID 1 and its
  network stay (the machine is off, still cabled), its tmpfs mounts (``/run``,
  ``/dev/shm``, ``/tmp``) are emptied as a power cycle empties them, and its root is kept
  (the disk; MAAS erases it only with ``enable_disk_erasing_on_release``).

Not modelled: PXE, curtin (a new deployment boots the kept root again, with a new instance
id), disk erasing, the machine reporting its progress to MAAS (the simulator's timer decides
Deployed).
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import pathlib
import signal
import sys
import time

from kubesalt.lab import hostinit
from kubesalt.lab.lab import Lab
from kubesalt.lab.lab import LabError

DEPLOYMENTS = "var/lib/kubesalt-sim-maas/deployments"
MAAS_PROFILE = "kubesalt-lab"
MAAS_ADMIN = "admin"
ENLIST_TIMEOUT = 120.0
POLL_SECONDS = 1.0
STATE_FILE = "power.json"


def _log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} power: {message}", flush=True)


def bare_metal_hosts(lab: Lab) -> list:
    return [h for h in lab.hosts() if h.bare_metal]


def region_host(lab: Lab):
    for host in lab.hosts():
        if "maas_region" in host.roles:
            return host
    raise LabError("the lab has no MAAS region (kubesalt lab up --maas)")


def mac_address(lab: Lab, host: str) -> str:
    """The MAC of the host's private interface (what it PXE-boots from)."""
    run = lab.exec(host, ["cat", "/sys/class/net/eth0/address"], check=True)
    return run.stdout.strip().lower()


def _maas(lab: Lab, region: str, *args: str) -> object:
    run = lab.exec(region, ["maas", MAAS_PROFILE, *args], check=True)
    return json.loads(run.stdout or "null")


def enlist(lab: Lab, report=None, timeout: float = ENLIST_TIMEOUT) -> dict[str, dict]:
    """Enlist every bare-metal host in MAAS (once; by MAC) and wait (bounded) until each is
    Ready or further. Returns ``{lab host: {"system_id", "hostname" (MAAS's), "status"}}``."""
    report = report or _log
    region = region_host(lab)
    url = f"http://{region.main_ip}:5240/MAAS/"
    key = lab.exec(region.name, ["maas", "apikey", f"--username={MAAS_ADMIN}"], check=True)
    credentials = key.stdout.strip().splitlines()[0]
    lab.exec(region.name, ["maas", "login", MAAS_PROFILE, url, credentials], check=True)
    macs = {mac_address(lab, h.name): h.name for h in bare_metal_hosts(lab)}
    known = {
        mac: machine
        for machine in _maas(lab, region.name, "machines", "read")
        for mac in [i["mac_address"] for i in machine.get("interface_set", [])]
    }
    for mac, host in sorted(macs.items(), key=lambda item: item[1]):
        if mac not in known:
            created = _maas(
                lab,
                region.name,
                "machines",
                "create",
                "architecture=amd64/generic",
                f"mac_addresses={mac}",
                "power_type=manual",
            )
            report(f"MAAS enlisted {host} ({mac}) as {created['hostname']}")
    deadline = time.monotonic() + timeout
    while True:
        machines = {
            macs[i["mac_address"]]: m
            for m in _maas(lab, region.name, "machines", "read")
            for i in m.get("interface_set", [])
            if i["mac_address"] in macs
        }
        waiting = [h for h, m in machines.items() if m["status_name"] in ("New", "Commissioning")]
        if len(machines) == len(macs) and not waiting:
            return {
                host: {k: m[k] for k in ("system_id", "hostname")} | {"status": m["status_name"]}
                for host, m in sorted(machines.items())
            }
        if time.monotonic() >= deadline:
            raise LabError(
                f"MAAS did not commission {', '.join(waiting) or 'every machine'} within "
                f"{timeout:.0f} s"
            )
        time.sleep(1)


def deployments(lab: Lab) -> list[dict] | None:
    """The simulator's deployment records, read through the region host's root (a record
    being rewritten: only its ``system_id``); None before MAAS deployed anything."""
    region = region_host(lab)
    folder = pathlib.Path(f"/proc/{lab.host_pid(region.name)}/root") / DEPLOYMENTS
    if not folder.is_dir():
        return None
    records = []
    for path in sorted(folder.glob("*.json")):
        try:
            records.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            records.append({"system_id": path.stem})  # being written or removed
    return records


def deployment_id(record: dict) -> str:
    """``<system_id>-<deployment>``: one per deployment of a machine."""
    return f"{record['system_id']}-{record.get('deployment', '')}"


def _read_state(lab: Lab) -> dict:
    try:
        return json.loads((lab.state_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return {}


def _write_state(lab: Lab, state: dict) -> None:
    tmp = lab.state_dir / f"{STATE_FILE}.tmp"
    tmp.write_text(json.dumps(state, indent=1))
    tmp.replace(lab.state_dir / STATE_FILE)


def boot(lab: Lab, host: str, record: dict) -> None:
    """Power ``host`` on with the deployment ``record``: real cloud-init boots its user-data."""
    lab.boot_cloud_init(
        host,
        record["user_data"],
        instance_id=f"{record['system_id']}-{record.get('deployment', '')}".rstrip("-"),
        hostname=record["hostname"],
    )


def power_off(lab: Lab, host: str, timeout: float = 30.0) -> None:
    """Power ``host`` off: SIGKILL every process of its PID namespace but its PID 1, seen
    from the machine's /proc (until none is left: a process may fork meanwhile), then empty
    its tmpfs mounts."""
    init = lab.host_pid(host)
    namespace = os.readlink(f"/proc/{init}/ns/pid")
    deadline = time.monotonic() + timeout
    while True:
        found = []
        for entry in pathlib.Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == init:
                continue
            try:
                if os.readlink(entry / "ns" / "pid") != namespace:
                    continue
                if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                    continue  # dead already; the host's PID 1 reaps it
                os.kill(int(entry.name), signal.SIGKILL)
                found.append(entry.name)
            except OSError:
                continue  # gone meanwhile
        if not found:
            _clear_volatile(lab, host)
            return
        if time.monotonic() >= deadline:
            raise LabError(f"{host}: processes {', '.join(found)} survived SIGKILL")
        time.sleep(0.2)


def _clear_volatile(lab: Lab, host: str) -> None:
    """Empty the host's tmpfs mounts, as a power cycle does (its PID 1 and mounts stay in the
    lab). What is left there would outlive the machine being off: cloud-init's
    ``/run/cloud-init/.instance-id`` above all, which, still naming the old deployment, makes
    cloud-init restore that instance from its cache ("restored from cache with run check",
    ``cloudinit/stages.py``) and skip every per-instance module of the new one: no
    bootstrap, no minion."""
    volatile = " ".join(hostinit.VOLATILE_MOUNTS)
    directories = " ".join(f"/{d}" for d in hostinit.RUN_DIRECTORIES)
    script = (
        f"find {volatile} -xdev -mindepth 1 -delete && mkdir -p {directories} "
        "&& chmod 1777 /run/lock"
    )
    lab.exec(host, ["sh", "-c", script], check=True)


def plan(records: list[dict], macs: dict[str, str], state: dict, busy) -> tuple[list, list]:
    """What the driver does next, from the deployment records, ``{mac: lab host}``, the
    hosts' last state (``{host: deployment id booted}``) and the hosts being booted now:
    ``([(host, record) to boot], [hosts to power off])``. A host is booted once per
    deployment, when MAAS reports it Deployed; a host whose booted deployment is gone (the
    machine released or deleted, or deploying anew) is powered off."""
    to_boot = []
    for record in records:
        host = next((macs[m] for m in record.get("mac_addresses", []) if m in macs), None)
        if host is None or host in busy or record.get("status") != "Deployed":
            continue
        if state.get(host) != deployment_id(record):
            to_boot.append((host, record))
    current = {deployment_id(record) for record in records if "deployment" in record}
    unread = {record["system_id"] for record in records if "deployment" not in record}
    to_power_off = sorted(
        host
        for host, booted in state.items()
        if host not in busy and booted not in current and booted.split("-", 1)[0] not in unread
    )
    return to_boot, to_power_off


def _wait_for_lab(lab: Lab, timeout: float = 120.0) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            hosts = bare_metal_hosts(lab)
            lab.host_pid(hosts[0].name)
            if (lab.info() or {}).get("state") in ("network", "up"):
                return hosts
        except (LabError, IndexError):
            pass
        time.sleep(POLL_SECONDS)
    raise LabError(f"no lab with bare-metal hosts came up in {lab.state_dir}")


def run(state_dir: str) -> int:
    """The power driver's loop (until the lab, and with it this process, goes down)."""
    lab = Lab(state_dir)
    hosts = _wait_for_lab(lab)
    _log(f"watching MAAS deployments for {', '.join(h.name for h in hosts)}")
    macs: dict[str, str] = {}
    booting: dict[str, concurrent.futures.Future] = {}
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=4)
    while True:
        try:
            for host in hosts:
                if host.name not in macs.values():
                    try:
                        macs[mac_address(lab, host.name)] = host.name
                    except LabError:
                        pass  # not wired yet
            state = _read_state(lab)
            records = deployments(lab)
            if records is None:  # nothing deployed yet
                time.sleep(POLL_SECONDS)
                continue
            to_boot, to_power_off = plan(records, macs, state, booting)
            for host, record in to_boot:
                _log(f"{record['hostname']} ({record['system_id']}) Deployed: booting {host}")
                booting[host] = pool.submit(boot, lab, host, record)
                booting[host].deployment = deployment_id(record)
            for host in to_power_off:
                _log(f"{host}: its deployment ended (released): powering it off")
                power_off(lab, host)
                del state[host]
                _write_state(lab, state)
            for host, future in list(booting.items()):
                if future.done():
                    del booting[host]
                    error = future.exception()
                    state[host] = future.deployment
                    _write_state(lab, state)
                    _log(f"{host}: {'booted' if error is None else f'boot failed: {error}'}")
        except LabError as exc:
            _log(f"waiting: {exc}")
        time.sleep(POLL_SECONDS)


if __name__ == "__main__":
    sys.exit(run(sys.argv[1]))
