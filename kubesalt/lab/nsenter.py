"""Running commands in a lab host: the one command line that enters all of a host's namespaces
(:func:`host_command`), and one for the switch's network namespace (:func:`switch_command`)."""

from __future__ import annotations

import os

HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/snap/bin"


def host_command(pid: int, argv: list[str], env: dict | None = None) -> list[str]:
    """The command line that runs ``argv`` as root in the lab host whose PID 1 is ``pid``
    (all its namespaces, its root, a clean environment); it dies with the caller."""
    environment = {
        "PATH": HOST_PATH,
        "HOME": "/root",
        "USER": "root",
        "LOGNAME": "root",
        "SHELL": "/bin/bash",
        "LANG": "C.UTF-8",
        "TERM": os.environ.get("TERM", "dumb"),
    }
    environment.update(env or {})
    return [
        "nsenter",
        f"--target={pid}",
        "--mount",
        "--uts",
        "--ipc",
        "--net",
        "--pid",
        "--root",
        "--wd",
        "--",
        # nsenter forks the command into the host's PID namespace; when nsenter is killed
        # (a timeout, a test's clean-up) the command dies with it instead of lingering.
        "setpriv",
        "--pdeathsig=KILL",
        "--",
        "/usr/bin/env",
        "-i",
        *[f"{key}={value}" for key, value in environment.items()],
        *argv,
    ]


def switch_command(pid: int, argv: list[str]) -> list[str]:
    """The command line that runs ``argv`` in the network namespace of the lab's switch."""
    return ["nsenter", f"--target={pid}", "--net", "--", *argv]
