"""State module through the Salt loader against simulated hosts: test mode, idempotency,
errors, a cluster of a control plane, a worker and a second control plane, and the number of
MicroK8s CLI calls on a converged node."""

import json
import logging
import textwrap

import pytest

from tests.support.microk8s_sim import converge_sls
from tests.support.simminion import free_address

TOKEN = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
# Hosts take random free 127.0.2.x addresses (see free_address); this one is only named.
UNUSED_CP = "127.0.2.1"
OTHER_TOKEN = "99887766554433221100ffeeddccbbaa"


def _assert_no_token(*things, secret=TOKEN):
    for thing in things:
        text = thing if isinstance(thing, str) else json.dumps(thing, default=str)
        assert secret not in text


def _product_logs(caplog):
    """Log text of Salt and our modules; saltfactories' own "Calling state.single(...)"
    line echoes the test's arguments and is not something a minion logs."""
    return "\n".join(
        record.getMessage()
        for record in caplog.records
        if not record.name.startswith("saltfactories")
    )


def _ret(result):
    return {"result": result.result, "changes": result.changes, "comment": result.comment}


@pytest.fixture
def fresh(microk8s_sim, minion_of):
    """A host with snapd but no MicroK8s, and its minion's state functions."""
    node = microk8s_sim(free_address())
    return node, minion_of(node)


@pytest.fixture
def control_plane(microk8s_sim, minion_of):
    node = microk8s_sim(free_address(), install="1.32/stable")
    return node, minion_of(node)


@pytest.fixture(scope="module")
def shared_node(microk8s_sim_module):
    # One control plane for the tests whose changes do not meet: each leaves it running.
    return microk8s_sim_module(free_address(), install="1.32/stable")


@pytest.fixture
def shared_cp(shared_node, minion_of):
    return shared_node, minion_of(shared_node)


def test_installed_test_mode_live_and_idempotent(fresh):
    node, minion = fresh
    states = minion.states.microk8s
    predicted = states.installed("microk8s", channel="1.32/stable", test=True)
    assert predicted.result is None
    assert predicted.changes == {"installed": {"old": None, "new": "1.32/stable"}}
    assert not (node.root / "snap/bin/microk8s").exists()
    applied = states.installed("microk8s", channel="1.32/stable")
    assert applied.result is True
    assert applied.changes == predicted.changes
    again = states.installed("microk8s", channel="1.32/stable")
    assert (again.result, again.changes) == (True, {})
    # Another channel is a rolling upgrade's business (orch.upgrade), not installed's.
    left = states.installed("microk8s", channel="1.33/stable")
    assert (left.result, left.changes) == (True, {})
    assert "orch.upgrade" in left.comment
    assert node.run(["snap", "list", "microk8s"]).stdout.split()[9] == "1.32/stable"
    # microk8s.upgraded moves one node, one minor at a time, never back.
    skip = states.upgraded("microk8s", channel="1.34/stable")
    assert skip.result is False and "skips a minor version" in skip.comment
    moved = states.upgraded("microk8s", channel="1.33/stable", test=True)
    assert (moved.result, moved.changes) == (
        None,
        {"channel": {"old": "1.32/stable", "new": "1.33/stable"}},
    )
    done = states.upgraded("microk8s", channel="1.33/stable")
    assert done.result is True, done.comment
    assert done.changes == {
        "channel": {"old": "1.32/stable", "new": "1.33/stable"},
        "version": {"old": "v1.32.3", "new": "v1.33.4"},
    }
    assert states.upgraded("microk8s", channel="1.33").changes == {}
    assert states.installed("microk8s", channel="1.33").changes == {}
    back = states.upgraded("microk8s", channel="1.32/stable")
    assert back.result is False and "downgrade" in back.comment
    node.set_knobs(fail_refreshes=1)
    failed = states.upgraded("microk8s", channel="1.34/stable")
    assert failed.result is False and failed.changes == {}
    assert 'Download snap "microk8s"' in failed.comment
    bad = states.installed("microk8s", channel="1.33/unstable")
    assert bad.result is False
    assert "channel: risk 'unstable'" in bad.comment


def test_missing_prerequisites_are_none_in_test_mode(fresh):
    _, minion = fresh
    states = minion.states.microk8s
    results = [
        states.running("microk8s", test=True),
        states.addon_enabled("dns", test=True),
        states.addon_disabled("metrics-server", test=True),
        states.token_registered("node-b", token=TOKEN, ttl=3600, test=True),
        states.cluster_joined(UNUSED_CP, token=TOKEN, test=True),
        states.extra_san_present("10.0.0.100", test=True),
    ]
    for result in results:
        assert result.result is None, result.comment
        assert "not installed" in result.comment
    live = states.running("microk8s")
    assert live.result is False
    assert "not installed" in live.comment


def test_running_starts_a_stopped_node(shared_cp):
    _, minion = shared_cp
    minion.modules.microk8s.stop()
    states = minion.states.microk8s
    predicted = states.running("microk8s", test=True)
    assert (predicted.result, predicted.changes) == (
        None,
        {"running": {"old": False, "new": True}},
    )
    assert states.addon_enabled("dns", test=True).result is None  # would fail: stopped
    applied = states.running("microk8s")
    assert (applied.result, applied.changes) == (True, predicted.changes)
    assert states.running("microk8s").changes == {}


def test_addon_states(shared_cp):
    _, minion = shared_cp
    states = minion.states.microk8s
    predicted = states.addon_enabled("core/metrics-server", test=True)
    assert predicted.result is None
    assert predicted.changes == {"core/metrics-server": {"old": "disabled", "new": "enabled"}}
    assert states.addon_enabled("core/metrics-server").changes == predicted.changes
    assert states.addon_enabled("core/metrics-server").changes == {}
    assert states.addon_enabled("dns").changes == {}
    disabling = states.addon_disabled("metrics-server", test=True)
    assert disabling.changes == {"metrics-server": {"old": "enabled", "new": "disabled"}}
    assert states.addon_disabled("metrics-server").changes == disabling.changes
    assert states.addon_disabled("metrics-server").changes == {}
    metallb = states.addon_enabled("metallb", args=["10.64.140.43-10.64.140.49"])
    assert metallb.result is True
    assert metallb.changes
    for bad, fragment in (
        (states.addon_enabled("dnss"), "name: unknown addon 'dnss'"),
        (states.addon_disabled("ha-cluster"), "name: ha-cluster cannot be disabled"),
        (states.addon_enabled("metallb", args={"x": 1}), "args:"),
    ):
        assert bad.result is False
        assert fragment in bad.comment


def test_token_registered(shared_cp, caplog):
    node, minion = shared_cp
    states = minion.states.microk8s
    with caplog.at_level(logging.DEBUG):
        predicted = states.token_registered("worker-1", token=TOKEN, ttl=3600, test=True)
        applied = states.token_registered("worker-1", token=TOKEN, ttl=3600)
        again = states.token_registered("worker-1", token=TOKEN, ttl=3600)
    assert predicted.result is None
    assert predicted.changes == {"token": {"old": "absent", "new": "registered"}, "ttl": 3600}
    assert (applied.result, applied.changes) == (True, predicted.changes)
    assert (again.result, again.changes) == (True, {})
    tokens_file = node.root / "var/snap/microk8s/current/credentials/cluster-tokens.txt"
    assert tokens_file.read_text().count(TOKEN) == 1
    # An expired line for the same token shadows later lines: it is dropped and re-registered.
    tokens_file.write_text(f"{TOKEN}|1000\n")
    expired = states.token_registered("worker-1", token=TOKEN, ttl=3600)
    assert expired.changes["token"] == {"old": "expired", "new": "registered"}
    assert tokens_file.read_text().startswith(f"{TOKEN}|")
    assert minion.modules.microk8s.token_standing(TOKEN) == "valid"
    logged = _product_logs(caplog)
    # The token as the state's name is refused (Salt puts a state's name in its return key,
    # __id__ and the job cache), in test mode too, and nothing is registered.
    before = tokens_file.read_text()
    as_name = states.token_registered(OTHER_TOKEN, ttl=3600)
    as_name_test = states.token_registered(OTHER_TOKEN, ttl=3600, test=True)
    for refused in (as_name, as_name_test):
        assert refused.result is False
        assert refused.name == "<join token>"
        assert "use" in refused.comment or "token_pillar" in refused.comment
    assert tokens_file.read_text() == before
    assert minion.modules.microk8s.token_standing(OTHER_TOKEN) == "absent"
    no_token = states.token_registered("worker-2", ttl=3600)
    assert no_token.result is False
    assert "token_pillar: give the pillar key" in no_token.comment
    _assert_no_token(*(_ret(r) for r in (predicted, applied, again, expired, no_token)), logged)
    _assert_no_token(_ret(as_name), _ret(as_name_test), secret=OTHER_TOKEN)


def test_extra_san_present(shared_cp):
    _, minion = shared_cp
    states = minion.states.microk8s
    before = minion.modules.microk8s.fingerprint()
    sans = minion.modules.microk8s.server_cert_sans()
    assert "10.0.0.100" not in sans
    predicted = states.extra_san_present("10.0.0.100", test=True)
    assert predicted.result is None
    assert predicted.changes == {
        "extra_sans": {"old": [], "new": ["10.0.0.100"]},
        "server.crt": {"old": sans, "new": [*sans, "10.0.0.100"]},
    }
    assert minion.modules.microk8s.fingerprint() == before
    applied = states.extra_san_present("10.0.0.100")
    assert (applied.result, applied.changes) == (True, predicted.changes)
    after = minion.modules.microk8s.fingerprint()
    assert after != before
    assert "10.0.0.100" in minion.modules.microk8s.server_cert_sans()
    again = states.extra_san_present("10.0.0.100")
    assert again.changes == {}
    assert minion.modules.microk8s.fingerprint() == after  # no refresh without a change
    assert states.extra_san_present("not a san").result is False


def test_extra_san_failed_refresh_is_retried(shared_cp, minion_of, tmp_path):
    """Issue 9 item 5: csr.conf.template got the SAN before refresh-certs ran; when the
    refresh failed, every later run said "already a SAN" and server.crt never got it."""
    node, _ = shared_cp
    flag = tmp_path / "refresh-failed-once"
    wrapper = tmp_path / "microk8s"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = refresh-certs ] && [ ! -e {flag} ]; then\n'
        f"  touch {flag}; echo 'simulated refresh-certs failure' >&2; exit 1\n"
        "fi\n"
        f'exec {node.root / "snap/bin/microk8s"} "$@"\n'
    )
    wrapper.chmod(0o755)
    minion = minion_of(node, **{"microk8s.bin": str(wrapper)})
    states = minion.states.microk8s
    failed = states.extra_san_present("10.0.0.101")
    assert failed.result is False
    assert "refreshing server.crt failed" in failed.comment
    assert "10.0.0.101" in minion.modules.microk8s.extra_sans()
    assert "10.0.0.101" not in minion.modules.microk8s.server_cert_sans()
    retried = states.extra_san_present("10.0.0.101")
    assert retried.result is True, retried.comment
    assert set(retried.changes) == {"server.crt"}
    assert "10.0.0.101" in minion.modules.microk8s.server_cert_sans()
    assert states.extra_san_present("10.0.0.101").changes == {}


def _apply(minion, sls, **kwargs):
    result = minion.modules.state.template_str(sls, **kwargs).raw
    assert isinstance(result, dict), result
    return result


def _changed(result):
    return {key.split("_|-")[1] for key, value in result.items() if value["changes"]}


def _failed(result):
    return {key: value["comment"] for key, value in result.items() if value["result"] is False}


ADDONS = ["dns", "ha-cluster", "helm", "helm3", "metrics-server"]


def test_cluster_forms_and_converges(control_plane, microk8s_sim, minion_of, caplog):
    cp_node, cp = control_plane
    cp_ip = cp_node.address
    worker_node = microk8s_sim(free_address(), install="1.32/stable")
    cp2_node = microk8s_sim(free_address(), install="1.32/stable")
    worker_ip, cp2_ip = worker_node.address, cp2_node.address
    nobody = free_address()  # no cluster agent listens there: connection refused
    for node in (worker_node, cp2_node):
        node.set_knobs(join_seconds=0)
    worker, cp2 = minion_of(worker_node), minion_of(cp2_node)
    caplog.set_level(logging.DEBUG)

    registered = cp.states.microk8s.token_registered("cluster", token=TOKEN, ttl=3600)
    assert registered.result is True, registered.comment
    # The control plane itself, listed in name, changes nothing.
    itself = cp.states.microk8s.cluster_joined(f"{cp_ip},{nobody}", token=TOKEN)
    assert (itself.result, itself.changes) == (True, {})

    # Worker: the first address refuses connections, the second one takes the join.
    join_as_worker = {
        "name": "workers",
        "addresses": [nobody, cp_ip],
        "token": TOKEN,
        "worker": True,
    }
    predicted = worker.states.microk8s.cluster_joined(**join_as_worker, test=True)
    assert predicted.result is None
    assert predicted.changes == {"joined": {"old": False, "new": True}, "role": "worker"}
    joined = worker.states.microk8s.cluster_joined(**join_as_worker)
    assert joined.result is True, joined.comment
    assert joined.changes == predicted.changes
    assert f"through {cp_ip}:25000" in joined.comment
    assert worker.modules.microk8s.status()["role"] == "worker"
    again = worker.states.microk8s.cluster_joined(**join_as_worker)
    assert (again.result, again.changes) == (True, {})
    wrong_role = worker.states.microk8s.cluster_joined(cp_ip, token=TOKEN)
    assert wrong_role.result is False
    assert "worker" in wrong_role.comment

    # Second control plane, through a whole state run (first run: changes; second: none).
    sls = converge_sls(cp_ip, TOKEN, False, ADDONS)
    first = _apply(cp2, sls)
    assert not _failed(first), _failed(first)
    assert "mk8s-joined" in _changed(first)
    members = {n["address"] for n in cp.modules.microk8s.status()["high_availability"]["nodes"]}
    assert {f"{cp_ip}:19001", f"{cp2_ip}:19001"} <= members
    names = {n["address"]: n for n in cp.modules.microk8s.nodes()}
    assert names[worker_ip]["roles"] == ["worker"]
    assert names[cp2_ip]["roles"] == ["control-plane"]

    cp2_node.clear_invocations()
    second = _apply(cp2, sls)
    assert not _failed(second), _failed(second)
    assert _changed(second) == set()
    calls = cp2_node.invocations()
    assert len(calls) <= 2, calls
    assert {tuple(c["argv"][:2]) for c in calls} == {("snap", "list"), ("microk8s", "status")}

    worker_sls = converge_sls(f"{nobody},{cp_ip}", TOKEN, True)
    worker_node.clear_invocations()
    worker_run = _apply(worker, worker_sls)
    assert not _failed(worker_run), _failed(worker_run)
    assert _changed(worker_run) == set()
    assert len(worker_node.invocations()) <= 2, worker_node.invocations()

    # A stopped worker is started through snap (microk8s start only prints advice there).
    worker.modules.microk8s.stop()
    restarted = worker.states.microk8s.running("microk8s")
    assert restarted.changes == {"running": {"old": False, "new": True}}, restarted.comment
    assert worker.states.microk8s.running("microk8s").changes == {}

    # Re-joining a dqlite member fails with the advice to remove it first.
    with pytest.raises(Exception) as err:
        cp2.modules.microk8s.join(f"{cp_ip}:25000/{TOKEN}")
    assert "remove-node" in str(err.value)

    # Remove the worker: it leaves, then the control plane drops it.
    worker.modules.microk8s.leave()
    worker_name = names[worker_ip]["name"]
    removal = cp.states.microk8s.node_removed(worker_name, test=True)
    assert (removal.result, removal.changes) == (
        None,
        {"node": {"old": "present", "new": "absent"}},
    )
    removed = cp.states.microk8s.node_removed(worker_name)
    assert (removed.result, removed.changes) == (True, removal.changes), removed.comment
    assert cp.states.microk8s.node_removed(worker_name).changes == {}

    everything = [registered, itself, predicted, joined, again, wrong_role, removal, removed]
    _assert_no_token(
        *(_ret(r) for r in everything), first, second, worker_run, _product_logs(caplog)
    )


def test_cluster_joined_failures_say_what_to_do(shared_cp, microk8s_sim, minion_of):
    shared, cp = shared_cp
    shared_ip = shared.address
    joiner_node = microk8s_sim(free_address(), install="1.32/stable")
    joiner = minion_of(joiner_node)
    burnt = joiner.states.microk8s.cluster_joined(shared_ip, token=OTHER_TOKEN, worker=True)
    assert burnt.result is False
    assert "must register it again" in burnt.comment
    assert burnt.changes == {}
    bad = joiner.states.microk8s.cluster_joined("cp1.example.com", token=OTHER_TOKEN)
    assert bad.result is False
    assert "name: 'cp1.example.com' is not an IPv4 address" in bad.comment
    bad_check = joiner.states.microk8s.cluster_joined(
        shared_ip, token=OTHER_TOKEN, fingerprint="xyz"
    )
    assert bad_check.result is False
    assert "fingerprint:" in bad_check.comment
    # A wrong fingerprint: the certificate of the control plane does not match.
    cp.states.microk8s.token_registered("j", token=OTHER_TOKEN, ttl=600)
    mismatch = joiner.states.microk8s.cluster_joined(
        shared_ip, token=OTHER_TOKEN, worker=True, fingerprint="000000000000"
    )
    assert mismatch.result is False
    assert "fingerprint" in mismatch.comment
    _assert_no_token(*(_ret(r) for r in (burnt, bad, bad_check, mismatch)), secret=OTHER_TOKEN)


PILLAR_TOKEN = "31415926535897932384626433832795"


def test_token_from_pillar_never_reaches_the_logs(shared_cp, state_tree, caplog):
    """With ``token_pillar`` the state reads the token from ``__pillar__``: it is in no
    rendered SLS (Salt logs those at debug level), return or log record, at any level."""
    shared, minion = shared_cp
    shared_ip = shared.address
    sls = textwrap.dedent(
        f"""\
        mk8s-token:
          microk8s.token_registered:
            - name: node-c
            - token_pillar: cluster:tokens:node-c
            - ttl: 600
        mk8s-joined:
          microk8s.cluster_joined:
            - name: {shared_ip}
            - token_pillar: cluster:tokens:node-c
        mk8s-missing:
          microk8s.token_registered:
            - name: node-d
            - token_pillar: cluster:tokens:node-d
        """
    )
    (state_tree / "mk8s_pillar_token.sls").write_text(sls)
    pillar = {"cluster": {"tokens": {"node-c": PILLAR_TOKEN}}}
    caplog.set_level(1)
    first = minion.modules.state.sls("mk8s_pillar_token", pillar=pillar).raw
    second = minion.modules.state.sls("mk8s_pillar_token", pillar=pillar).raw
    by_id = {key.split("_|-")[1]: value for key, value in first.items()}
    assert by_id["mk8s-token"]["result"] is True
    assert by_id["mk8s-token"]["changes"]["token"] == {"old": "absent", "new": "registered"}
    assert by_id["mk8s-joined"]["comment"] == "This node is one of the cluster's control planes"
    assert by_id["mk8s-missing"]["result"] is False
    assert (
        "token_pillar: pillar has no value at 'cluster:tokens:node-d'"
        in (by_id["mk8s-missing"]["comment"])
    )
    assert _changed(second) == set()
    assert minion.modules.microk8s.token_standing(PILLAR_TOKEN) == "valid"
    _assert_no_token(first, second, _product_logs(caplog), secret=PILLAR_TOKEN)


def test_join_through_the_next_control_plane_when_the_first_is_stopped(
    control_plane, microk8s_sim, minion_of
):
    """Joins try every control plane in turn (cluster.join_plan lists them all, each with
    its own certificate check; every control plane registers the pending tokens)."""
    cp1_node, cp1 = control_plane
    cp2_node = microk8s_sim(free_address(), install="1.32/stable")
    worker_node = microk8s_sim(free_address(), install="1.32/stable")
    for node in (cp2_node, worker_node):
        node.set_knobs(join_seconds=0)
    cp2, worker = minion_of(cp2_node), minion_of(worker_node)
    assert cp1.states.microk8s.token_registered("cp2", token=OTHER_TOKEN, ttl=600).result
    joined = cp2.states.microk8s.cluster_joined(cp1_node.address, token=OTHER_TOKEN)
    assert joined.result is True, joined.comment
    # The second control plane, now in the cluster, registers the new worker's token too.
    assert cp2.states.microk8s.token_registered("w", token=TOKEN, ttl=600).result
    checks = {
        info["address"].split(":")[0]: info["fingerprint"]
        for info in (cp1.modules.microk8s.join_info(), cp2.modules.microk8s.join_info())
    }
    cp1_node.set_knobs(stopped=True)
    try:
        through = worker.states.microk8s.cluster_joined(
            f"{cp1_node.address},{cp2_node.address}",
            token=TOKEN,
            worker=True,
            fingerprint=checks,
        )
        assert through.result is True, through.comment
        assert f"through {cp2_node.address}:25000" in through.comment
        names = {n["address"] for n in cp2.modules.microk8s.nodes()}
        assert worker_node.address in names
    finally:
        cp1_node.set_knobs(stopped=False)
