"""Benchmark of a rolling upgrade: 3 control planes + 5 workers on simulated hosts, each
``snap refresh`` taking 20 s (knob ``refresh_seconds``), workers in batches of 2.

The steps and their order are orch.upgrade's (microk8s_lib.upgrade.plan; per batch drain on
another control plane, ``microk8s.upgraded`` on the batch's nodes at once, ``wait_node``,
``uncordon``), run through the Salt loader of each simulated host (no salt daemons: the lab
test runs the orchestration itself). Figures: total time, and the most nodes unavailable at
once (cordoned or refreshing: from the drain to the uncordon).

The API through a load balancer meanwhile: the lab cloud's amphora (kubesalt.cloud.lbproxy,
the same code, with the root module's listener and TCP health monitor: every 5 s, 3 s
timeout, 2 checks down/up) on VIP:16443 in front of the three control planes' simulated
kube-apiservers (the VIP an extra SAN of their certificates, from a launch configuration).
A probe process lists the nodes every 0.5 s with the ``kubernetes`` Python client, a new
client (connection) each time, with the kubeconfig ``microk8s.write_kubeconfig`` writes
pointed at the VIP. Figure: probes and failed probes (target 0). The bench runs on loopback
addresses in the host's namespace, not in a lab: the balancer is the lab's code, not its
namespaces.

Run with ``make bench`` or ``.venv/bin/python -m pytest tests/bench/bench_upgrade.py
-o python_files='bench_*.py' -s -p no:randomly``; figures go to docs/benchmarks.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from microk8s_lib import upgrade
from tests.support.microk8s_sim import microk8s_sim  # noqa: F401  (the fixture)
from tests.support.simminion import loaders_for
from tests.support.simminion import local_minion_opts

REFRESH_SECONDS = 20
# Not 127.0.2.x (free_address): a host's agent is down for the whole refresh, and another
# test run picking "free" 127.0.2.x addresses meanwhile would take its port.
ADDRESSES = [f"127.0.4.{n}" for n in range(11, 19)]
BATCH_SIZE = 2
TARGET = "1.33/stable"
VIP = "127.0.4.30"
MONITOR = {"type": "TCP", "delay": 5, "timeout": 3, "max_retries": 2, "max_retries_down": 2}
PROBE = (
    "import json, sys, time\n"
    "from kubernetes import client, config\n"
    "while True:\n"
    "    started = time.monotonic()\n"
    "    try:\n"
    "        with config.new_client_from_config(config_file=sys.argv[1]) as api:\n"
    "            items = client.CoreV1Api(api).list_node(_request_timeout=10).items\n"
    "        line = {'ok': len(items)}\n"
    "    except Exception as exc:\n"
    "        line = {'error': repr(exc)[:300]}\n"
    "    print(json.dumps({'t': time.time(), **line}), flush=True)\n"
    "    time.sleep(max(0.0, 0.5 - (time.monotonic() - started)))\n"
)


@pytest.fixture(scope="module")
def minion_opts(salt_factories, tmp_path_factory):
    return local_minion_opts(salt_factories, tmp_path_factory, "bench-upgrade")


@pytest.fixture
def processes():
    """Processes the benchmark starts (the balancer, the probe): ended at teardown."""
    started = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def _control_plane(microk8s_sim, address):  # noqa: F811
    """A control plane whose certificate names the load balancer's VIP (a launch
    configuration's extraSANs; microk8s.base adds it with extra_san_present in a cluster)."""
    cp = microk8s_sim(address)
    (cp.root / "etc").mkdir(parents=True, exist_ok=True)
    (cp.root / "etc/microk8s.yaml").write_text(f"version: 0.1.0\nextraSANs: [{VIP}]\n")
    cp.install("1.32/stable")
    return cp


def _join(cp, node, worker):
    added = json.loads(cp.run(["microk8s", "add-node", "--format", "json"]).stdout)
    argv = ["microk8s", "join", added["urls"][0], *(["--worker"] if worker else [])]
    joined = node.run(argv, timeout=120)
    assert joined.returncode == 0, joined.stdout + joined.stderr


@pytest.mark.timeout(2400)
def test_rolling_upgrade_3_control_planes_5_workers(minion_opts, microk8s_sim, tmp_path, processes):  # noqa: F811
    cps = [_control_plane(microk8s_sim, address) for address in ADDRESSES[:3]]
    workers = [microk8s_sim(address, install="1.32/stable") for address in ADDRESSES[3:]]
    for node in cps[1:] + workers:
        node.set_knobs(join_seconds=0)
        _join(cps[0], node, node in workers)
    names = {id(n): n.host.hostname for n in cps + workers}
    ids = {names[id(n)]: n for n in cps + workers}
    loaders = {name: loaders_for(minion_opts, node) for name, node in ids.items()}
    listed = {n["name"]: n for n in loaders[names[id(cps[0])]].modules.microk8s.nodes()}
    current = {name: {"channel": "1.32/stable", "node": name, **listed[name]} for name in ids}
    plan = upgrade.plan(
        current,
        [names[id(n)] for n in cps],
        [names[id(n)] for n in workers],
        TARGET,
        BATCH_SIZE,
    )
    for node in cps + workers:
        node.set_knobs(refresh_seconds=REFRESH_SECONDS)
    balancer, probe, probes_path = _probe_through_a_load_balancer(
        tmp_path, cps, loaders[names[id(cps[0])]]
    )
    processes += [balancer, probe]
    control_planes = [names[id(n)] for n in cps]
    windows = {}
    started = time.monotonic()
    wall_started = time.time()
    print(f"\n{len(ids)} nodes up and joined; upgrading", flush=True)
    for batch in plan["batches"]:
        batch_ids = [entry["id"] for entry in batch]
        for entry in batch:
            helper = loaders[upgrade.helper_for(entry["id"], control_planes)].modules.microk8s
            windows[entry["id"]] = [time.monotonic() - started, None]
            helper.drain(entry["node"], timeout=120)

        # The batch's nodes refresh at once, as the minions do under orch.upgrade: one
        # process per node (Salt's loaders are not safe to share between threads).
        children = {}
        for minion in batch_ids:
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child
                os.close(read_end)
                try:
                    ret = loaders[minion].states.microk8s.upgraded("microk8s", channel=TARGET)
                    text = json.dumps({"result": ret.result, "comment": ret.comment})
                except BaseException as exc:  # reported to the parent
                    text = json.dumps({"result": False, "comment": repr(exc)})
                os.write(write_end, text.encode())
                os._exit(0)
            os.close(write_end)
            children[minion] = (pid, read_end)
        results = {}
        for minion, (pid, read_end) in children.items():
            with os.fdopen(read_end, "rb") as pipe:
                results[minion] = json.loads(pipe.read() or b'{"result": false}')
            os.waitpid(pid, 0)
        assert all(r["result"] for r in results.values()), results
        for entry in batch:
            helper = loaders[upgrade.helper_for(entry["id"], control_planes)].modules.microk8s
            voters = plan["voters"] if entry["role"] == "control-plane" else None
            helper.wait_node(entry["node"], version=TARGET, voters=voters, timeout=300, interval=1)
            helper.uncordon(entry["node"])
            windows[entry["id"]][1] = time.monotonic() - started
            print(f"{entry['id']} back at {windows[entry['id']][1]:.1f} s", flush=True)
    total = time.monotonic() - started
    probe.terminate()
    probe.wait(timeout=30)
    balancer.terminate()
    balancer.wait(timeout=30)
    probes = [json.loads(line) for line in probes_path.read_text().splitlines() if line]
    upgrade_probes = [p for p in probes if p["t"] >= wall_started]
    failed = [p for p in upgrade_probes if "error" in p]
    edges = sorted([(w[0], 1) for w in windows.values()] + [(w[1], -1) for w in windows.values()])
    most, now = 0, 0
    for _, step in edges:
        now += step
        most = max(most, now)
    final = loaders[control_planes[0]].modules.microk8s.nodes()
    assert all(n["ready"] and not n["unschedulable"] for n in final)
    assert {n["version"] for n in final} == {"v1.33.4"}
    print(f"\nrolling upgrade 1.32 -> 1.33, 3 control planes + 5 workers, batch size {BATCH_SIZE},")
    print(f"{REFRESH_SECONDS} s simulated refresh: {total:.1f} s in total; most nodes")
    print(f"unavailable at once: {most}; batches: {len(plan['batches'])}")
    print(
        f"API through the load balancer ({VIP}:16443), list nodes every 0.5 s: "
        f"{len(upgrade_probes)} probes, {len(failed)} failed"
    )
    for probe_line in failed[:10]:
        print(f"  failed at {probe_line['t'] - wall_started:.1f} s: {probe_line['error']}")
    for minion, (begin, end) in windows.items():
        print(f"| {minion} | {begin:.1f} s | {end:.1f} s | {end - begin:.1f} s |")


def _probe_through_a_load_balancer(tmp_path, cps, loaders):
    """Start the amphora's proxy on VIP:16443 and the probe process; the probe's kubeconfig
    is the operator's (``microk8s.write_kubeconfig``, server the VIP)."""
    config = tmp_path / "lb.json"
    config.write_text(
        json.dumps(
            {
                "loadbalancer": "bench",
                "listeners": [
                    {
                        "address": VIP,
                        "port": 16443,
                        "allowed_cidrs": [],
                        "members": [[cp.address, 16443] for cp in cps],
                        "monitor": MONITOR,
                    }
                ],
            }
        )
    )
    status = tmp_path / "lb.status.json"
    balancer = subprocess.Popen(
        [sys.executable, "-m", "kubesalt.cloud.lbproxy", str(config), str(status)]
    )
    kubeconfig = tmp_path / "operator.kubeconfig"
    written = loaders.modules.microk8s.write_kubeconfig(str(kubeconfig), server=VIP)
    assert written["server"] == f"https://{VIP}:16443"
    probes_path = tmp_path / "probes.jsonl"
    with open(probes_path, "w", encoding="utf-8") as out:
        probe = subprocess.Popen(
            [sys.executable, "-c", PROBE, str(kubeconfig)], stdout=out, stderr=subprocess.DEVNULL
        )
    deadline = time.monotonic() + 120
    while '"ok"' not in probes_path.read_text():
        assert time.monotonic() < deadline and probe.poll() is None, probes_path.read_text()
        time.sleep(0.5)
    return balancer, probe, probes_path
