"""Pure helpers of the simulator: dqlite roles, CSR rendering, snap channels (no daemons)."""

import pytest

from kubesalt.sim.microk8s import catalog
from kubesalt.sim.microk8s.certs import render_csr_conf
from kubesalt.sim.microk8s.host import Host
from kubesalt.sim.microk8s.host import roles_of
from kubesalt.sim.microk8s.snapcmd import SnapError
from kubesalt.sim.microk8s.snapcmd import parse_channel
from kubesalt.sim.microk8s.snapcmd import tabulate


@pytest.mark.parametrize(
    ("members", "roles"),
    [
        (1, ["voter"]),
        (2, ["voter", "spare"]),
        (3, ["voter"] * 3),
        (4, ["voter"] * 3 + ["standby"]),
        (7, ["voter"] * 3 + ["standby"] * 3 + ["spare"]),
        (8, ["voter"] * 3 + ["standby"] * 3 + ["spare"] * 2),
    ],
)
def test_dqlite_roles(members, roles):
    addresses = [{"address": f"10.0.0.{n}:19001"} for n in range(members)]
    assert [role for _, role in roles_of(addresses)] == roles


def test_csr_rendering_numbers_from_three_and_skips_used_indices():
    assert "IP.3 = 10.0.0.5\n\n[ v3_ext ]" in render_csr_conf(catalog.CSR_TEMPLATE, ["10.0.0.5"])
    template = catalog.CSR_TEMPLATE.replace("#MOREIPS", "IP.3 = 192.0.2.7\n#MOREIPS")
    rendered = render_csr_conf(template, ["10.0.0.5", "10.0.0.6"])
    assert "IP.3 = 192.0.2.7\nIP.4 = 10.0.0.5\nIP.5 = 10.0.0.6\n" in rendered
    loopback_only = render_csr_conf(catalog.CSR_TEMPLATE, ["127.0.0.1"])
    assert "IP.2 = 10.152.183.1\n\n\n[ v3_ext ]" in loopback_only


@pytest.mark.parametrize(
    ("channel", "expected"),
    [
        ("1.32/stable", ("1.32", "stable")),
        ("1.32", ("1.32", "stable")),
        ("edge", ("latest", "edge")),
        ("latest/beta", ("latest", "beta")),
        ("1.32/stable/hotfix", ("1.32", "stable")),
        ("1.32/sable", "invalid risk in channel name: 1.32/sable"),
        ("1.0////", "channel name has too many components: 1.0////"),
        ("stable/", "invalid branch in channel name: stable/"),
        ("/stable", "invalid track in channel name: /stable"),
        ("", "channel name cannot be empty"),
    ],
)
def test_snap_channel_parsing(channel, expected):
    if isinstance(expected, str):
        with pytest.raises(SnapError, match=f"^{expected}$"):
            parse_channel(channel)
    else:
        assert parse_channel(channel) == expected


def test_tabwriter_layout():
    table = tabulate([["Name", "Rev", "Notes"], ["microk8s", "7964", "classic"]])
    assert table == "Name      Rev   Notes\nmicrok8s  7964  classic"


def test_root_slash_uses_the_real_paths():
    from pathlib import Path

    from kubesalt.sim.microk8s.host import Host
    from kubesalt.sim.microk8s.snapcmd import launcher_path

    host = Host("/", "10.0.0.11", "cp1")
    assert launcher_path(host) == Path("/usr/local/bin/snap")
    assert host.snap_bin == Path("/snap/bin")
    assert host.data == Path("/var/snap/microk8s/current")
    assert host.common == Path("/var/snap/microk8s/common")
    assert Host("/tmp/x", "10.0.0.11").hostname == "node-10-0-0-11"


def test_the_cluster_agent_binds_as_its_arguments_say_unless_given_an_address(tmp_path):
    """Upstream's args/cluster-agent says `--bind 0.0.0.0:25000`: a node installed without
    an address (a machine of its own, the lab cloud's instances) listens on every interface,
    so a join to its private address works when its default route is public (issue 11
    defect 9); a node given an address (nodes sharing a namespace) keeps to that address."""
    own = Host(tmp_path / "own", "10.0.0.20", "k8s-master")
    own.save_identity("k8s-master", bind_from_args=True)
    assert own.agent_bind_address() == "0.0.0.0"  # noqa: S104
    (own.data / "args").mkdir(parents=True)
    (own.data / "args/cluster-agent").write_text("--bind=10.1.0.10:25000\n--timeout=240\n")
    assert own.agent_bind_address() == "10.1.0.10"
    shared = Host(tmp_path / "shared", "127.0.1.72", "node-a")
    shared.save_identity("node-a")
    assert shared.agent_bind_address() == "127.0.1.72"
