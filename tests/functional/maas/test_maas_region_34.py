"""The whole MAAS 3.4 flow, in order, against the simulator: the tests share one region.

Region init, admin, rack registration (wrong secret first), settings, selections, image
sync with a live and a dead rack, faults (503 burst, stuck import), OAuth rejection, API key
export; each state also in test mode and re-run for idempotency.
"""

import base64
import contextlib
import hashlib
import json
import os
import pathlib
import stat
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

import maas_lib.client as maas_client
from tests.support.addresses import free_loopback_address
from tests.support.microk8s_sim import sim_nodes

MAAS_VERSION = "3.4"
ADMIN_PASSWORD = "Adm1n-pw-not-in-logs"
pytestmark = pytest.mark.timeout(120)


def assert_no_secret(text, *secrets_):
    for value in secrets_:
        assert value and value not in text


def test_region_initialized(states, maas_env, debug_logs):
    ret = states.maas.region_initialized(
        maas_env.maas_url, database_uri=maas_env.database_uri, test=True
    )
    assert ret.result is None
    assert ret.changes["mode"] == {"old": "none", "new": "region"}
    assert not maas_env.region.regiond_conf.exists()

    ret = states.maas.region_initialized(maas_env.maas_url, database_uri=maas_env.database_uri)
    assert ret.result is True, ret.comment
    assert ret.changes["maas_url"]["new"] == maas_env.maas_url
    assert stat.S_IMODE(os.stat(maas_env.region.regiond_conf).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(maas_env.region.secret_file).st_mode) == 0o600

    again = states.maas.region_initialized(maas_env.maas_url, database_uri=maas_env.database_uri)
    assert again.result is True and again.changes == {}
    assert_no_secret(debug_logs.text + str(ret.changes) + ret.comment, maas_env.db_password)


def test_admin_present(states, modules, maas_env, debug_logs):
    args = {"password": ADMIN_PASSWORD, "email": "admin@example.com"}
    ret = states.maas.admin_present("admin", test=True, **args)
    assert ret.result is None and ret.changes == {"user": {"old": None, "new": "admin"}}
    assert modules.maas.user_exists("admin") is False

    ret = states.maas.admin_present("admin", **args)
    assert ret.result is True and ret.changes == {"user": {"old": None, "new": "admin"}}
    assert modules.maas.check_password("admin", ADMIN_PASSWORD) is True
    assert states.maas.admin_present("admin", **args).changes == {}

    # A password changed behind Salt's back is put back.
    modules.maas.set_password("admin", "something-else")
    ret = states.maas.admin_present("admin", **args)
    assert ret.changes == {"password": "updated"}
    assert modules.maas.check_password("admin", ADMIN_PASSWORD) is True
    assert_no_secret(debug_logs.text + str(ret), ADMIN_PASSWORD, "something-else")


def test_api_key_and_secret_are_masked(modules, maas_env, debug_logs):
    masked = modules.maas.api_key("admin")
    assert masked.endswith(":***") and masked.count(":") == 2
    full = modules.maas.api_key("admin", reveal=True)
    assert full.startswith(masked[:-4]) and len(full.split(":")[2]) == 32
    fingerprint = modules.maas.shared_secret()
    secret = maas_env.region.read_secret()
    assert fingerprint.startswith("sha256:") and secret not in fingerprint
    assert modules.maas.shared_secret(reveal=True) == secret
    info = modules.maas.version()
    assert info["version"] == "3.4.6" and "authenticate-api" in info["capabilities"]
    assert modules.maas.init_status()["mode"] == "region"
    assert "database_pass" not in modules.maas.init_status()
    assert_no_secret(debug_logs.text, full.split(":")[2], secret)


def test_rack_with_wrong_secret_fails_saying_so(states, maas_env, debug_logs):
    wrong = "0123456789abcdef0123456789abcdef"
    ret = states.maas.rack_registered("rack1", url=maas_env.maas_url, secret=wrong, timeout=3)
    assert ret.result is False
    assert "shared secret" in ret.comment and "rack1" in ret.comment
    assert ret.changes == {}
    assert_no_secret(debug_logs.text + ret.comment, wrong)


def test_rack_registered(states, modules, maas_env, debug_logs):
    secret = maas_env.region.read_secret()
    ret = states.maas.rack_registered("rack1", url=maas_env.maas_url, secret=secret, test=True)
    assert ret.result is None and "registered" in ret.changes
    ret = states.maas.rack_registered("rack1", url=maas_env.maas_url, secret=secret, timeout=20)
    assert ret.result is True, ret.comment
    assert ret.changes["registered"]["new"] == maas_env.maas_url
    rack = modules.maas.rack_controller("rack1")
    assert rack["node_type"] == 2 and rack["system_id"] == ret.changes["system_id"]
    again = states.maas.rack_registered("rack1", url=maas_env.maas_url, secret=secret)
    assert again.result is True and again.changes == {}
    assert stat.S_IMODE(os.stat(maas_env.racks[0].secret_file).st_mode) == 0o600
    assert_no_secret(debug_logs.text + str(ret), secret)


HANDOFF_HINT = "hands its shared secret and API key to the master"


def _write_pillar(root, data):
    (root / "given.sls").write_text(json.dumps(data))
    (root / "top.sls").write_text("base:\n  '*':\n    - given\n")


@contextlib.contextmanager
def pillar_of(loaders, data):
    """``data`` as this minion's pillar (each state run compiles it from pillar_roots)."""
    root = pathlib.Path(loaders.opts["pillar_roots"]["base"][0])
    _write_pillar(root, data)
    try:
        yield
    finally:
        (root / "top.sls").unlink()
        (root / "given.sls").unlink()


def test_rack_registered_from_pillar(states, modules, loaders, maas_env, debug_logs):
    """The secret and key come from pillar paths (where the master puts them); while the
    master holds none, the rack fails saying why (test=True: would)."""
    secret = maas_env.region.read_secret()
    key = modules.maas.api_key("admin", reveal=True)
    args = {
        "url": maas_env.maas_url,
        "secret_pillar": "kubesalt:maas:shared_secret",
        "api_key_pillar": "kubesalt:maas:api_key",
    }
    pillar = {"kubesalt": {"maas": {"shared_secret": secret, "api_key": key}}}
    with pillar_of(loaders, pillar):
        ret = states.maas.rack_registered("rack1", **args)
    assert ret.result is True and ret.changes == {}, ret.comment
    for test in (False, True):
        ret = states.maas.rack_registered("rack1", test=test, pillar_wait=1, **args)
        assert ret.result is (None if test else False)
        assert "kubesalt:maas:shared_secret" in ret.comment and HANDOFF_HINT in ret.comment
        assert ret.changes == {}
    # The values reach the master while the state waits (the region's hand-off during the
    # same highstate): a fresh pillar has them.
    root = pathlib.Path(loaders.opts["pillar_roots"]["base"][0])
    written = threading.Event()

    def hand_off():
        _write_pillar(root, pillar)
        written.set()

    later = threading.Timer(2.0, hand_off)
    later.start()
    try:
        # It returns once the values come (a state that waited out pillar_wait would hit
        # the test's timeout), and only then (the values were not there before).
        ret = states.maas.rack_registered("rack1", pillar_wait=600, **args)
        assert ret.result is True and ret.changes == {}, ret.comment
        assert written.is_set()
    finally:
        later.join()
        (root / "top.sls").unlink()
        (root / "given.sls").unlink()
    assert_no_secret(debug_logs.text, secret, key.split(":")[2])


def test_handoff_digest_and_state(states, modules, loaders, maas_env, debug_logs):
    """What the region hands to the master, and the state that pushes it only when the
    master's digest (its pillar) differs; neither value is ever in a return or a log."""
    secret = maas_env.region.read_secret()
    key = modules.maas.api_key("admin", reveal=True)
    document = json.dumps({"api_key": key, "shared_secret": secret}, sort_keys=True) + "\n"
    digest = hashlib.sha256(document.encode()).hexdigest()
    assert modules.maas.handoff_digest() == digest
    args = {"fingerprint_pillar": "kubesalt:maas:handoff:fingerprint"}
    held = {"kubesalt": {"maas": {"handoff": {"fingerprint": digest}}}}
    with pillar_of(loaders, held):
        ret = states.maas.handoff_pushed("kubesalt/maas-handoff.json", **args)
    assert ret.result is True and ret.changes == {}, ret.comment
    for fingerprint, old in (("", "missing"), ("0" * 64, "outdated")):
        pillar = {"kubesalt": {"maas": {"handoff": {"fingerprint": fingerprint}}}}
        with pillar_of(loaders, pillar):
            ret = states.maas.handoff_pushed("kubesalt/maas-handoff.json", test=True, **args)
        assert ret.result is None
        assert ret.changes == {"handoff": {"old": old, "new": "current"}}
    ret = states.maas.handoff_pushed("kubesalt/maas-handoff.json", **args)
    assert ret.result is False and "fingerprint_pillar" in ret.comment
    with pytest.raises(Exception, match="upload_path"):
        modules.maas.push_handoff("../elsewhere")
    assert_no_secret(debug_logs.text + str(ret), secret, key.split(":")[2])


def test_config_set_normalises_and_converges(states, modules):
    settings = {
        "upstream_dns": ["8.8.8.8", "1.1.1.1"],
        "ntp_servers": "ntp1.example.com,ntp2.example.com",
        "remote_syslog": "10.0.0.9",
        "enable_analytics": False,
        "network_discovery": "disabled",
        "active_discovery_interval": 0,
        "maas_proxy_port": 8000,
        "completed_intro": True,
    }
    ret = states.maas.config_set("maas-settings", settings=settings, test=True)
    assert ret.result is None
    assert ret.changes["remote_syslog"] == {"old": None, "new": "10.0.0.9:514"}
    assert "maas_proxy_port" not in ret.changes  # already the default
    ret = states.maas.config_set("maas-settings", settings=settings)
    assert ret.result is True, ret.comment
    assert modules.maas.get_config("upstream_dns") == "8.8.8.8 1.1.1.1"
    assert modules.maas.get_config("remote_syslog") == "10.0.0.9:514"
    assert modules.maas.get_config("enable_analytics") is False
    again = states.maas.config_set("maas-settings", settings=settings)
    assert again.result is True and again.changes == {}, again.changes
    single = states.maas.config_set("dnssec_validation", value="no")
    assert single.changes == {"dnssec_validation": {"old": "auto", "new": "no"}}


def test_config_set_errors(states):
    ret = states.maas.config_set("maas_url", value="http://x:5240/MAAS")
    assert ret.result is False and "regiond.conf" in ret.comment
    ret = states.maas.config_set("upstream_dns", value="dns.example.com")
    assert ret.result is False and "Invalid IP address: dns.example.com" in ret.comment
    ret = states.maas.config_set("default_osystem", value="windows")
    assert ret.result is False and "HTTP 400" in ret.comment


def test_selection_present_then_updated(states, modules):
    ret = states.maas.boot_source_selection_present("focal", arches=["amd64"], test=True)
    assert ret.result is None and ret.changes["selection"]["old"] is None
    ret = states.maas.boot_source_selection_present("focal", arches=["amd64"])
    assert ret.result is True, ret.comment
    ret = states.maas.boot_source_selection_present("focal", arches=["amd64", "arm64"])
    assert ret.changes["selection"]["old"]["arches"] == ["amd64"]
    assert ret.changes["selection"]["new"]["arches"] == ["amd64", "arm64"]
    again = states.maas.boot_source_selection_present("focal", arches=["arm64", "amd64"])
    assert again.result is True and again.changes == {}
    releases = [s["release"] for s in modules.maas.boot_source_selections()]
    assert releases == ["jammy", "focal"]  # jammy: the default selection of a fresh 3.4


def test_images_synced_with_a_live_and_a_dead_rack(states, modules, maas_env):
    secret = maas_env.region.read_secret()
    # A second rack registers by hand, then its rackd goes silent: MAAS marks it dead.
    rack2 = maas_env.racks[1]
    res = subprocess.run(
        [maas_env.rack_cli(1), "register", f"--url={maas_env.maas_url}"],
        input=secret + "\n",
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    modules.maas.wait_for_rack("rack2", timeout=10)
    rack2.set_faults(rack_silent=True)
    images = [{"release": "focal", "arches": ["amd64", "arm64"]}, {"release": "jammy"}]
    ret = states.maas.boot_images_synced("images", images=images, test=True)
    assert ret.result is None and "ubuntu/focal" in ret.changes["images"]["old"]
    time.sleep(1.6)  # > rack_dead_after
    # A dead rack is not waited for (a state that waited for it would hit the test's
    # timeout before its own).
    ret = states.maas.boot_images_synced("images", images=images, timeout=600)
    assert ret.result is True, ret.comment
    assert "dead racks not waited for: rack2" in ret.comment
    rack1 = modules.maas.rack_controller("rack1")
    assert modules.maas.rack_boot_images(rack1["system_id"])["status"] == "synced"
    again = states.maas.boot_images_synced("images", images=images)
    assert again.result is True and again.changes == {}, again.comment
    rack2.set_faults(rack_silent=None)


def test_503_burst_is_retried(modules, maas_env):
    maas_env.region.set_faults(api_503=4)
    assert modules.maas.get_config("dnssec_validation") == "no"
    client = maas_client.MaasClient(
        maas_env.maas_url, modules.maas.api_key("admin", reveal=True), retries=2, backoff=0.01
    )
    maas_env.region.set_faults(api_503=5)
    with pytest.raises(maas_client.MaasApiError) as err:
        client.get("maas/", op="get_config", name="ntp_servers")
    assert err.value.status == 503 and client.requests == 3
    maas_env.region.set_faults(api_503=None)


def test_stuck_import_times_out_with_a_clear_message(states, modules, maas_env):
    maas_env.region.set_faults(import_stuck=True)
    try:
        assert states.maas.boot_source_selection_present("noble").result is True
        # The state's own report says it gave up at its timeout; no wall-clock bound here
        # (it failed on a loaded machine; timings belong to make bench).
        ret = states.maas.boot_images_synced("images", images=[{"release": "noble"}], timeout=3)
        assert ret.result is False
        assert "Timed out after 3 s" in ret.comment
        assert "ubuntu/noble (downloading: amd64 20251101 37%)" in ret.comment
        assert "import looks stuck" in ret.comment
    finally:
        maas_env.region.set_faults(import_stuck=None)
        modules.maas.stop_import()
    assert modules.maas.is_importing() is False


def _raw(url, headers=None):
    req = urllib.request.Request(url, headers=headers or {})  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_wrong_api_key_fails_in_test_mode_too(states, modules, maas_env):
    """A wrong API key is an error, not a prerequisite an earlier state would create: under
    test=True the state fails too (it did report None, hiding the key)."""
    consumer, token, _secret = modules.maas.api_key("admin", reveal=True).split(":")
    wrong = f"{consumer}:{token}:{'x' * 32}"
    for test in (True, False):
        ret = states.maas.config_set(
            "dnssec_validation", value="no", url=maas_env.maas_url, api_key=wrong, test=test
        )
        assert ret.result is False, ret.comment
        assert "check the API key" in ret.comment and wrong not in ret.comment
        assert ret.changes == {}


def test_simulator_rejects_wrong_signatures(modules, maas_env):
    key = modules.maas.api_key("admin", reveal=True)
    consumer, token, token_secret = key.split(":")
    url = maas_env.maas_url + "/api/2.0/users/?op=whoami"
    status, body = _raw(url, {"Authorization": maas_client.oauth_header(key)})
    assert status == 200 and json.loads(body)["username"] == "admin"
    wrong = f"{consumer}:{token}:{'x' * 32}"
    assert _raw(url, {"Authorization": maas_client.oauth_header(wrong)}) == (
        401,
        "Authorization Error: 'Invalid signature.'",
    )
    unknown = f"{'c' * 18}:{token}:{token_secret}"
    assert _raw(url, {"Authorization": maas_client.oauth_header(unknown)}) == (
        401,
        "Authorization Error: Invalid API key.",
    )
    assert _raw(url) == (401, "Forbidden")
    old = maas_client.oauth_header(key, timestamp=int(time.time()) - 900)
    status, body = _raw(url, {"Authorization": old})
    assert status == 401 and "Expired timestamp" in body
    replay = maas_client.oauth_header(key, nonce="fixed-nonce")
    assert _raw(url, {"Authorization": replay})[0] == 200
    assert _raw(url, {"Authorization": replay}) == (
        401,
        "Authorization Error: 'Nonce already used: fixed-nonce'",
    )
    status, body = _raw(maas_env.maas_url + "/api/2.0/maas/?op=nope")
    assert status == 401  # authentication is checked before dispatch


def _free_microk8s_address() -> str:
    """A 127.0.7.x address whose cluster-agent port (25000) is free (concurrent sessions)."""
    return free_loopback_address("127.0.7", 25000, range(2, 250))


def test_apikey_exported(states, loaders, maas_env, tmp_path, debug_logs):
    """Into the MicroK8s simulator's kubectl: namespace created, secret applied from stdin."""
    with sim_nodes(tmp_path) as make_node:
        control_plane = make_node(_free_microk8s_address(), install="1.32/stable")
        control_plane.set_knobs(ready_seconds=0)
        microk8s = str(control_plane.root / "snap" / "bin" / "microk8s")
        args = {"namespace": "maas", "kubectl": f"{microk8s} kubectl"}
        ret = states.maas.apikey_exported("maas-api-key", test=True, **args)
        assert ret.result is None and ret.changes["secret"]["old"] == "missing", ret.comment
        ret = states.maas.apikey_exported("maas-api-key", **args)
        assert ret.result is True, ret.comment
        read = control_plane.run(
            ["microk8s", "kubectl", "get", "secret", "maas-api-key", "-n", "maas", "-o", "json"]
        )
        written = json.loads(read.stdout)
        assert written["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "kubesalt"}
        exported = base64.b64decode(written["data"]["token"]).decode()
        assert exported.count(":") == 2
        again = states.maas.apikey_exported("maas-api-key", **args)
        assert again.result is True and again.changes == {}
        # From the pillar, where the master puts it for the control plane.
        from_pillar = {**args, "api_key_pillar": "kubesalt:maas:api_key"}
        with pillar_of(loaders, {"kubesalt": {"maas": {"api_key": exported}}}):
            again = states.maas.apikey_exported("maas-api-key", **from_pillar)
        assert again.result is True and again.changes == {}, again.comment
        missing = states.maas.apikey_exported("maas-api-key", pillar_wait=0, **from_pillar)
        assert missing.result is False and "kubesalt:maas:api_key" in missing.comment
        assert_no_secret(debug_logs.text + str(ret) + str(again), exported.split(":")[2])
        invocations = control_plane.host.invocation_log.read_text()
        assert_no_secret(invocations, exported, written["data"]["token"])


def test_boot_sources_and_resources(modules):
    sources = modules.maas.boot_sources()
    assert [s["id"] for s in sources] == [1]
    assert sources[0]["url"] == "http://images.maas.io/ephemeral-v3/stable/"
    mirror = "http://mirror.example.com/maas/images/ephemeral-v3/stable/"
    updated = modules.maas.update_boot_source(1, source_url=mirror)
    assert updated["url"] == mirror and updated["keyring_filename"]
    resources = modules.maas.boot_resources("synced", with_sets=True)
    focal = [r for r in resources if r["name"] == "ubuntu/focal"]
    assert {r["architecture"].split("/")[0] for r in focal} == {"amd64", "arm64"}
    assert all(s["complete"] for r in focal for s in r["sets"].values())
    status = modules.maas.images_status([{"release": "focal", "arches": ["amd64", "arm64"]}])
    assert status == {"complete": ["ubuntu/focal"], "incomplete": {}}


def test_snap_cli_profile_and_outputs(maas_env, modules):
    cli = maas_env.cli()
    key = modules.maas.api_key("admin", reveal=True)
    login = subprocess.run(
        [cli, "login", "admin", maas_env.maas_url, "-"],
        input=key + "\n",
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert login.returncode == 0 and "You are now logged in" in login.stdout
    got = subprocess.run(
        [cli, "admin", "maas", "get-config", "name=upstream_dns"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert (got.returncode, got.stdout) == (0, '"8.8.8.8 1.1.1.1"')  # no newline off a TTY
    bad = subprocess.run(
        [cli, "admin", "maas", "get-config", "name=maas_url"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert bad.returncode == 2 and "not a valid config setting" in bad.stdout
    rejected = subprocess.run(
        [cli, "login", "bad", maas_env.maas_url, "aaa:bbb:ccc"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert rejected.returncode == 1 and "rejected your API key" in rejected.stderr
    missing = subprocess.run(
        [cli, "apikey", "--username=nobody"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert missing.returncode == 1 and "User does not exist." in missing.stderr
    assert stat.S_IMODE(os.stat(maas_env.region.profiles_file).st_mode) == 0o600
