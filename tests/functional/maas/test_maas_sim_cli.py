"""The MAAS simulator's commands without daemons: install, fault knobs, snap CLI checks
that fail before touching anything (bad database URI, missing --url, non-hex secret)."""

import json
import os
import subprocess
import sys
import tempfile

import pytest

from tests.support.paths import REPO_ROOT


def run(argv, stdin=""):
    return subprocess.run(
        argv,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=str(REPO_ROOT),
    )


@pytest.fixture
def sim_host(tmp_path):
    root = tmp_path / "host"
    res = run(
        [
            sys.executable,
            "-m",
            "kubesalt",
            "sim",
            "maas",
            "install",
            "--root",
            str(root),
            "--version",
            "3.4",
            "--address",
            "127.0.5.250",
            "--hostname",
            "h1",
            "--set",
            "import_seconds=2.5",
        ]
    )
    assert res.returncode == 0, res.stderr
    return root


def test_install_writes_launchers_and_settings(sim_host):
    for name in ("maas", "maas-rack"):
        path = sim_host / "usr/local/bin" / name
        assert os.access(path, os.X_OK)
        assert str(sim_host) in path.read_text()
    settings = json.loads((sim_host / "var/lib/kubesalt-sim-maas/host.json").read_text())
    assert settings["version"] == "3.4" and settings["import_seconds"] == 2.5


def test_fault_knobs_set_and_clear(sim_host):
    kubesalt = [sys.executable, "-m", "kubesalt", "sim", "maas"]
    res = run([*kubesalt, "fault", "--root", str(sim_host), "api_503=3", "import_stuck=true"])
    assert json.loads(res.stdout) == {"api_503": 3, "import_stuck": True}
    res = run([*kubesalt, "fault", "--root", str(sim_host), "api_503="])
    assert json.loads(res.stdout) == {"import_stuck": True}
    assert run([*kubesalt, "fault", "--root", str(sim_host), "nope=1"]).returncode == 2
    status = json.loads(run([*kubesalt, "status", "--root", str(sim_host)]).stdout)
    assert status["mode"] == "none" and status["version"] == "3.4.6"
    assert status["regiond"] is None


def test_uninitialised_host(sim_host):
    maas = str(sim_host / "usr/local/bin" / "maas")
    assert run([maas, "config", "--parsable"]).stdout == "mode=none\n"
    res = run([maas, "status"])
    assert res.returncode == 1 and "MAAS is not configured" in res.stderr
    res = run([maas, "createadmin", "--username=a", "--password=b", "--email=c@d"])
    assert res.returncode == 2 and "invalid choice" in res.stderr


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("mysql://maas:pw@db/maas", "needs to be either 'maas-test-db:///' or start with"),
        ("postgres://db/maas", "No user found in URI"),
        ("postgres://maas:pw@db/maas?sslmode=require", "Unsupported parameters: sslmode"),
    ],
)
def test_init_rejects_bad_database_uris(sim_host, uri, message):
    res = run(
        [
            str(sim_host / "usr/local/bin" / "maas"),
            "init",
            "region",
            "--maas-url",
            "http://127.0.5.250:5240/MAAS",
            "--database-uri",
            uri,
            "--force",
        ]
    )
    assert res.returncode == 1 and message in res.stderr
    assert not (sim_host / "var/snap/maas/current/regiond.conf").exists()


def test_rack_commands_refuse_without_prompting(sim_host):
    rack = str(sim_host / "usr/local/bin" / "maas-rack")
    res = run([rack, "register"])
    assert res.returncode == 1 and "URL must be given" in res.stderr
    res = run([rack, "install-shared-secret"], stdin="not-hex\n")
    assert res.returncode == 1 and "Non-hexadecimal digit found" in res.stderr
    res = run([rack, "install-shared-secret"], stdin="00ff" * 8 + "\n")
    assert res.returncode == 0
    secret_file = sim_host / "var/snap/maas/common/maas/secret"
    assert oct(secret_file.stat().st_mode & 0o777) == "0o600"


def test_postgres_cluster_for_a_lab_host():
    from kubesalt.sim.maas.store import Store
    from tests.support.addresses import free_port

    kubesalt = [sys.executable, "-m", "kubesalt", "sim", "maas", "postgres"]
    directory = tempfile.mkdtemp(prefix="kubesalt-pg-cli-")  # traversable by postgres
    port = free_port("127.0.5.1")
    res = run(
        [
            *kubesalt,
            "start",
            "--dir",
            directory,
            "--address",
            "127.0.5.1",
            "--port",
            str(port),
            "--allow",
            "127.0.5.0/24",
        ]
    )
    assert res.returncode == 0, res.stderr
    try:
        info = json.loads(res.stdout)
        assert info["port"] == port
        from kubesalt.sim.maas import postgres

        cluster = postgres.load(directory)
        cluster.psql("CREATE ROLE lab LOGIN PASSWORD 'lab-pw'")
        store = Store("127.0.5.1", port, "postgres", "lab", "lab-pw")
        assert store.run("SELECT current_user") == [["lab"]]
        store.close()
        with pytest.raises(Exception, match="password authentication failed"):
            Store("127.0.5.1", port, "postgres", "lab", "wrong")
    finally:
        res = run([*kubesalt, "stop", "--dir", directory, "--remove"])
    assert res.returncode == 0 and not os.path.exists(directory)
