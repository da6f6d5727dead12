"""Host checks done by our own states instead of ``cmd.run`` with ``creates``/``unless``/
``onlyif``: for those, Salt's state engine looks up ``cmd.mod_run_check``, and the loader's
miss imports every state and execution module (seconds per highstate)."""

import logging
import re
import shutil
import subprocess
import textwrap

import pytest
import yaml

from tests.support.paths import EXT_DIRS
from tests.support.paths import REPO_ROOT
from tests.support.paths import SALT_DIR
from tests.support.paths import VENV_BIN

RUN_CHECK_ARG = re.compile(r"^\s*-?\s*(onlyif|unless|creates)\s*:", re.MULTILINE)
MISS = "Could not LazyLoad cmd.mod_run_check"
KEY_TYPES = ("ecdsa", "ed25519", "rsa")


def test_no_sls_uses_run_checks():
    offenders = [
        f"{path.relative_to(REPO_ROOT)}: {match.group(1)}"
        for root in (SALT_DIR / "states", REPO_ROOT / "pillar")
        for path in sorted(root.rglob("*.sls"))
        for match in RUN_CHECK_ARG.finditer(path.read_text(encoding="utf-8"))
    ]
    assert not offenders, f"use a state of our own (salt/_states/host_security.py): {offenders}"


@pytest.fixture
def loader_debug(caplog):
    caplog.set_level(logging.DEBUG, logger="salt.utils.lazy")
    return caplog


def test_run_check_miss_is_detected(modules, loader_debug):
    # The trace the states below avoid: proves the next test would see it.
    ret = modules.state.single("cmd.run", name="/bin/true", creates="/")
    assert ret.result is True
    assert MISS in loader_debug.text


def test_ssh_host_keys_no_run_check_miss(modules, loader_debug, tmp_path):
    (tmp_path / "etc/ssh").mkdir(parents=True)
    key = tmp_path / "etc/ssh/ssh_host_ed25519_key"
    key.write_text("present\n")
    ret = modules.state.single("host_security.ssh_host_keys", name=str(key), prefix=str(tmp_path))
    assert ret.result is True
    assert MISS not in loader_debug.text


@pytest.mark.skipif(not shutil.which("ssh-keygen"), reason="needs ssh-keygen")
def test_ssh_host_keys(states, tmp_path):
    ssh_dir = tmp_path / "etc/ssh"
    ssh_dir.mkdir(parents=True)
    name = str(ssh_dir / "ssh_host_ed25519_key")
    expected = [str(ssh_dir / f"ssh_host_{kind}_key") for kind in KEY_TYPES]
    ret = states.host_security.ssh_host_keys(name=name, prefix=str(tmp_path), test=True)
    assert ret.result is None
    assert ret.changes == {"created": expected}
    assert not list(ssh_dir.iterdir())
    ret = states.host_security.ssh_host_keys(name=name, prefix=str(tmp_path))
    assert ret.result is True, ret.comment
    assert ret.changes == {"created": expected}
    ret = states.host_security.ssh_host_keys(name=name, prefix=str(tmp_path))
    assert ret.result is True
    assert ret.changes == {}


def test_ssh_host_keys_bad_name(states):
    ret = states.host_security.ssh_host_keys(name="etc/ssh/key")
    assert ret.result is False
    assert "name: expected an absolute path" in ret.comment


# iptables in a user and network namespace of its own (nothing on the machine changes):
# test mode, the repair, then nothing to do; the same for a flushed nat table.
SCRIPT = textwrap.dedent(
    """\
    set -e
    call() {{ {salt_call} -c {config} --local --out=json state.single host_security.iptables_live \
        name={rules} "$@"; }}
    {restore} {rules}
    /usr/sbin/iptables -P INPUT ACCEPT
    call test=True > {out}/test.json
    call > {out}/repair.json
    call > {out}/again.json
    /usr/sbin/iptables -t nat -F POSTROUTING
    call > {out}/nat.json
    """
)
RULES = """\
*nat
:POSTROUTING ACCEPT [0:0]
-A POSTROUTING -s 10.1.0.0/16 -o eth0 -j MASQUERADE
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -i lo -j ACCEPT
COMMIT
"""


@pytest.mark.skipif(
    not (shutil.which("unshare") and shutil.which("iptables-restore", path="/usr/sbin")),
    reason="needs unshare and iptables",
)
def test_iptables_live_in_own_namespace(tmp_path):
    config = tmp_path / "config"
    config.mkdir()
    (config / "minion").write_text(
        yaml.safe_dump(
            {
                "id": "iptables-test",
                "root_dir": str(tmp_path / "root"),
                "file_client": "local",
                "user": "root",
                **EXT_DIRS,
            }
        )
    )
    rules = tmp_path / "rules.v4"
    rules.write_text(RULES)
    script = SCRIPT.format(
        salt_call=VENV_BIN / "salt-call",
        config=config,
        rules=rules,
        restore="/usr/sbin/iptables-restore",
        out=tmp_path,
    )
    proc = subprocess.run(
        ["unshare", "-rn", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]

    def ret(name):
        data = yaml.safe_load((tmp_path / f"{name}.json").read_text())["local"]
        return next(iter(data.values()))

    assert ret("test")["result"] is None
    assert ret("test")["changes"] == {"restored": str(rules)}
    assert ret("repair")["result"] is True
    assert ret("repair")["changes"] == {"restored": str(rules)}
    assert (ret("again")["result"], ret("again")["changes"]) == (True, {})
    assert ret("nat")["changes"] == {"restored": str(rules)}


def test_iptables_live_bad_name(states):
    ret = states.host_security.iptables_live(name="rules.v4")
    assert ret.result is False
    assert "name: expected an absolute path" in ret.comment
