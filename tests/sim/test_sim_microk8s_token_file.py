"""Token-file semantics of the cluster agent (util.IsValidToken / RemoveToken), no daemons."""

import time

import pytest

from kubesalt.sim.microk8s import agent
from kubesalt.sim.microk8s.host import Host
from tests.support.cases import load_cases
from tests.support.microk8s_sim import free_sim_address


@pytest.mark.parametrize("case", load_cases(__file__, "token_files"))
def test_consume_token(tmp_path, case):
    host = Host(tmp_path, free_sim_address())
    now = int(time.time())
    creds = host.credentials
    creds.mkdir(parents=True)
    render = lambda text: text.replace("FUTURE", str(now + 3600)).replace("PAST", str(now - 5))  # noqa: E731
    (creds / "cluster-tokens.txt").write_text(render(case["file"]))
    if "persistent" in case:
        (creds / "persistent-cluster-tokens.txt").write_text(case["persistent"])
    assert agent.consume_token(host, case["token"]) is case["valid"]
    assert (creds / "cluster-tokens.txt").read_text() == render(case["after"])
