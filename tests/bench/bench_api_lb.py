"""Benchmark of the API load balancer's failover in the lab cloud (issue 12 item 2).

The root module with three control planes, wired as in tests/lab/test_labcloud_loadbalancer.py
(the lab's amphora, kubesalt.cloud.lbproxy, in front of a listener on each control plane's
port). The operator opens a TCP connection to the API floating IP every 0.1 s for 40 s; the
first control plane stops after 3 s and starts again after 20 s. Figures: probes and failed
probes (target 0), seconds until the health monitor marked the stopped control plane ERROR and
until it was ONLINE again after its restart, probes that reached each control plane.

Run with ``make bench`` or ``.venv/bin/python -m pytest tests/bench/bench_api_lb.py
-o python_files='bench_*.py' -s -p no:randomly``; figures go to docs/benchmarks.md.
"""

from __future__ import annotations

import collections
import json
import subprocess
import time

import pytest

from tests.support.api_lb import NAMED
from tests.support.api_lb import api_lb  # noqa: F401  (the fixture)

DURATION, STOP_AT, RESTART_AT = 40.0, 3.0, 23.0
LOOP = (
    "import socket, sys, time\n"
    "end = time.monotonic() + float(sys.argv[2])\n"
    "while time.monotonic() < end:\n"
    "    try:\n"
    "        s = socket.create_connection((sys.argv[1], 16443), timeout=5)\n"
    "        print(s.recv(64).decode() or 'empty', flush=True); s.close()\n"
    "    except OSError as exc:\n"
    "        print('failed', exc, flush=True)\n"
    "    time.sleep(0.1)\n"
)


def _state(api_lb) -> str | None:  # noqa: F811
    return json.loads(api_lb["status"].read_text())["members"].get("10.1.0.10:16443")


@pytest.mark.timeout(900)
def test_api_through_the_load_balancer_while_a_control_plane_stops(api_lb):  # noqa: F811
    lab, members = api_lb["lab"], api_lb["members"]
    probe = lab.fabric.spawn(
        "operator",
        ["python3", "-c", LOOP, api_lb["fip"], str(DURATION)],
        stdout=subprocess.PIPE,
        text=True,
    )
    started = time.monotonic()
    marks = {}
    time.sleep(STOP_AT)
    members["k8s-master"].kill()
    members["k8s-master"].wait(timeout=10)
    stopped = time.monotonic()
    while _state(api_lb) != "ERROR" and time.monotonic() - started < DURATION:
        time.sleep(0.1)
    marks["down"] = time.monotonic() - stopped
    time.sleep(max(0.0, RESTART_AT - (time.monotonic() - started)))
    members["k8s-master"] = lab.fabric.spawn("k8s-master", ["python3", "-c", NAMED, "k8s-master"])
    restarted = time.monotonic()
    while _state(api_lb) != "ONLINE" and time.monotonic() - started < DURATION:
        time.sleep(0.1)
    marks["up"] = time.monotonic() - restarted
    output, _ = probe.communicate(timeout=120)
    lines = output.splitlines()
    answers = collections.Counter(line.split()[0] for line in lines)
    with open("/proc/loadavg", encoding="utf-8") as handle:
        load = handle.read().split()[:3]
    print(
        f"\nAPI through the load balancer, {DURATION:.0f} s, first control plane stopped "
        f"{STOP_AT:.0f}-{RESTART_AT:.0f} s: {len(lines)} probes, {answers['failed']} failed; "
        f"marked ERROR {marks['down']:.1f} s after the stop, ONLINE {marks['up']:.1f} s after "
        f"the restart; per control plane {dict(sorted(answers.items()))}; load {' '.join(load)}"
    )
    assert answers["failed"] == 0, [line for line in lines if line.startswith("failed")][:5]
