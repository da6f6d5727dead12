"""Salt in a lab booted by the lab itself (``--boot salt``): start the daemons, accept each
expected minion key explicitly (never a glob, never ``auto_accept``), wait for every minion
to answer ``test.ping``.

Each function takes the :class:`kubesalt.lab.lab.Lab` it acts on (``lab``); not imported
here, so the package imports one way.
"""

from __future__ import annotations

import concurrent.futures
import json
import time

import yaml

from kubesalt.lab.machine import LabError
from kubesalt.lab.topology import Host

KEYS_TIMEOUT = 60.0
PING_TIMEOUT = 60.0
MASTER_PKI_DIR = "/etc/salt/pki/master"


def start_salt(lab, hosts: list[Host], report) -> None:
    """Start the master and every minion through their init scripts, accept each expected
    key explicitly, then wait until every minion answers."""
    minions = [h for h in hosts if h.runs_salt]
    report("starting salt-master on salt and salt-minion on every host (init scripts)")
    # All at once: a minion that starts before the master simply retries.
    starts = [("salt", "salt-master")] + [(h.name, "salt-minion") for h in minions]
    parallel(lab, [(name, ["service", service, "start"]) for name, service in starts])
    expected = [h.minion_id for h in minions]
    report(f"accepting {len(expected)} minion keys explicitly (salt-key -a ID -y)")
    accept_keys(lab, expected)
    report("waiting for every minion to answer test.ping")
    wait_ping(lab, expected)


def parallel(lab, commands: list[tuple[str, list[str]]]) -> None:
    """Run ``(host, argv)`` commands concurrently; raise the first failure."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(lab.exec, host, argv, check=True) for host, argv in commands]
        for future in futures:
            future.result()


def key_lists(lab) -> dict:
    """The master's key lists, read from its pki directory: polling with `salt-key -L`
    would start a Python interpreter every half second (listing is not accepting)."""
    script = (
        f"cd {MASTER_PKI_DIR} && for list in minions minions_pre minions_rejected "
        'minions_denied; do echo "$list:"; ls -1 "$list" 2>/dev/null | sed "s/^/- /"; done'
    )
    result = lab.exec("salt", ["sh", "-c", script], check=True)
    return {key: value or [] for key, value in yaml.safe_load(result.stdout).items()}


def accept_keys(lab, expected: list[str]) -> None:
    deadline = time.monotonic() + KEYS_TIMEOUT
    pending = set(expected)
    while pending:
        keys = key_lists(lab)
        accepted = set(keys.get("minions", []))
        pending -= accepted
        waiting = sorted(pending & set(keys.get("minions_pre", [])))
        # One explicit acceptance per expected id (never a glob, never auto_accept).
        parallel(lab, [("salt", ["salt-key", "-a", minion_id, "-y"]) for minion_id in waiting])
        pending -= set(waiting)
        if not pending:
            break
        if time.monotonic() >= deadline:
            raise LabError(
                f"these minions never asked the master for key acceptance within "
                f"{KEYS_TIMEOUT:.0f} s: {', '.join(sorted(pending))} (see "
                "/var/log/salt/minion in those hosts: kubesalt lab exec HOST -- cat ...)"
            )
        time.sleep(0.5)
    unexpected = set(key_lists(lab).get("minions", [])) - set(expected)
    if unexpected:
        raise LabError(f"unexpected accepted minion keys: {', '.join(sorted(unexpected))}")


def answered(stdout: str) -> set[str]:
    """The minions whose ``salt --out=json --static ... test.ping`` answer is ``True`` (a
    minion that did not return has a message there instead); none when the output is not a
    JSON mapping (the master restarting: "Salt request timed out...")."""
    try:
        answers = json.loads(stdout or "{}")
    except ValueError:
        return set()
    if not isinstance(answers, dict):
        return set()
    return {minion for minion, value in answers.items() if value is True}


def silent(lab, expected: list[str], timeout: float = PING_TIMEOUT) -> list[str]:
    """The minions of ``expected`` that have not answered ``test.ping`` within ``timeout``
    seconds (pinged again every 0.5 s until all answered), sorted. ``lab`` needs only
    ``exec`` on the master host ``salt``: a :class:`kubesalt.lab.lab.Lab` or the lab
    cloud's hosts."""
    deadline = time.monotonic() + timeout
    missing = set(expected)
    while missing:
        argv = ["salt", "--out=json", "--static", "--timeout=5", "-L", ",".join(sorted(missing))]
        missing -= answered(lab.exec("salt", [*argv, "test.ping"]).stdout)
        if not missing or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    return sorted(missing)


def wait_ping(lab, expected: list[str], timeout: float = PING_TIMEOUT) -> None:
    missing = silent(lab, expected, timeout)
    if missing:
        raise LabError(f"no test.ping answer within {timeout:.0f} s from: {', '.join(missing)}")
