"""State logic with a fake execution module: decisions no simulator run reaches easily."""

import pytest
from salt.exceptions import CommandExecutionError

from tests.support.fake_salt import specced
from tests.support.loading import load_ext

TOKEN = "0123456789abcdef0123456789abcdef"


states = load_ext("states", "microk8s")


def _status(members=(), running=True, role="control-plane"):
    return {
        "running": running,
        "role": role,
        "high_availability": {
            "enabled": True,
            "nodes": [{"address": f"{ip}:19001", "role": "voter"} for ip in members],
        },
        "addons": {},
    }


class FakeMicrok8s:
    """The execution module functions the states call, with recorded calls."""

    def __init__(self):
        self.calls = []
        self.worker = False
        self.status_value = _status(["127.0.0.1"])
        self.status_after_join = _status(["10.0.0.11", "10.0.0.12"])
        self.join_errors = {}
        self.standing = "absent"
        self.nodes_value = []
        self.remove_error = None

    def functions(self):
        return specced(
            "modules",
            {
                "microk8s.installed": lambda: {"channel": "1.32/stable", "version": "v1.32.3"},
                "microk8s.is_worker": lambda: self.worker,
                "microk8s.status": self.status,
                "microk8s.node_addresses": lambda: ["10.0.0.12"],
                "microk8s.join": self.join,
                "microk8s.token_standing": self.token_standing,
                "microk8s.register_token": self.register_token,
                "microk8s.nodes": lambda: self.nodes_value,
                "microk8s.remove_node": self.remove_node,
            },
        )

    def status(self, wait_ready=False):
        self.calls.append(("status", wait_ready))
        return self.status_value

    def join(self, connection, worker=False):
        self.calls.append(("join", connection, worker))
        ip = connection.split(":")[0]
        if ip in self.join_errors:
            raise CommandExecutionError(self.join_errors[ip])
        self.status_value = self.status_after_join
        return {"address": connection.split("/")[0], "role": "worker" if worker else "cp"}

    def token_standing(self, token, margin=0):
        self.calls.append(("token_standing", margin))
        return self.standing

    def register_token(self, token, ttl=None):
        self.calls.append(("register_token", ttl))
        self.standing = "valid" if ttl else "single-use"
        return {"registered": True, "ttl": ttl}

    def remove_node(self, node, force=False):
        self.calls.append(("remove_node", node, force))
        self.status_value = _status(["10.0.0.11"])
        if self.remove_error:
            raise CommandExecutionError(self.remove_error)
        return True


@pytest.fixture
def fake():
    return FakeMicrok8s()


@pytest.fixture
def configure_loader_modules(fake):
    return {
        states: {
            "__salt__": fake.functions(),
            "__opts__": {"test": False},
            "__context__": {},
            "__pillar__": {"kubesalt": {"microk8s": {"join_token": TOKEN, "short": "abc"}}},
        }
    }


def test_cluster_joined_tries_addresses_in_turn(fake):
    fake.join_errors = {"10.0.0.10": f"microk8s join failed: could not reach 10.0.0.10 {TOKEN}"}
    ret = states.cluster_joined("10.0.0.10, 10.0.0.11:25000", token=TOKEN, fingerprint="AB" * 6)
    assert ret["result"] is True, ret["comment"]
    assert ret["changes"] == {"joined": {"old": False, "new": True}, "role": "control-plane"}
    joins = [c for c in fake.calls if c[0] == "join"]
    assert [c[1] for c in joins] == [
        f"10.0.0.10:25000/{TOKEN}/abababababab",
        f"10.0.0.11:25000/{TOKEN}/abababababab",
    ]
    assert ("status", True) in fake.calls  # waited for readiness


def test_cluster_joined_all_fail(fake):
    fake.join_errors = {"10.0.0.10": "no route", "10.0.0.11": "Invalid token"}
    ret = states.cluster_joined("n", addresses=["10.0.0.10", "10.0.0.11"], token=TOKEN)
    assert ret["result"] is False
    assert ret["changes"] == {}
    assert "no route | Invalid token" in ret["comment"]


def test_cluster_joined_not_ready_after_join_keeps_changes(fake):
    fake.status_after_join = _status(["10.0.0.11", "10.0.0.12"], running=False)
    ret = states.cluster_joined("10.0.0.11", token=TOKEN)
    assert ret["result"] is False
    assert ret["changes"]["joined"] == {"old": False, "new": True}
    assert "not running/ready" in ret["comment"]


def test_cluster_joined_refuses_to_leave_another_cluster(fake):
    fake.status_value = _status(["10.0.0.50", "10.0.0.12"])
    ret = states.cluster_joined("10.0.0.11", token=TOKEN)
    assert ret["result"] is False
    assert "already a control plane of a cluster" in ret["comment"]
    assert not [c for c in fake.calls if c[0] == "join"]


def test_cluster_joined_already_member_and_wrong_role(fake):
    fake.status_value = _status(["10.0.0.11", "10.0.0.12"])
    assert states.cluster_joined("10.0.0.11", token=TOKEN)["changes"] == {}
    worker = states.cluster_joined("10.0.0.11", token=TOKEN, worker=True)
    assert worker["result"] is False
    assert "not a worker" in worker["comment"]


def test_cluster_joined_test_mode_same_changes(fake):
    states.__opts__["test"] = True
    ret = states.cluster_joined("10.0.0.11", token=TOKEN, worker=True)
    assert ret["result"] is None
    assert ret["changes"] == {"joined": {"old": False, "new": True}, "role": "worker"}
    assert not [c for c in fake.calls if c[0] == "join"]


@pytest.mark.parametrize(
    ("standing", "ttl", "registers"),
    [
        ("valid", 600, False),
        ("single-use", None, False),
        ("single-use", 600, True),  # a TTL is wanted: the single-use line is replaced
        ("expiring", 600, True),
        ("expired", 600, True),
        ("absent", None, True),
    ],
)
def test_token_registered_decisions(fake, standing, ttl, registers):
    fake.standing = standing
    ret = states.token_registered("node-b", token=TOKEN, ttl=ttl)
    assert ret["result"] is True, ret["comment"]
    assert bool(ret["changes"]) is registers
    assert (("register_token", ttl) in fake.calls) is registers
    assert TOKEN not in str(ret)


def test_token_registered_default_margin(fake):
    fake.standing = "valid"
    states.token_registered("n", token=TOKEN, ttl=7200)
    assert ("token_standing", 3600) in fake.calls


def test_node_removed_dqlite_only_member_with_force(fake):
    fake.status_value = _status(["10.0.0.11", "10.0.0.13"])
    fake.remove_error = "Node 10.0.0.13 does not exist in Kubernetes."
    ret = states.node_removed("10.0.0.13", force=True)
    assert ret["result"] is True, ret["comment"]
    assert ret["changes"] == {"node": {"old": "present", "new": "absent"}}


def test_node_removed_without_force_reports_the_error(fake):
    fake.nodes_value = [{"name": "w1", "address": "10.0.0.21", "ready": False, "roles": []}]
    fake.remove_error = "Removal failed. Node w1 is registered with dqlite."
    ret = states.node_removed("w1")
    assert ret["result"] is False
    assert "registered with dqlite" in ret["comment"]


def test_addon_states_refuse_on_a_worker(fake):
    fake.worker = True
    ret = states.addon_enabled("dns")
    assert ret["result"] is False
    assert "worker" in ret["comment"]


def test_tokens_from_pillar(fake):
    ret = states.cluster_joined("10.0.0.11", token_pillar="kubesalt:microk8s:join_token")
    assert ret["result"] is True, ret["comment"]
    assert [c[1] for c in fake.calls if c[0] == "join"] == [f"10.0.0.11:25000/{TOKEN}"]
    registered = states.token_registered("n", ttl=60, token_pillar="kubesalt:microk8s:join_token")
    assert registered["result"] is True
    assert registered["name"] == "n"
    missing = states.token_registered("n", token_pillar="kubesalt:nothing")
    assert missing["result"] is False
    assert "token_pillar: pillar has no value at 'kubesalt:nothing'" in missing["comment"]
    short = states.cluster_joined("10.0.0.11", token_pillar="kubesalt:microk8s:short")
    assert (
        "token_pillar (kubesalt:microk8s:short): a join token needs at least 32"
        in (short["comment"])
    )
    assert "token: give the join token" in states.cluster_joined("10.0.0.11")["comment"]


def test_cluster_joined_does_not_guess_when_dqlite_is_unreadable(fake):
    fake.status_value = _status([])
    ret = states.cluster_joined("10.0.0.11", token=TOKEN)
    assert ret["result"] is False
    assert "lists no dqlite member" in ret["comment"]
    assert not [c for c in fake.calls if c[0] == "join"]


@pytest.mark.parametrize("margin", ["abc", -5, float("inf")])
@pytest.mark.parametrize("test_mode", [False, True])
def test_token_registered_bad_margin_names_it_and_changes_nothing(fake, margin, test_mode):
    states.__opts__["test"] = test_mode
    ret = states.token_registered("n", token=TOKEN, ttl=600, margin=margin)
    assert ret["result"] is False
    assert ret["comment"].startswith("margin: ")
    assert ret["changes"] == {}
    assert not [c for c in fake.calls if c[0] == "register_token"]


# Issue 9 item 5: a join token passed as a state's `name` lands in the state's return key,
# its __id__ and the job cache. The states refuse it and say to use token_pillar, without
# echoing the token.
OTHER = "fedcba9876543210fedcba9876543210"
TOKEN_AS_NAME = [
    pytest.param(lambda: states.token_registered(TOKEN, ttl=600), id="token_registered-name"),
    pytest.param(
        lambda: states.token_registered(TOKEN, ttl=600, token=OTHER),
        id="token_registered-name+token",
    ),
    pytest.param(
        lambda: states.token_registered(
            TOKEN, ttl=600, token_pillar="kubesalt:microk8s:join_token"
        ),
        id="token_registered-name+token_pillar",
    ),
    pytest.param(
        lambda: states.cluster_joined(f"10.0.0.11:25000/{TOKEN}"), id="cluster_joined-url-name"
    ),
    pytest.param(
        lambda: states.cluster_joined(f"10.0.0.11:25000/{TOKEN}/a1b2c3d4e5f6", token=OTHER),
        id="cluster_joined-url-with-check",
    ),
    pytest.param(
        lambda: states.cluster_joined(TOKEN, addresses=["10.0.0.11"], token=OTHER),
        id="cluster_joined-token-as-label",
    ),
]


@pytest.mark.parametrize("call", TOKEN_AS_NAME)
@pytest.mark.parametrize("test_mode", [False, True])
def test_token_as_state_name_is_refused_without_echo(fake, call, test_mode):
    states.__opts__["test"] = test_mode
    ret = call()
    assert ret["result"] is False
    assert "token_pillar" in ret["comment"]
    assert "name" in ret["comment"]
    assert TOKEN not in str(ret)
    assert ret["changes"] == {}
    assert not [c for c in fake.calls if c[0] in ("join", "register_token")]


def test_long_minion_id_as_label_is_not_a_token(fake):
    ret = states.token_registered(
        "k8s-worker-0123456789.prod.example.com",
        ttl=600,
        token_pillar="kubesalt:microk8s:join_token",
    )
    assert ret["result"] is True, ret["comment"]


class FakeCerts:
    """extra_sans (the CSR template), server_cert_sans (server.crt itself), refresh_certs."""

    def __init__(self, fake, refresh_failures=0):
        self.template = ["10.0.0.5"]
        self.cert = ["10.0.0.5"]
        self.refresh_failures = refresh_failures
        self.calls = fake.calls

    def install(self, functions):
        functions.update(
            {
                "microk8s.extra_sans": lambda: list(self.template),
                "microk8s.server_cert_sans": lambda: list(self.cert),
                "microk8s.add_extra_san": self.add,
                "microk8s.refresh_certs": self.refresh,
            }
        )

    def add(self, value):
        self.calls.append(("add_extra_san", value))
        changed = value not in self.template
        if changed:
            self.template.append(value)
        return {"changed": changed, "extra_sans": list(self.template)}

    def refresh(self, cert="server.crt"):
        self.calls.append(("refresh_certs", cert))
        if self.refresh_failures:
            self.refresh_failures -= 1
            raise CommandExecutionError("microk8s refresh-certs --cert server.crt failed (exit 1)")
        self.cert = list(self.template)
        return True


@pytest.fixture
def certs(fake):
    fake_certs = FakeCerts(fake)
    fake_certs.install(states.__salt__)
    return fake_certs


def test_extra_san_retried_until_server_crt_has_it(fake, certs):
    """Issue 9 item 5: the template was written before refresh-certs; when the refresh failed,
    every later run said "already a SAN" and the certificate never got it."""
    certs.refresh_failures = 1
    first = states.extra_san_present("10.0.0.20")
    assert first["result"] is False
    assert "refresh-certs" in first["comment"]
    assert certs.template == ["10.0.0.5", "10.0.0.20"]
    assert certs.cert == ["10.0.0.5"]
    second = states.extra_san_present("10.0.0.20")
    assert second["result"] is True, second["comment"]
    assert second["changes"] == {
        "server.crt": {"old": ["10.0.0.5"], "new": ["10.0.0.5", "10.0.0.20"]}
    }
    assert certs.cert == ["10.0.0.5", "10.0.0.20"]
    third = states.extra_san_present("10.0.0.20")
    assert third["result"] is True
    assert third["changes"] == {}
    assert [c for c in fake.calls if c[0] == "refresh_certs"] == [
        ("refresh_certs", "server.crt")
    ] * 2


@pytest.mark.parametrize("test_mode", [True, False])
def test_extra_san_reports_template_and_certificate_changes(fake, certs, test_mode):
    states.__opts__["test"] = test_mode
    ret = states.extra_san_present("k8s.example.com")
    expected = {
        "extra_sans": {"old": ["10.0.0.5"], "new": ["10.0.0.5", "k8s.example.com"]},
        "server.crt": {"old": ["10.0.0.5"], "new": ["10.0.0.5", "k8s.example.com"]},
    }
    assert ret["changes"] == expected
    assert ret["result"] is (None if test_mode else True)
    assert bool([c for c in fake.calls if c[0] == "refresh_certs"]) is not test_mode


def test_extra_san_in_certificate_but_not_in_template_is_kept_there(fake, certs):
    """Whoever refreshes next re-renders from the template: a SAN only in server.crt would go."""
    certs.cert.append("10.0.0.20")
    ret = states.extra_san_present("10.0.0.20")
    assert ret["result"] is True
    assert ret["changes"] == {"extra_sans": {"old": ["10.0.0.5"], "new": ["10.0.0.5", "10.0.0.20"]}}
    assert not [c for c in fake.calls if c[0] == "refresh_certs"]


def test_extra_san_on_a_worker_is_refused(fake, certs):
    """A worker serves no API: `microk8s refresh-certs` there only says to use the control
    plane (exit 0), so nothing was refreshed although the state said so."""
    fake.worker = True
    ret = states.extra_san_present("10.0.0.20")
    assert ret["result"] is False
    assert "worker" in ret["comment"]
    assert "refreshed" not in ret["comment"]
    assert ret["changes"] == {}
    assert not [c for c in fake.calls if c[0] in ("add_extra_san", "refresh_certs")]
