"""host_security runs its commands through the project's one runner (``common_lib.command.run``)
on a recording ``cmd.run_all`` bound to Salt's real signature: argv lists, quiet, a timeout,
an empty stdin; a command that cannot run at all is a missing prerequisite (``None`` under
``test=True``, ``False`` otherwise); a failed one is ``False``, its stderr in the comment."""

import pytest

from tests.support.fake_cmd import FakeRunAll
from tests.support.loading import load_ext

host_security = load_ext("states", "host_security")
RULES = "/etc/iptables/rules.v4"
FLUSHED = "-P INPUT ACCEPT"
LOADED = "-P INPUT DROP"
MASQUERADE = "-A POSTROUTING -s 10.1.0.0/16 -o eth0 -j MASQUERADE"


@pytest.fixture
def cli():
    return FakeRunAll()


@pytest.fixture
def opts():
    return {"test": False}


@pytest.fixture
def configure_loader_modules(cli, opts):
    return {host_security: {"__salt__": {"cmd.run_all": cli}, "__opts__": opts}}


def assert_through_the_runner(cli):
    assert cli.calls
    for call in cli.calls:
        assert call["python_shell"] is False and call["output_loglevel"] == "quiet"
        assert call["timeout"] and call["stdin"] == "" and call["ignore_retcode"] is True
        assert call["env"] == {"LC_ALL": "C.UTF-8"}


def test_flushed_rules_are_restored(cli):
    cli.on("/usr/sbin/iptables", "-S", "INPUT", stdout=FLUSHED)
    cli.on("/usr/sbin/iptables", "-t", "nat", stdout=MASQUERADE)
    cli.on("/usr/sbin/iptables-restore", RULES)
    ret = host_security.iptables_live(RULES)
    assert (ret["result"], ret["changes"]) == (True, {"restored": RULES})
    assert cli.argvs()[-1] == ["/usr/sbin/iptables-restore", RULES]
    assert_through_the_runner(cli)


def test_loaded_rules_are_left_alone(cli):
    cli.on("/usr/sbin/iptables", "-S", "INPUT", stdout=f":INPUT\n{LOADED}\n")
    cli.on("/usr/sbin/iptables", "-t", "nat", stdout=MASQUERADE)
    ret = host_security.iptables_live(RULES)
    assert (ret["result"], ret["changes"]) == (True, {})
    assert len(cli.calls) == 2
    assert_through_the_runner(cli)


def test_a_failed_restore_is_false_with_its_stderr(cli):
    cli.on("/usr/sbin/iptables", "-S", stdout=FLUSHED)
    cli.on("/usr/sbin/iptables", "-t", "nat", stdout=MASQUERADE)
    cli.on("/usr/sbin/iptables-restore", stderr="line 3 failed\n", retcode=1)
    ret = host_security.iptables_live(RULES)
    assert (ret["result"], ret["changes"]) == (False, {})
    assert ret["comment"] == f"iptables-restore {RULES} failed: line 3 failed"


def test_a_failed_listing_is_false_in_test_mode_too(cli, opts):
    opts["test"] = True
    cli.on("/usr/sbin/iptables", "-S", stderr="Permission denied (you must be root)", retcode=4)
    cli.on("/usr/sbin/iptables", "-t", "nat", stdout=MASQUERADE)
    ret = host_security.iptables_live(RULES)
    assert ret["result"] is False
    assert "iptables -S failed: Permission denied" in ret["comment"]


@pytest.mark.parametrize("test", [True, False])
def test_iptables_not_installed_is_a_missing_prerequisite(cli, opts, test):
    opts["test"] = test
    cli.fail_with = "Unable to run command '{argv}': No such file or directory"
    ret = host_security.iptables_live(RULES)
    assert ret["result"] is (None if test else False)
    assert "could not run '/usr/sbin/iptables -S INPUT'" in ret["comment"]
    assert "(state bastion-iptables-packages)" in ret["comment"]
    assert ret["changes"] == {}


def test_ssh_keygen_runs_through_the_runner(cli, tmp_path):
    cli.on("/usr/bin/ssh-keygen", stderr="ssh-keygen: cannot write", retcode=1)
    name = str(tmp_path / "etc/ssh/ssh_host_ed25519_key")
    ret = host_security.ssh_host_keys(name, prefix=str(tmp_path))
    assert cli.argvs() == [["/usr/bin/ssh-keygen", "-A", "-f", str(tmp_path)]]
    assert ret["result"] is False
    assert (
        ret["comment"]
        == f"ssh-keygen -A failed (1): ssh-keygen: cannot write; {name} still missing"
    )
    assert_through_the_runner(cli)


def test_ssh_keygen_not_installed_is_false(cli, tmp_path):
    cli.fail_with = "Unable to run command '{argv}': No such file or directory"
    ret = host_security.ssh_host_keys(str(tmp_path / "etc/ssh/ssh_host_ed25519_key"))
    assert ret["result"] is False
    assert "could not run '/usr/bin/ssh-keygen -A'" in ret["comment"]
