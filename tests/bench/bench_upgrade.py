"""Benchmark of a rolling upgrade: 3 control planes + 5 workers on simulated hosts, each
``snap refresh`` taking 20 s (knob ``refresh_seconds``), workers in batches of 2.

The steps and their order are orch.upgrade's (microk8s_lib.upgrade.plan; per batch drain on
another control plane, ``microk8s.upgraded`` on the batch's nodes at once, ``wait_node``,
``uncordon``), run through the Salt loader of each simulated host (no salt daemons: the lab
test runs the orchestration itself). Figures: total time, and the most nodes unavailable at
once (cordoned or refreshing: from the drain to the uncordon).

Run with ``make bench`` or ``.venv/bin/python -m pytest tests/bench/bench_upgrade.py
-o python_files='bench_*.py' -s -p no:randomly``; figures go to docs/benchmarks.md.
"""

from __future__ import annotations

import json
import os
import time

import pytest

from microk8s_lib import upgrade
from tests.support.microk8s_sim import microk8s_sim  # noqa: F401  (the fixture)
from tests.support.paths import EXT_DIRS
from tests.support.simminion import loaders_for

REFRESH_SECONDS = 20
# Not 127.0.2.x (free_address): a host's agent is down for the whole refresh, and another
# test run picking "free" 127.0.2.x addresses meanwhile would take its port.
ADDRESSES = [f"127.0.4.{n}" for n in range(11, 19)]
BATCH_SIZE = 2
TARGET = "1.33/stable"


@pytest.fixture(scope="module")
def minion_opts(salt_factories, tmp_path_factory):
    overrides = {
        "file_client": "local",
        **EXT_DIRS,
        "pillar_roots": {"base": [str(tmp_path_factory.mktemp("empty-pillar"))]},
    }
    return salt_factories.salt_minion_daemon("bench-upgrade", overrides=overrides).config.copy()


def _join(cp, node, worker):
    added = json.loads(cp.run(["microk8s", "add-node", "--format", "json"]).stdout)
    argv = ["microk8s", "join", added["urls"][0], *(["--worker"] if worker else [])]
    joined = node.run(argv, timeout=120)
    assert joined.returncode == 0, joined.stdout + joined.stderr


@pytest.mark.timeout(2400)
def test_rolling_upgrade_3_control_planes_5_workers(minion_opts, microk8s_sim):  # noqa: F811
    cps = [microk8s_sim(address, install="1.32/stable") for address in ADDRESSES[:3]]
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
    control_planes = [names[id(n)] for n in cps]
    windows = {}
    started = time.monotonic()
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
    for minion, (begin, end) in windows.items():
        print(f"| {minion} | {begin:.1f} s | {end:.1f} s | {end - begin:.1f} s |")
