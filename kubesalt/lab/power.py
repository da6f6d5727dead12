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

Not modelled: powering a host off on release (the host keeps running what it booted), PXE,
curtin, the machine reporting its progress to MAAS (the simulator's timer decides Deployed).
"""

from __future__ import annotations

import concurrent.futures
import json
import pathlib
import sys
import time

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


def deployments(lab: Lab) -> list[dict]:
    """The simulator's deployment records, read through the region host's root."""
    region = region_host(lab)
    folder = pathlib.Path(f"/proc/{lab.host_pid(region.name)}/root") / DEPLOYMENTS
    records = []
    for path in sorted(folder.glob("*.json")):
        try:
            records.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue  # being written or removed
    return records


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
            for record in deployments(lab):
                if record.get("status") != "Deployed":
                    continue
                host = next((macs[m] for m in record["mac_addresses"] if m in macs), None)
                deployment = f"{record['system_id']}-{record.get('deployment', '')}"
                if host is None or state.get(host) == deployment or host in booting:
                    continue
                _log(f"{record['hostname']} ({record['system_id']}) Deployed: booting {host}")
                booting[host] = pool.submit(boot, lab, host, record)
                booting[host].deployment = deployment
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
