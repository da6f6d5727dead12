"""Salt in a lab (tests/lab and the lab benchmarks): run ``salt``/``salt-run`` on the lab's
master host and read what it returns, the inventory the lab's Terraform stand-in wrote, and
waits for a master that restarts itself after a run changed its configuration."""

from __future__ import annotations

import json
import time
import types

import yaml

from kubesalt.lab import saltconf
from kubesalt.lab.lab import LabError
from tests.support.waiting import wait_until

DOMAIN = "lab.kubesalt.test"
MASTER = f"k8s-master.{DOMAIN}"
WORKERS = [f"k8s-worker-0.{DOMAIN}", f"k8s-worker-1.{DOMAIN}"]
# The minions of the shared cluster lab (salt, bastion, one control plane, two workers).
MINIONS = sorted(
    f"{name}.{DOMAIN}" for name in ("salt", "bastion", "k8s-master", "k8s-worker-0", "k8s-worker-1")
)
INVENTORY = f"{saltconf.LAB_PILLAR_DIR}/_from_terraform.sls"
SALT_TIMEOUT = 600
# Where the master's own minion persists its schedule (schedule.add persist=True).
SCHEDULE_FILE = "/etc/salt/minion.d/_schedule.conf"


def salt_json(lab, argv, timeout=SALT_TIMEOUT):
    """Run ``salt`` / ``salt-run`` on the master host; return its JSON document."""
    run = lab.exec("salt", argv, timeout=timeout)
    text = run.stdout
    start = text.find("{")
    assert start >= 0, f"{' '.join(argv)}: no JSON (exit {run.returncode}): {run.stderr[-2000:]}"
    return json.loads(text[start:])


def orchestrate(lab):
    """``salt-run state.orchestrate orch.cluster``: {step id: step result}."""
    started = time.monotonic()
    doc = salt_json(lab, ["salt-run", "--out=json", "state.orchestrate", "orch.cluster"])
    (steps,) = doc["data"].values()
    assert isinstance(steps, dict), steps
    result = types.SimpleNamespace(
        steps={step["__id__"]: step for step in steps.values()},
        seconds=time.monotonic() - started,
    )
    wait_for_master_restart(lab)
    return result


def wait_for_master_restart(lab, timeout=240.0):
    """A changed master configuration restarts salt-master once it is idle (the one-shot
    schedule job kubesalt-master-restart): wait until that job is gone, then for the master.

    Looks at the schedule file, not through Salt: a Salt client on the master host would
    keep the master busy."""
    deadline = time.monotonic() + timeout

    def restart_done():
        scheduled = lab.exec("salt", ["sh", "-c", f"cat {SCHEDULE_FILE} 2>/dev/null; true"])
        return "kubesalt-master-restart" not in scheduled.stdout

    wait_until(restart_done, timeout, "the master's pending restart", interval=1.0)
    wait_for_master(lab, timeout=max(30.0, deadline - time.monotonic()))


def wait_for_master(lab, after=0.0, timeout=60.0):
    """Wait (bounded) until the master and every minion answer after a master restart."""
    time.sleep(after)
    problem = []

    def answered():
        try:
            ping = lab.exec(
                "salt", ["salt", "--out=json", "--static", "*", "test.ping"], timeout=60
            )
        except LabError as err:  # a loaded machine: the ping itself took too long
            problem[:] = [str(err)]
            return False
        problem[:] = [ping.stderr[-500:]]
        return ping.returncode == 0

    wait_until(answered, timeout, lambda: f"salt-master to come back: {problem}", interval=1.0)


def wait_for_the_master(lab):
    """The master restarts itself once idle after a run that changed its configuration:
    wait for that, then for every minion."""
    wait_for_master_restart(lab)
    lab.wait_for_minions([h.minion_id for h in lab.hosts() if h.runs_salt], timeout=120.0)


def changed_states(run):
    """``{minion: [state ids that reported changes]}`` of a highstate return."""
    return {
        minion: sorted(s["__id__"] for s in states.values() if s.get("changes"))
        for minion, states in run.items()
    }


def failed_states(run):
    return {
        minion: sorted(
            f"{s['__id__']}: {s.get('comment')}" for s in states.values() if s["result"] is False
        )
        for minion, states in run.items()
        if not isinstance(states, dict) or any(s["result"] is False for s in states.values())
    }


def inventory(lab):
    return yaml.safe_load(lab.exec("salt", ["cat", INVENTORY], check=True).stdout)


def write_inventory(lab, data):
    text = yaml.safe_dump(data, default_flow_style=False)
    lab.exec("salt", ["sh", "-c", f"cat > {INVENTORY}"], input=text, check=True)


def cluster_nodes(lab, attempts=5):
    """The Kubernetes nodes as the bootstrap control plane lists them (``microk8s.nodes``)."""
    for attempt in range(attempts):
        doc = salt_json(lab, ["salt", "--out=json", "--static", MASTER, "microk8s.nodes"], 120)
        if isinstance(doc.get(MASTER), list):
            return {node["name"]: node for node in doc[MASTER]}
        # A minion reconnecting (after the master's restart) answers with a message.
        time.sleep(2 * (attempt + 1))
    raise AssertionError(f"microk8s.nodes on {MASTER}: {doc.get(MASTER)!r}")


# What Salt's official Debian packages give a master (saltstack/salt pkg/debian:
# salt-master.postinst, salt-master.dirs; the daemon's own verify_env at start).
MASTER_OWNED_BY_SALT = (
    "/etc/salt/master.d",
    "/var/cache/salt/master",
    "/var/cache/salt/master/jobs",
    "/var/log/salt/master",
    "/var/log/salt/key",
    "/run/salt/master",
)


def assert_master_runs_as_salt(lab, pki_dir: str = "/etc/salt/pki/master") -> None:
    """Every salt-master process of the lab's master runs as ``salt`` and the master's
    directories, keys and logs are ``salt``'s, as the packages leave them."""
    ps = lab.exec("salt", ["ps", "-eo", "user:16,args"], check=True).stdout.splitlines()
    masters = [line.split(None, 1) for line in ps if "salt-master" in line and "ps -eo" not in line]
    assert len(masters) >= 2, ps  # the main process and its workers
    assert {user for user, _args in masters} == {"salt"}, masters
    paths = [*MASTER_OWNED_BY_SALT, pki_dir, f"{pki_dir}/master.pem", f"{pki_dir}/minions"]
    # -L: Salt 3008 leaves master.pem as a (root's) symlink to <master id>.pem.
    # (The key pair itself is the daemon's: it writes it salt:root.)
    stat = lab.exec("salt", ["stat", "-L", "-c", "%n %U %a", *paths], check=True).stdout
    owners = {line.split()[0]: line.split()[1:] for line in stat.splitlines()}
    assert {path: owner for path, (owner, _mode) in owners.items()} == dict.fromkeys(paths, "salt")
    assert owners[f"{pki_dir}/master.pem"][1] == "400"
    assert owners["/var/log/salt/master"][1] == "640"
    passwd = lab.exec("salt", ["getent", "passwd", "salt"], check=True).stdout.strip()
    assert passwd.split(":")[6] == "/usr/sbin/nologin"  # a system user without a login
