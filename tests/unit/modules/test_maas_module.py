"""The maas execution module with a recording ``cmd.run_all``: what reaches argv, stdin and
error messages (secrets must not), and argument checks before any command runs."""

import pytest
from salt.exceptions import CommandExecutionError
from salt.exceptions import SaltInvocationError

from tests.support.fake_cmd import FakeRunAll
from tests.support.loading import load_ext

maas = load_ext("modules", "maas")
SECRET = "0123456789abcdef0123456789abcdef"
PASSWORD = "admin-Pa55word"


@pytest.fixture
def cli():
    return FakeRunAll(default={"retcode": 0, "stdout": "", "stderr": ""})


@pytest.fixture
def configure_loader_modules(cli):
    return {
        maas: {
            "__salt__": {"cmd.run_all": cli},
            "__opts__": {},
            "__context__": {},
            "__pillar__": {},
        }
    }


def test_rack_secret_goes_through_stdin_not_argv(cli):
    assert maas.register_rack("http://10.0.0.5:5240/MAAS", SECRET) is True
    install, register = cli.calls
    assert install["argv"] == ["maas-rack", "install-shared-secret"]
    assert install["stdin"] == SECRET + "\n"
    assert register["argv"] == ["maas-rack", "register", "--url=http://10.0.0.5:5240/MAAS"]
    for call in cli.calls:
        assert call["output_loglevel"] == "quiet" and call["python_shell"] is False
        assert call["timeout"] and SECRET not in " ".join(call["argv"])


def test_admin_password_only_on_stdin(cli):
    maas.create_admin("admin", PASSWORD, "admin@example.com")
    create, change = cli.calls
    assert create["argv"][:2] == ["maas", "createadmin"]
    assert all(PASSWORD not in arg for arg in create["argv"])
    assert "--username=admin" in create["argv"] and "--email=admin@example.com" in create["argv"]
    assert any(arg.startswith("--password=") for arg in create["argv"])  # a throw-away one
    assert (
        change["argv"] == ["maas", "changepasswords"] and change["stdin"] == f"admin:{PASSWORD}\n"
    )


def test_errors_never_echo_secrets(cli):
    cli.fail_with = "Unable to run command {argv}: No such file or directory"
    with pytest.raises(CommandExecutionError) as err:
        maas.register_rack("http://10.0.0.5:5240/MAAS", SECRET, method="snap")
    assert SECRET not in str(err.value) and "maas init rack" in str(err.value)
    uri = "postgres://maas:db-Pa55@10.0.0.2/maasdb"
    with pytest.raises(CommandExecutionError) as err:
        maas.init_region("http://10.0.0.5:5240/MAAS", uri)
    assert "db-Pa55" not in str(err.value)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: maas.init_region("http://h:5240/MAAS", "postgres://u:p@h/d", mode="rack"), "mode"),
        (lambda: maas.init_region("h:5240", "postgres://u:p@h/d"), "maas_url"),
        (lambda: maas.init_region("http://h:5240/MAAS", "mysql://u:p@h/d"), "database_uri"),
        (lambda: maas.register_rack("http://h:5240/MAAS", "not-hex"), "secret"),
        (lambda: maas.register_rack("h:5240", SECRET), "url"),
        (lambda: maas.register_rack("http://h/MAAS", SECRET, method="apt"), "method"),
        (lambda: maas.create_admin("admin", "", "a@b"), "password"),
        (lambda: maas.set_config("maas_url", "http://x"), "regiond.conf"),
        (lambda: maas.get_config("upstream_dns"), "url"),
        (lambda: maas.create_boot_source_selection("noble", arches=[1]), "arches"),
        (lambda: maas.images_status([]), "images"),
    ],
)
def test_bad_arguments_fail_before_any_command(cli, call, message):
    with pytest.raises(SaltInvocationError, match=message):
        call()
    assert cli.calls == []


def test_masked_api_key_and_cache(cli):
    key = "a" * 18 + ":" + "b" * 18 + ":" + "c" * 32
    cli.on("maas", "apikey", stdout=key + "\n")
    assert maas.api_key("admin") == "a" * 18 + ":" + "b" * 18 + ":***"
    assert maas.api_key("admin", reveal=True) == key


def test_kubectl_found_in_snap_bin_when_not_on_path(cli, monkeypatch, tmp_path):
    """A daemon started by a Debian init script has no /snap/bin on its PATH."""
    key = "a" * 18 + ":" + "b" * 18 + ":" + "c" * 32
    snap_bin = tmp_path / "snap-bin"
    snap_bin.mkdir()
    (snap_bin / "microk8s").write_text("#!/bin/sh\n")
    (snap_bin / "microk8s").chmod(0o755)
    monkeypatch.setattr(maas, "SNAP_BIN", str(snap_bin))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    maas.export_api_key(api_key=key)
    get_ns, apply = cli.calls
    assert get_ns["argv"] == [str(snap_bin / "microk8s"), "kubectl", "get", "namespace", "maas"]
    assert apply["argv"] == [str(snap_bin / "microk8s"), "kubectl", "apply", "-f", "-"]
    assert key not in " ".join(apply["argv"])  # only in the manifest on stdin
    # On PATH, or given with a path: used as given.
    monkeypatch.setenv("PATH", str(snap_bin))
    assert maas._kubectl_argv("microk8s kubectl") == ["microk8s", "kubectl"]
    assert maas._kubectl_argv(["/opt/kubectl"]) == ["/opt/kubectl"]
