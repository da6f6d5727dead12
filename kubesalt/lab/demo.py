"""``kubesalt lab demo`` (``make demo``): a MicroK8s cluster converged by Salt in the lab.

Brings up salt, bastion, one control plane and two workers, applies whatever the state
tree provides (the orchestration ``orch.cluster`` when it exists, else a highstate), prints
``salt-call microk8s.status`` from the control plane and a summary, and leaves the lab up.
"""

from __future__ import annotations

import json
import time

from kubesalt.lab import power
from kubesalt.lab.lab import Lab
from kubesalt.lab.lab import LabError
from kubesalt.lab.lab import repo_root
from kubesalt.lab.minions import silent

SYNC_TIMEOUT = 300.0
APPLY_TIMEOUT = 1200.0
# wait_bootstrap: seconds between two `salt-run cluster_bootstrap.status` (each a Salt process
# on the master host, ~1.2 s of CPU, and a ping), and how long the minions get to answer
# once it says done.
STATUS_INTERVAL = 5.0
MINION_TIMEOUT = 120.0


def _json(text: str) -> dict:
    try:
        return json.loads(text or "{}")
    except ValueError:
        return {}


def _failed_states(returns: dict, indent: str = "") -> list[str]:
    """``minion: state comment`` for every failed state in a highstate/orchestrate return;
    under a failed orchestration step, indented, the failed states of the minions it ran on
    or of the orchestration it ran (a step's own comment only says "Run failed on minions:
    ..." or "Runner function 'state.orchestrate' failed.")."""
    failures = []
    for minion, states in returns.items():
        if isinstance(states, list):  # rendering errors come back as a list of strings
            failures += [f"{indent}{minion}: {line}" for line in states]
            continue
        if not isinstance(states, dict):
            failures.append(f"{indent}{minion}: {states}")
            continue
        for state_id, result in states.items():
            if isinstance(result, dict) and result.get("result") is False:
                comment = str(result.get("comment", "")).strip().splitlines()
                failures.append(f"{indent}{minion}: {state_id}: {comment[0] if comment else ''}")
                changes = result.get("changes") or {}
                ran = changes.get("ret")  # salt.state / salt.function: the minions' returns
                if not isinstance(ran, dict):  # salt.runner state.orchestrate: its steps
                    ran = (changes.get("return") or {}).get("data")
                if isinstance(ran, dict):
                    failures += _failed_states(ran, indent + "  ")
    return failures


def _master_pid(lab: Lab) -> str:
    return lab.exec("salt", ["cat", "/run/salt-master.pid"]).stdout.strip()


def _orchestrate(lab: Lab):
    return lab.exec(
        "salt",
        ["salt-run", "--out=json", "state.orchestrate", "orch.cluster"],
        timeout=APPLY_TIMEOUT,
    )


def wait_bootstrap(lab: Lab, report) -> list[str]:  # also kubesalt.cloud.demo.CloudHosts
    """Wait (bounded) for the master's own bootstrap (reactor: sync + orch.cluster) to finish;
    return the failed steps it reports. While a master restart is pending (the salt_master
    state changed the master's configuration), and until the minions are back on the
    restarted master's publisher, no Salt client runs (see :func:`_wait_master_restart`): one
    on the master host holds the restart back (the master is not idle while it runs), and a
    ping published before the minions are back is lost."""
    deadline = time.monotonic() + APPLY_TIMEOUT
    seen = None
    while time.monotonic() < deadline:
        if _master_state(lab)[0]:
            report("bootstrap: the master restarts once it is idle (salt_master): waiting")
            seen = None
            _wait_master_restart(lab, timeout=max(1.0, deadline - time.monotonic()))
            continue
        run = lab.exec("salt", ["salt-run", "--out=json", "cluster_bootstrap.status"])
        status = _json(run.stdout)
        if not isinstance(status, dict):  # the runner failed this time (e.g. master restart)
            time.sleep(STATUS_INTERVAL)
            continue
        last = status.get("last_run") or {}
        missing = list(status.get("missing") or ())
        if status.get("done") and missing:
            # Its ping ran while the master restarted, or before the minions reconnected:
            # only the ones still silent after a bounded wait are missing.
            missing = silent(lab, missing, timeout=MINION_TIMEOUT)
        state = (status.get("done"), last.get("result"), tuple(missing))
        if state != seen:
            seen = state
            report(f"bootstrap: {last.get('result') or 'not started'}; missing: {missing}")
        if status.get("done"):
            return []
        if last.get("result") == "failed":
            return [str(step) for step in last.get("failed") or ["the orchestration failed"]]
        time.sleep(STATUS_INTERVAL)
    return [f"the master's bootstrap did not finish within {APPLY_TIMEOUT:.0f} s"]


def run(
    lab: Lab,
    workers: int = 2,
    domain: str | None = None,
    boot: str = "salt",
    maas: bool = False,
    *,
    bare_metal: int = 0,
) -> int:
    started = time.monotonic()

    def report(message: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {message}", flush=True)

    if lab.is_up():
        report(f"a lab is already up in {lab.state_dir}: tearing it down first")
        lab.down()
    kwargs = {"domain": domain} if domain else {}
    info = lab.up(
        workers=workers,
        control_planes=1,
        progress=report,
        boot=boot,
        maas=maas,
        bare_metal=bare_metal,
        **kwargs,
    )
    minions = [h["fqdn"] for h in info["hosts"] if h["runs_salt"]]
    control_plane = next(h for h in info["hosts"] if "microk8s_control_plane" in h["roles"])
    if boot == "cloud-init":
        report("the master syncs and orchestrates by itself once every minion answers: waiting")
        failures = wait_bootstrap(lab, report)
        if failures:
            print("\n".join(failures[:30]))
            report("the bootstrap reported failures; the lab stays up")
        elif maas:
            failures += _maas(lab, minions, report)
        names = _bare_metal(lab, report, failures) if bare_metal and not failures else {}
        return summary(lab, info, control_plane, failures, report, names=names)

    report("syncing modules, states and utils to every minion (saltutil.sync_all)")
    # --timeout: under load the default 5 s gather gives up on busy minions.
    sync = lab.salt(
        ["--out=json", "--static", f"--timeout={SYNC_TIMEOUT - 60:.0f}", "*", "saltutil.sync_all"],
        timeout=SYNC_TIMEOUT,
    )
    missing = sorted(set(minions) - set(_json(sync.stdout)))
    if sync.returncode != 0 or missing:
        raise LabError(f"saltutil.sync_all failed ({', '.join(missing)}): {sync.stderr.strip()}")

    states_dir = repo_root() / "salt" / "states"
    if (states_dir / "orch" / "cluster.sls").exists():
        report("rolling the cluster out: salt-run state.orchestrate orch.cluster")
        master_pid = _master_pid(lab)
        apply = _orchestrate(lab)
        if apply.returncode != 0 and _master_pid(lab) != master_pid:
            # The salt_master state changed the master's config and restarted the master
            # under the running orchestration: wait for it, then run again (idempotent).
            report("the salt master restarted itself during the roll-out: running it again")
            lab.wait_for_minions(minions)
            apply = _orchestrate(lab)
        failures = _failed_states(_json(apply.stdout).get("data", {}))
    elif (states_dir / "top.sls").exists():
        report("no orch/cluster.sls yet: applying a highstate to every minion")
        apply = lab.salt(
            ["--out=json", "--static", "--state-output=terse", "*", "state.highstate"],
            timeout=APPLY_TIMEOUT,
        )
        failures = _failed_states(_json(apply.stdout))
    else:
        report("the state tree has no top.sls yet: nothing to apply")
        apply, failures = None, []
    if apply is not None and (apply.returncode != 0 or failures):
        print("\n".join(failures[:30]) or (apply.stdout + apply.stderr)[-3000:])
        report(f"the roll-out reported {len(failures) or 'a'} failure(s); the lab stays up")
    if maas:
        failures += _maas(lab, minions, report)
    names = _bare_metal(lab, report, failures) if bare_metal and not failures else {}
    return summary(lab, info, control_plane, failures, report, names=names)


def _maas(lab: Lab, minions: list[str], report) -> list[str]:
    """``orch.maas`` after the cluster: database, region, racks, images, the API key as a
    Kubernetes secret on the control plane; prints the racks the region lists."""
    # At once, as docs/maas.md says: a master restart orch.cluster left pending (a changed
    # master configuration) waits until the master is idle, i.e. after orch.maas too.
    lab.wait_for_minions(minions)
    report("MAAS: salt-run state.orchestrate orch.maas (database, region, racks, images)")
    apply = lab.exec(
        "salt",
        ["salt-run", "--out=json", "state.orchestrate", "orch.maas"],
        timeout=APPLY_TIMEOUT,
    )
    failures = _failed_states(_json(apply.stdout).get("data", {}))
    if apply.returncode != 0 or failures:
        print("\n".join(failures[:30]) or (apply.stdout + apply.stderr)[-3000:])
        report(f"orch.maas reported {len(failures) or 'a'} failure(s); the lab stays up")
        return failures or ["orch.maas failed"]
    region = next(h for h in lab.hosts() if "maas_region" in h.roles)
    racks = lab.exec(region.name, ["salt-call", "--out=json", "maas.rack_controllers"], timeout=120)
    listed = _json(racks.stdout).get("local")
    if isinstance(listed, list):
        names = ", ".join(sorted(str(rack.get("hostname")) for rack in listed))
        report(f"MAAS: the region lists the racks {names}")
    return []


def baremetal_pillar(lab: Lab, machines: dict[str, dict]) -> dict:
    """The orchestration pillar of ``orch.baremetal`` for the lab's bare-metal hosts:
    minion id = the lab host's FQDN, machine = the hostname MAAS gave it."""
    hosts = {h.name: h for h in lab.hosts()}
    return {
        "kubesalt": {
            "baremetal": {
                "machines": {
                    hosts[name].fqdn: {
                        "machine": machine["hostname"],
                        "private_ip": hosts[name].private_ip,
                    }
                    for name, machine in sorted(machines.items())
                },
                # The lab writes every host's resolv.conf (its own resolver).
                "cloudinit": {"manage_resolv_conf": False},
            }
        }
    }


def orchestrate_baremetal(lab: Lab, machines: dict[str, dict]):
    """``salt-run state.orchestrate orch.baremetal`` on the lab's master."""
    pillar = json.dumps(baremetal_pillar(lab, machines))
    return lab.exec(
        "salt",
        ["salt-run", "--out=json", "state.orchestrate", "orch.baremetal", f"pillar={pillar}"],
        timeout=APPLY_TIMEOUT,
    )


# The salt_master state restarts a master whose configuration changed once it is idle (a
# one-shot job in the master host's minion schedule): a command in between finds no master.
MASTER_SCHEDULE = "/etc/salt/minion.d/_schedule.conf"
RESTART_JOB = "kubesalt-master-restart"


# Read in the master host with no Salt client: whether the restart is pending, the master's
# pid, the connections on its publisher (one a subscribed minion; `ss` missing: 0).
RECONNECT_TIMEOUT = 30.0
MASTER_STATE_SCRIPT = (
    f"grep -q {RESTART_JOB} {MASTER_SCHEDULE} 2>/dev/null && echo pending || echo none; "
    'echo "$(cat /run/salt-master.pid 2>/dev/null)"; '
    "ss -Htn state established '( sport = :4505 )' 2>/dev/null | wc -l"
)


def master_state(output: str) -> tuple[bool, str, int]:
    """``(restart pending, master pid, minions on the publisher)`` from the output of
    ``MASTER_STATE_SCRIPT``; a line it cannot read counts as no pid, no minion."""
    lines = [line.strip() for line in output.splitlines()] + ["", "", ""]
    subscribers = int(lines[2]) if lines[2].isdigit() else 0
    return lines[0] == "pending", lines[1], subscribers


def _master_state(lab: Lab) -> tuple[bool, str, int]:
    return master_state(lab.exec("salt", ["sh", "-c", MASTER_STATE_SCRIPT]).stdout)


def _wait_master_restart(lab: Lab, timeout: float = 240.0) -> None:
    """Wait (bounded) until no master restart is pending; when one was, until the master
    runs again (another pid) with as many minions on its publisher as before. A ping
    published before the minions are back is lost, and its client waits its whole timeout
    (28-34 s for `salt-run cluster_bootstrap.status`)."""
    deadline = time.monotonic() + timeout
    before = None  # (pid, subscribers) while the restart was pending
    restarted = False
    while time.monotonic() < deadline:
        pending, pid, subscribers = _master_state(lab)
        if pending:
            before = (pid, subscribers)
        elif before is None:
            return
        elif pid and pid != before[0]:
            if subscribers >= before[1]:
                return
            if not restarted:
                # The minions get RECONNECT_TIMEOUT to come back (a count taken during a
                # reconnection may be too high), then the caller's own wait for them.
                restarted = True
                deadline = min(deadline, time.monotonic() + RECONNECT_TIMEOUT)
        time.sleep(0.5)


def _bare_metal(lab: Lab, report, failures: list) -> dict[str, str]:
    """MAAS enlists and deploys the bare-metal hosts, which join as workers
    (``orch.baremetal``); then a plain highstate, whose changes are reported. Returns
    ``{lab host: Kubernetes node name}`` (MAAS's hostname)."""
    # The master restart orch.cluster left pending happens once the master is idle: let it
    # happen now and the minions reconnect. Under orch.baremetal, a minion still
    # reconnecting misses the step's pillar refresh (salt.function does not wait for it):
    # the control plane then published its join address without the new workers allowed
    # to read it, and they failed to join ("not in the mine yet"; 3/5 Ready).
    _wait_master_restart(lab)
    lab.wait_for_minions([h.minion_id for h in lab.hosts() if h.runs_salt])
    machines = power.enlist(lab, report)
    names = {host: machine["hostname"] for host, machine in machines.items()}
    listed = ", ".join(
        f"{host} is {machine['hostname']} ({machine['status']})"
        for host, machine in sorted(machines.items())
    )
    report(f"MAAS: {listed}")
    report("bare metal: salt-run state.orchestrate orch.baremetal (MAAS deploys, they join)")
    apply = orchestrate_baremetal(lab, machines)
    found = _failed_states(_json(apply.stdout).get("data", {}))
    if apply.returncode != 0 or found:
        print("\n".join(found[:30]) or (apply.stdout + apply.stderr)[-3000:])
        report(f"orch.baremetal reported {len(found) or 'a'} failure(s); the lab stays up")
        failures += found or ["orch.baremetal failed"]
        return names
    _wait_master_restart(lab)
    minions = [h.minion_id for h in lab.hosts() if h.runs_salt or h.bare_metal]
    lab.wait_for_minions(minions, timeout=SYNC_TIMEOUT)
    report("a plain salt '*' state.highstate after it:")
    highstate = lab.salt(
        ["--out=json", "--static", f"--timeout={APPLY_TIMEOUT - 60:.0f}", "*", "state.highstate"],
        timeout=APPLY_TIMEOUT,
    )
    returns = _json(highstate.stdout)
    failures += [f"{m}: no highstate return" for m in minions if m not in returns]
    changed = sorted(
        f"{minion}: {result.get('__id__', state_id)}"
        for minion, states in returns.items()
        if isinstance(states, dict)
        for state_id, result in states.items()
        if isinstance(result, dict) and result.get("changes")
    )
    failed = _failed_states(returns)
    report(f"the highstate changed {len(changed)} state(s), {len(failed)} failed")
    print("\n".join(changed[:30] + failed[:30]))
    failures += failed
    return names


def summary(
    lab: Lab,
    info: dict,
    control_plane: dict,
    failures: list,
    report,
    *,
    names: dict[str, str] | None = None,
) -> int:
    """Print ``salt-call microk8s.status`` from the control plane and the nodes table."""
    # --local: the modules the master synced are in the minion's cache; the call does not
    # wait on the master, which restarts itself at the end of the orchestration.
    report(f"salt-call --local microk8s.status on {control_plane['name']}:")
    status = lab.exec(
        control_plane["name"], ["salt-call", "--local", "microk8s.status"], timeout=120
    )
    print(status.stdout.rstrip() or status.stderr.rstrip())

    nodes_run = lab.exec(
        control_plane["name"],
        ["salt-call", "--local", "--out=json", "microk8s.nodes"],
        timeout=120,
    )
    nodes = _json(nodes_run.stdout).get("local")
    ready = {}
    if isinstance(nodes, list):
        ready = {node.get("name"): node.get("ready") for node in nodes}
    print()
    print(f"{'NODE':<34} {'ROLES':<24} {'PRIVATE IP':<12} READY")
    names = names or {}
    hosts = [h for h in info["hosts"] if h["runs_salt"] or h["name"] in names]
    for host in hosts:
        k8s = host["name"] in names or any(r.startswith("microk8s") for r in host["roles"])
        node_name = names.get(host["name"], host["name"])
        state = ("yes" if ready.get(node_name) else "no") if k8s else "-"
        print(f"{host['fqdn']:<34} {','.join(host['roles']):<24} {host['private_ip']:<12} {state}")
    k8s_hosts = [h for h in info["hosts"] if any(r.startswith("microk8s") for r in h["roles"])]
    k8s_hosts += [h for h in info["hosts"] if h["name"] in names]
    all_ready = all(ready.get(names.get(h["name"], h["name"])) for h in k8s_hosts)
    report(
        f"done: {sum(1 for v in ready.values() if v)}/{len(k8s_hosts)} Kubernetes nodes Ready"
        f" ({'cluster ready' if all_ready else 'cluster NOT ready'})"
    )
    if not hasattr(lab, "status"):  # the lab cloud's hosts: kubesalt.cloud.demo says more
        return 0 if all_ready and not failures else 1
    print(
        "\nThe lab stays up. Explore it:\n"
        "  .venv/bin/kubesalt lab status\n"
        "  .venv/bin/kubesalt lab exec k8s-master -- microk8s status\n"
        "  .venv/bin/kubesalt lab salt -- '*' test.ping\n"
        "Tear it down:\n"
        "  .venv/bin/kubesalt lab down"
    )
    return 0 if all_ready and not failures else 1
