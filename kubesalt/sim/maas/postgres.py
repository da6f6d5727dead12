"""A private PostgreSQL 15 cluster for MAAS tests and lab hosts (real PostgreSQL).

``initdb`` runs as the ``postgres`` user into a directory it owns; the server listens on a
private unix socket directory and on one address. Local socket connections are trusted
(the database superuser, as Salt's postgres states use it on a database host); TCP
connections need a password (scram-sha-256), from ``allow`` (a CIDR) or the address
itself. Never the system cluster ``main``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path

PG_BIN = "/usr/lib/postgresql/15/bin"
SUPERUSER = "postgres"


@dataclasses.dataclass
class Cluster:
    host: str
    port: int
    socket_dir: str
    data_dir: str
    base_dir: str

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        """Run SQL as the superuser over the unix socket; return stdout (bounded: 30 s)."""
        res = subprocess.run(
            [
                "runuser",
                "-u",
                SUPERUSER,
                "--",
                "/usr/bin/psql",
                "-h",
                self.socket_dir,
                "-p",
                str(self.port),
                "-d",
                dbname,
                "-XAtq",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if res.returncode:
            raise RuntimeError(f"psql failed: {res.stderr.strip()}")
        return res.stdout

    def uri(self, user: str, password: str, dbname: str) -> str:
        return f"postgres://{user}:{password}@{self.host}:{self.port}/{dbname}"


def _as_postgres(argv: list, what: str, timeout: float) -> None:
    res = subprocess.run(
        ["runuser", "-u", SUPERUSER, "--", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if res.returncode:
        detail = (res.stderr or res.stdout).strip().splitlines()[-3:]
        raise RuntimeError(
            f"{what} failed: {' '.join(detail)} (every parent directory must be "
            f"traversable by the {SUPERUSER} user)"
        )


def start(base_dir, host: str, port: int, allow: str | None = None, timeout=60.0) -> Cluster:
    """Create (once) and start a cluster in ``base_dir``; return how to reach it."""
    pg_user = pwd.getpwnam(SUPERUSER)
    base = Path(base_dir)
    base.mkdir(parents=True, exist_ok=True)
    data_dir, socket_dir = base / "data", base / "sock"
    socket_dir.mkdir(exist_ok=True)
    for path in (base, socket_dir):
        os.chown(path, pg_user.pw_uid, pg_user.pw_gid)
        os.chmod(path, 0o700)
    if not (data_dir / "PG_VERSION").exists():
        initdb = [
            f"{PG_BIN}/initdb",
            "-D",
            str(data_dir),
            "-U",
            SUPERUSER,
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        ]
        _as_postgres(initdb, "initdb", timeout)
        if allow:
            with open(data_dir / "pg_hba.conf", "a", encoding="ascii") as hba:
                hba.write(f"host all all {allow} scram-sha-256\n")
    options = (
        f"-c listen_addresses={host} -p {port} -k {socket_dir} -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100"
    )
    pg_ctl = [
        f"{PG_BIN}/pg_ctl",
        "-D",
        str(data_dir),
        "-l",
        str(base / "log"),
        "-o",
        options,
        "-w",
        "-t",
        str(int(timeout)),
        "start",
    ]
    _as_postgres(pg_ctl, "pg_ctl start", timeout + 5)
    cluster = Cluster(host, port, str(socket_dir), str(data_dir), str(base))
    deadline = time.monotonic() + timeout
    while True:
        try:
            cluster.psql("SELECT 1")
            break
        except RuntimeError:
            if time.monotonic() > deadline:
                stop(cluster)
                raise
            time.sleep(0.2)
    (base / "cluster.json").write_text(json.dumps(dataclasses.asdict(cluster)))
    return cluster


def load(base_dir) -> Cluster:
    return Cluster(**json.loads((Path(base_dir) / "cluster.json").read_text()))


def stop(cluster: Cluster, remove: bool = False) -> None:
    subprocess.run(
        [
            "runuser",
            "-u",
            SUPERUSER,
            "--",
            f"{PG_BIN}/pg_ctl",
            "-D",
            cluster.data_dir,
            "-m",
            "immediate",
            "-w",
            "-t",
            "30",
            "stop",
        ],
        capture_output=True,
        timeout=40,
        check=False,
    )
    if remove:
        shutil.rmtree(cluster.base_dir, ignore_errors=True)
