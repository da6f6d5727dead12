"""The execution module with a scripted ``cmd.run_all``: argv, caching, validation, secrets."""

import json
import logging
import os
import stat

import pytest
from salt.exceptions import CommandExecutionError
from salt.exceptions import SaltInvocationError

from tests.support.cases import load_cases
from tests.support.certs import self_signed_certificate
from tests.support.fake_cmd import FakeRunAll
from tests.support.loading import load_ext

TOKEN = "0123456789abcdef0123456789abcdef"
OTHER_TOKEN = "fedcba9876543210fedcba9876543210"

STATUS_YAML = (
    "microk8s:\n  running: True\nhigh-availability:\n  enabled: True\n  nodes:\n"
    "    - address: 127.0.0.1:19001\n      role: voter\naddons:\n"
    "  - name: dns\n    repository: core\n    description: CoreDNS\n    version: 1.10.1\n"
    "    status: enabled\n"
    "  - name: metrics-server\n    repository: core\n    description: K8s Metrics Server\n"
    "    version: 0.6.3\n    status: disabled\n"
)
SNAP_LIST = (
    "Name      Version  Rev   Tracking     Publisher   Notes\n"
    "microk8s  v1.32.3  7964  1.32/stable  canonical✓  classic\n"
)


microk8s = load_ext("modules", "microk8s")


@pytest.fixture
def cli():
    return FakeRunAll()


@pytest.fixture
def snap_data(tmp_path):
    root = tmp_path / "snapdata"
    (root / "var" / "lock").mkdir(parents=True)
    (root / "credentials").mkdir()
    (root / "certs").mkdir()
    return root


@pytest.fixture
def configure_loader_modules(cli, snap_data):
    return {
        microk8s: {
            "__salt__": {"cmd.run_all": cli},
            "__opts__": {
                "microk8s.bin": "microk8s",
                "microk8s.snap_bin": "snap",
                "microk8s.snap_data": str(snap_data),
                "microk8s.join_backoff": 0,
            },
            "__context__": {},
            "__grains__": {"ipv4": ["127.0.0.1", "10.1.0.5"]},
        }
    }


def test_every_command_is_an_argv_without_shell_with_closed_stdin(cli):
    cli.on("microk8s", "status", stdout=STATUS_YAML)
    microk8s.status()
    call = cli.calls[0]
    assert call["argv"] == ["microk8s", "status", "--format", "yaml"]
    assert call["python_shell"] is False
    assert call["stdin"] == ""
    assert call["output_loglevel"] == "quiet"
    assert call["timeout"] > 0


def test_status_is_read_once_and_cached(cli):
    cli.on("microk8s", "status", stdout=STATUS_YAML)
    first = microk8s.status()
    assert microk8s.addons()["dns"]["status"] == "enabled"
    assert microk8s.addon_status("core/dns") == "enabled"
    assert microk8s.addon_status("metrics-server") == "disabled"
    assert microk8s.addon_status("argocd") == "disabled"
    assert microk8s.status() is first
    assert len(cli.calls) == 1


def test_status_not_ready_exit_1(cli):
    cli.on(
        "microk8s",
        "status",
        retcode=1,
        stdout="microk8s:\n  running: False\nhigh-availability:\n  enabled: True\n  nodes:\n"
        "  message: microk8s is not running. Use microk8s inspect for a deeper inspection.\n",
    )
    assert microk8s.status()["running"] is False


def test_status_stopped_node_keeps_ha_from_lock(cli, snap_data):
    (snap_data / "var/lock/ha-cluster").touch()
    cli.on("microk8s", "status", stdout="microk8s is not running, try microk8s start\n")
    result = microk8s.status()
    assert result["running"] is False
    assert result["high_availability"]["enabled"] is True


def test_status_wait_ready_passes_timeout_and_refreshes_cache(cli):
    cli.on("microk8s", "status", stdout=STATUS_YAML)
    microk8s.status()
    microk8s.status(wait_ready=True, timeout=30)
    assert cli.argvs()[1] == [
        "microk8s", "status", "--format", "yaml", "--wait-ready", "--timeout", "30",
    ]  # fmt: skip
    assert cli.calls[1]["timeout"] == 60


@pytest.mark.parametrize(
    ("stdout", "stderr", "retcode", "fragment"),
    [
        (
            "",
            "Insufficient permissions to access MicroK8s.\nYou can either try again with sudo",
            1,
            "Insufficient permissions to access MicroK8s.",
        ),
        (
            "",
            'Traceback (most recent call last):\n  File "x", line 1\nOSError: [Errno 5] I/O',
            1,
            "OSError: [Errno 5] I/O",
        ),
        ("", "usage: microk8s status [-h]\nerror: unrecognized arguments", 2, "exit 2"),
    ],
    ids=["permission", "traceback", "argparse"],
)
def test_status_failures_quote_the_real_message(cli, stdout, stderr, retcode, fragment):
    cli.on("microk8s", "status", stdout=stdout, stderr=stderr, retcode=retcode)
    with pytest.raises(CommandExecutionError) as err:
        microk8s.status()
    assert fragment in str(err.value)


def test_worker_status_from_lock_uses_snap_services(cli, snap_data):
    (snap_data / "var/lock/clustered.lock").touch()
    cli.on(
        "snap",
        "services",
        stdout="Service  Startup  Current  Notes\nmicrok8s.daemon-kubelite  enabled  active  -\n",
    )
    result = microk8s.status()
    assert result == {
        "running": True,
        "role": "worker",
        "high_availability": {"enabled": False, "nodes": []},
        "addons": {},
    }
    assert cli.argvs() == [["snap", "services", "microk8s"]]
    assert microk8s.is_worker() is True


def test_worker_text_without_lock_is_a_worker(cli):
    cli.on(
        "microk8s",
        "status",
        stdout="This MicroK8s deployment is acting as a node in a cluster.\n"
        "Please use the control plane node.\n",
    )
    cli.on(
        "snap",
        "services",
        stdout="Service  Startup  Current  Notes\nmicrok8s.daemon-kubelite  enabled  inactive  -\n",
    )
    result = microk8s.status()
    assert result["role"] == "worker"
    assert result["running"] is False


def test_installed(cli):
    cli.on("snap", "list", stdout=SNAP_LIST)
    assert microk8s.installed() == {
        "channel": "1.32/stable",
        "version": "v1.32.3",
        "revision": "7964",
    }
    microk8s.installed()
    assert len(cli.calls) == 1


def test_installed_absent(cli):
    cli.on("snap", "list", stderr="error: no matching snaps installed", retcode=1)
    assert microk8s.installed() == {}


def test_installed_snapd_down(cli):
    cli.on(
        "snap",
        "list",
        stderr="error: cannot communicate with server: connection refused",
        retcode=1,
    )
    with pytest.raises(CommandExecutionError, match="cannot communicate with server"):
        microk8s.installed()


def test_install_uses_classic_and_drops_cache(cli):
    cli.on("snap", "list", stderr="error: no matching snaps installed", retcode=1, times=1)
    cli.on("snap", "install", stdout="microk8s (1.32/stable) v1.32.3 from Canonical✓ installed")
    cli.on("snap", "list", stdout=SNAP_LIST)
    assert microk8s.install("1.32/stable")["revision"] == "7964"
    assert ["snap", "install", "microk8s", "--classic", "--channel=1.32/stable"] in cli.argvs()


def test_install_strict_track_has_no_classic(cli):
    cli.on("snap", "list", stderr="error: no matching snaps installed", retcode=1, times=1)
    cli.on("snap", "install")
    cli.on("snap", "list", stdout=SNAP_LIST)
    microk8s.install("1.32-strict/stable")
    assert ["snap", "install", "microk8s", "--channel=1.32-strict/stable"] in cli.argvs()


def test_version(cli):
    cli.on("microk8s", "version", stdout="MicroK8s v1.32.3 revision 7964\n")
    assert microk8s.version() == {"version": "1.32.3", "revision": "7964"}


@pytest.mark.parametrize(
    ("function", "args", "kwargs", "argument"),
    [
        ("enable", ["dnss"], {}, "name:"),
        ("enable", ["metallb"], {}, "args:"),
        ("enable", ["dns"], {"args": {"x": 1}}, "args:"),
        ("disable", ["ha-cluster"], {}, "name:"),
        ("disable", ["helm3"], {}, "name:"),
        ("join", ["10.0.0.1:25000/short"], {}, "connection (token part)"),
        ("join", ["cp1:25000/" + TOKEN], {}, "connection:"),
        ("add_node", [], {"token": "short"}, "token:"),
        ("add_node", [], {"ttl": "soon"}, "ttl:"),
        ("install", ["1.32/unstable"], {}, "channel:"),
        ("refresh", ["nope/stable"], {}, "channel:"),
        ("refresh_certs", ["kubelet.crt"], {}, "cert:"),
        ("remove_node", ["--force"], {}, "node:"),
        ("add_extra_san", ["bad name!"], {}, "value:"),
        ("register_token", ["x" * 31], {}, "token:"),
        ("token_standing", [TOKEN + "|1"], {}, "token:"),
        ("join_info", [], {"address": "cp1"}, "address:"),
        ("status", [], {"timeout": "soon"}, "timeout:"),
    ],
)
def test_bad_input_raises_before_any_command(cli, function, args, kwargs, argument):
    with pytest.raises(SaltInvocationError) as err:
        getattr(microk8s, function)(*args, **kwargs)
    assert argument in str(err.value)
    assert cli.calls == []
    assert TOKEN not in str(err.value)


@pytest.mark.parametrize(
    ("function", "args", "expected_argv"),
    [
        ("enable", ["dns"], ["microk8s", "enable", "dns"]),
        (
            "enable",
            ["core/metallb", "10.0.0.1-10.0.0.5"],
            ["microk8s", "enable", "core/metallb", "10.0.0.1-10.0.0.5"],
        ),
        (
            "enable",
            ["registry", ["--size", "20Gi"]],
            ["microk8s", "enable", "registry", "--size", "20Gi"],
        ),
        ("disable", ["metrics-server"], ["microk8s", "disable", "metrics-server"]),
        (
            "disable",
            ["hostpath-storage", True],
            ["microk8s", "disable", "hostpath-storage:destroy-storage"],
        ),
        ("remove_node", ["10.0.0.12", True], ["microk8s", "remove-node", "10.0.0.12", "--force"]),
        ("leave", [], ["microk8s", "leave"]),
        ("refresh_certs", [], ["microk8s", "refresh-certs", "--cert", "server.crt"]),
        ("start", [], ["microk8s", "start"]),
        ("stop", [], ["microk8s", "stop"]),
        ("refresh", ["1.33/stable"], ["snap", "refresh", "microk8s", "--channel=1.33/stable"]),
    ],
)
def test_changes_run_one_command_and_drop_the_cache(cli, function, args, expected_argv):
    cli.on("microk8s", "status", stdout=STATUS_YAML)
    cli.on("snap", "list", stdout=SNAP_LIST)
    cli.on(*expected_argv)
    microk8s.status()
    microk8s.installed()
    getattr(microk8s, function)(*args)
    assert expected_argv in cli.argvs()
    assert "microk8s.status" not in microk8s.__context__
    if function == "refresh":  # returns the snap as read again after the change
        assert cli.argvs().count(["snap", "list", "microk8s"]) == 2
    else:
        assert not [key for key in microk8s.__context__ if key.startswith("microk8s.")]


def test_worker_start_stop_use_snap(cli, snap_data):
    (snap_data / "var/lock/clustered.lock").touch()
    cli.on("snap", "start")
    cli.on("snap", "stop")
    microk8s.start()
    microk8s.stop()
    assert cli.argvs() == [["snap", "start", "microk8s"], ["snap", "stop", "microk8s"]]


def test_worker_refuses_control_plane_commands(cli, snap_data):
    (snap_data / "var/lock/clustered.lock").touch()
    for call in (
        lambda: microk8s.enable("dns"),
        microk8s.add_node,
        microk8s.nodes,
        lambda: microk8s.remove_node("n1"),
    ):
        with pytest.raises(CommandExecutionError, match="worker"):
            call()
    assert cli.calls == []


def test_enable_missing_addon_in_custom_repo_exit_0_is_an_error(cli):
    cli.on("microk8s", "enable", stdout="Addon myrepo/thing not found\n")
    with pytest.raises(CommandExecutionError, match="does not exist"):
        microk8s.enable("myrepo/thing")


def test_enable_hook_failure_quotes_output(cli):
    cli.on(
        "microk8s",
        "enable",
        retcode=1,
        stdout="Your input value (1.2.3.4) is not a valid and reachable IP address\n",
    )
    with pytest.raises(CommandExecutionError, match="not a valid and reachable IP"):
        microk8s.enable("dns", args="1.2.3.4")


def test_disable_hostpath_prompt_declined_keeps_data(cli):
    cli.on(
        "microk8s",
        "disable",
        retcode=1,
        stdout="Remove PVC storage at /var/snap/microk8s/common/default-storage ? (Y/N): ",
    )
    assert microk8s.disable("hostpath-storage") is True


def test_add_node_returns_token_but_never_logs_it(cli, caplog):
    cli.on(
        "microk8s",
        "add-node",
        stdout=json.dumps(
            {"token": f"{TOKEN}/a1b2c3d4e5f6", "urls": [f"10.0.0.11:25000/{TOKEN}/a1b2c3d4e5f6"]}
        ),
    )
    with caplog.at_level(logging.DEBUG):
        result = microk8s.add_node(token=TOKEN, ttl=3600)
    assert result == {
        "token": TOKEN,
        "check": "a1b2c3d4e5f6",
        "urls": [f"10.0.0.11:25000/{TOKEN}/a1b2c3d4e5f6"],
    }
    assert cli.argvs() == [
        ["microk8s", "add-node", "--format", "json", "--token", TOKEN, "--token-ttl", "3600"]
    ]
    assert cli.calls[0]["output_loglevel"] == "quiet"
    assert "add-node" in caplog.text
    assert TOKEN not in caplog.text


def test_add_node_failure_message_has_no_token(cli):
    cli.on("microk8s", "add-node", retcode=1, stderr=f"oops {TOKEN}\n")
    with pytest.raises(CommandExecutionError) as err:
        microk8s.add_node(token=TOKEN)
    assert TOKEN not in str(err.value)
    assert "oops ***" in str(err.value)


def test_join_retries_unreachable_then_succeeds(cli, caplog):
    refused = (
        "Contacting cluster at 10.0.0.11\nConnectionRefusedError: [Errno 111] Connection refused"
    )
    cli.on("microk8s", "join", retcode=1, stdout=refused, times=2)
    cli.on("microk8s", "join", stdout="Successfully joined the cluster.\n")
    with caplog.at_level(logging.DEBUG):
        result = microk8s.join(f"10.0.0.11:25000/{TOKEN}/A1B2C3D4E5F6", worker=True)
    assert result == {"address": "10.0.0.11:25000", "role": "worker", "attempts": 3}
    assert cli.argvs()[0] == [
        "microk8s",
        "join",
        f"10.0.0.11:25000/{TOKEN}/a1b2c3d4e5f6",
        "--worker",
    ]
    assert all("--controlplane" not in argv for argv in cli.argvs())
    assert TOKEN not in caplog.text


def test_join_gives_up_after_bounded_attempts(cli):
    microk8s.__opts__["microk8s.join_attempts"] = 3
    cli.on("microk8s", "join", retcode=5, stdout="Connecting to cluster failed with timeout")
    with pytest.raises(CommandExecutionError) as err:
        microk8s.join(f"10.0.0.11:25000/{TOKEN}")
    assert len(cli.calls) == 3
    assert "gave up after 3 attempts" in str(err.value)


@pytest.mark.parametrize(
    ("output", "retcode", "advice"),
    [
        ("Connection failed. Invalid token (500).", 6, "must register it again"),
        (
            "Connection failed. Failed to retrieve dqlite cluster nodes: the joining node "
            "(10.1.0.5) is already known to dqlite (500).",
            6,
            "remove-node <this node's ip> --force",
        ),
    ],
)
def test_join_fails_at_once_with_advice(cli, output, retcode, advice):
    cli.on("microk8s", "join", retcode=retcode, stdout=f"Contacting cluster at 10.0.0.11\n{output}")
    with pytest.raises(CommandExecutionError) as err:
        microk8s.join(f"10.0.0.11:25000/{TOKEN}")
    assert len(cli.calls) == 1
    assert advice in str(err.value)
    assert TOKEN not in str(err.value)


def test_missing_binary_error_hides_token(cli):
    cli.fail_with = "Unable to run command '{argv}' reason: No such file"
    with pytest.raises(CommandExecutionError) as err:
        microk8s.join(f"10.0.0.11:25000/{TOKEN}")
    assert TOKEN not in str(err.value)
    assert "installed" in str(err.value)


def test_nodes(cli):
    cli.on(
        "microk8s",
        "kubectl",
        stdout='{"items": [{"metadata": {"name": "cp1", "labels": '
        '{"node.kubernetes.io/microk8s-controlplane": "microk8s-controlplane"}}, '
        '"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.11"}], '
        '"conditions": [{"type": "Ready", "status": "True"}]}}]}',
    )
    assert microk8s.nodes() == [
        {
            "name": "cp1",
            "ready": True,
            "roles": ["control-plane"],
            "address": "10.0.0.11",
            "version": "",
            "unschedulable": False,
        }
    ]
    assert cli.argvs() == [["microk8s", "kubectl", "get", "nodes", "-o", "json"]]


def test_token_standing_and_register_prunes_shadowing_line(cli, snap_data):
    tokens_file = snap_data / "credentials/cluster-tokens.txt"
    tokens_file.write_text(f"{OTHER_TOKEN}\n{TOKEN}|100\n")
    os.chmod(tokens_file, 0o660)
    assert microk8s.token_standing(TOKEN) == "expired"
    cli.on("microk8s", "add-node", stdout=f'{{"token": "{TOKEN}/aaaaaaaaaaaa", "urls": []}}')
    result = microk8s.register_token(TOKEN, ttl=600)
    assert result == {"registered": True, "ttl": 600}
    assert tokens_file.read_text() == f"{OTHER_TOKEN}\n"
    assert stat.S_IMODE(tokens_file.stat().st_mode) == 0o660
    assert cli.argvs() == [
        ["microk8s", "add-node", "--format", "json", "--token", TOKEN, "--token-ttl", "600"]
    ]


def test_extra_sans_edit_template_idempotently(snap_data):
    template = snap_data / "certs/csr.conf.template"
    template.write_text(
        "[ alt_names ]\nDNS.1 = kubernetes\nIP.1 = 127.0.0.1\n#MOREIPS\n\n[ v3_ext ]\n"
    )
    os.chmod(template, 0o640)
    assert microk8s.extra_sans() == []
    assert microk8s.add_extra_san("10.0.0.100") == {"changed": True, "extra_sans": ["10.0.0.100"]}
    assert microk8s.add_extra_san("10.0.0.100") == {"changed": False, "extra_sans": ["10.0.0.100"]}
    assert "IP.100 = 10.0.0.100\n#MOREIPS\n" in template.read_text()
    assert stat.S_IMODE(template.stat().st_mode) == 0o640


def test_extra_sans_without_template(snap_data):
    with pytest.raises(CommandExecutionError, match="is MicroK8s installed"):
        microk8s.extra_sans()


def test_fingerprint_and_join_info(snap_data, cli):
    from cryptography.hazmat.primitives import serialization

    certificate = self_signed_certificate()
    (snap_data / "certs/server.crt").write_bytes(
        certificate.public_bytes(serialization.Encoding.PEM)
    )
    check = microk8s.fingerprint()
    assert len(check) == 12
    assert microk8s.join_info() == {"address": "10.1.0.5:25000", "fingerprint": check}
    assert microk8s.join_info(address="10.1.0.9")["address"] == "10.1.0.9:25000"
    microk8s.__opts__["microk8s.node_address"] = "10.1.0.7"
    assert microk8s.node_addresses() == ["10.1.0.7", "10.1.0.5"]
    assert cli.calls == []


def test_every_public_function_has_a_cli_example():
    public = [
        name
        for name, value in vars(microk8s).items()
        if callable(value)
        and not name.startswith("_")
        and getattr(value, "__module__", None) == microk8s.__name__
    ]
    assert len(public) > 25
    for name in public:
        doc = getattr(microk8s, name).__doc__ or ""
        assert "CLI Example:" in doc, name
        assert ".. code-block:: bash" in doc, name
        assert f"salt '*' microk8s.{name}" in doc, name


@pytest.mark.parametrize("case", load_cases(__file__, "minion_options"))
def test_bad_minion_options_name_the_option_before_any_command(cli, case):
    microk8s.__opts__.update(case["options"])
    with pytest.raises(SaltInvocationError) as err:
        if case["call"] == "join":
            microk8s.join(f"10.0.0.11:25000/{TOKEN}")
        else:
            microk8s.status(wait_ready=True)
    assert case["error"] in str(err.value)
    assert "/etc/salt/minion" in str(err.value)  # says where to fix it
    assert cli.calls == []
    assert TOKEN not in str(err.value)


def test_join_backoff_is_capped_from_the_first_sleep(cli, monkeypatch):
    """join_backoff 1e6 with join_backoff_max 0.5: every sleep is at most 0.5 s."""
    slept = []
    monkeypatch.setattr(microk8s.time, "sleep", slept.append)
    microk8s.__opts__.update(
        {
            "microk8s.join_attempts": 3,
            "microk8s.join_backoff": 1e6,
            "microk8s.join_backoff_max": 0.5,
        }
    )
    cli.on("microk8s", "join", retcode=5, stdout="Connecting to cluster failed with timeout")
    with pytest.raises(CommandExecutionError):
        microk8s.join(f"10.0.0.11:25000/{TOKEN}")
    assert slept == [0.5, 0.5]


@pytest.mark.parametrize("margin", ["abc", -1, float("nan"), [1]])
def test_token_standing_bad_margin_names_it(cli, margin):
    with pytest.raises(SaltInvocationError) as err:
        microk8s.token_standing(TOKEN, margin=margin)
    assert str(err.value).startswith("margin: ")
    assert TOKEN not in str(err.value)


# Issue 9 item 5: addon_status on a stopped node said "disabled" (MicroK8s lists no addons
# while it is stopped, or on a worker): it cannot tell, and says what to do.
@pytest.mark.parametrize(
    ("stdout", "retcode", "advice"),
    [
        ("microk8s is not running, try microk8s start\n", 0, "microk8s.start"),
        (
            "microk8s:\n  running: False\nhigh-availability:\n  enabled: True\n  nodes:\n"
            "  message: microk8s is not running. Use microk8s inspect for a deeper inspection.\n",
            1,
            "microk8s.start",
        ),
    ],
    ids=["stopped", "not-running"],
)
def test_addon_status_on_a_stopped_node_cannot_tell(cli, stdout, retcode, advice):
    cli.on("microk8s", "status", stdout=stdout, retcode=retcode)
    with pytest.raises(CommandExecutionError) as err:
        microk8s.addon_status("dns")
    assert "cannot tell whether addon dns is enabled" in str(err.value)
    assert advice in str(err.value)


def test_addon_status_on_a_worker_cannot_tell(cli, snap_data):
    (snap_data / "var/lock/clustered.lock").touch()
    cli.on(
        "snap",
        "services",
        stdout="Service  Startup  Current  Notes\nmicrok8s.daemon-kubelite  enabled  active  -\n",
    )
    with pytest.raises(CommandExecutionError) as err:
        microk8s.addon_status("dns")
    assert "worker" in str(err.value)
    assert "control plane" in str(err.value)


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["1.1.1.1", "--help"], "--help"])
def test_help_as_addon_argument_is_refused(cli, args):
    """`microk8s enable dns --help` prints a help text, enables nothing and exits 0
    (scripts/wrappers/common/utils.py check_help_flag): it would pass for a success."""
    with pytest.raises(SaltInvocationError) as err:
        microk8s.enable("dns", args=args)
    assert str(err.value).startswith("args: ")
    assert "help" in str(err.value)
    assert cli.calls == []


def test_enable_printing_the_help_text_is_not_a_success(cli):
    cli.on(
        "microk8s",
        "enable",
        stdout="Addon dns does not yet have a help message.\n"
        "For more information about it, visit https://microk8s.io/docs/addons\n",
    )
    with pytest.raises(CommandExecutionError) as err:
        microk8s.enable("dns", args=["--upstream=-h"])
    assert "printed its help" in str(err.value)
