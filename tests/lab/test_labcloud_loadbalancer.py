"""The API load balancer of the root module as a real TCP load balancer (issue 12 item 2).

The root module is applied with three control planes to a lab cloud (API only: instances are
not booted here); its Octavia objects become what the backing daemon makes of them
(kubesalt.cloud.instances.Backing: the amphora namespace with the VIP and member-side ports,
kubesalt.cloud.lbproxy in it; the router's 1:1 NAT for the floating IP; the security groups
as packet filters). Each control plane's port is wired with a listener on 16443 that answers
its own name. The operator (in operator_cidrs) connects to the API floating IP; a stranger
(outside allowed_cidrs) cannot; a stopped control plane is taken out by the health monitor
and no connection fails meanwhile.
"""

import json
import time

from kubesalt.cloud import instances
from tests.support.api_lb import CONTROL_PLANES
from tests.support.api_lb import NAMED
from tests.support.api_lb import api_lb  # noqa: F401 (the fixture)
from tests.support.waiting import wait_until

PROBE = (
    "import socket, sys\n"
    "try:\n"
    "    s = socket.create_connection((sys.argv[1], 16443), timeout=5)\n"
    "    print(s.recv(64).decode())\n"
    "except OSError as exc:\n"
    "    print('error', exc); sys.exit(1)\n"
)


def _probe(api_lb, source=instances.OPERATOR) -> str | None:  # noqa: F811
    result = api_lb["lab"].fabric.run(source, ["python3", "-c", PROBE, api_lb["fip"]])
    return result.stdout.strip() if result.returncode == 0 else None


def _member_status(api_lb) -> dict:  # noqa: F811
    return json.loads(api_lb["status"].read_text())["members"]


def test_the_floating_ip_reaches_every_control_plane(api_lb):  # noqa: F811
    answers = [_probe(api_lb) for _ in range(9)]
    assert None not in answers, answers
    assert set(answers) == set(CONTROL_PLANES), answers


def test_a_source_outside_allowed_cidrs_is_refused(api_lb):  # noqa: F811
    assert _probe(api_lb, "stranger") is None


def test_a_stopped_control_plane_is_taken_out_by_the_health_monitor(api_lb):  # noqa: F811
    lab, members = api_lb["lab"], api_lb["members"]
    members["k8s-master"].kill()
    members["k8s-master"].wait(timeout=10)
    # until the monitor marks it down, its connections go to the next member (redispatch)
    answers = []
    deadline = time.monotonic() + 60
    while _member_status(api_lb).get("10.1.0.10:16443") != "ERROR":
        assert time.monotonic() < deadline, _member_status(api_lb)
        answers.append(_probe(api_lb))
    assert None not in answers and "k8s-master" not in answers, answers
    answers = [_probe(api_lb) for _ in range(6)]
    assert set(answers) == {"k8s-master-1", "k8s-master-2"}, answers
    # started again: back in the pool after max_retries good checks
    members["k8s-master"] = lab.fabric.spawn("k8s-master", ["python3", "-c", NAMED, "k8s-master"])
    wait_until(
        lambda: _member_status(api_lb).get("10.1.0.10:16443") == "ONLINE",
        60.0,
        "the restarted control plane to come back",
        interval=0.5,
    )
    assert "k8s-master" in {_probe(api_lb) for _ in range(6)}
