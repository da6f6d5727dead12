"""Whether a lab test that cannot run skips or fails.

Locally a lab test skips with its reason (no root, a lab left up by `make demo`, no
namespaces): the rest of the suite still tells the developer something. Under CI
(``CI=true``, as `.ci/run` is run on a fresh clone, as root) a lab tier that cannot run is a
broken run, not a green one: the test fails with the same reason, so `make test` exits
non-zero instead of passing with the end-to-end tier silently skipped.
"""

from __future__ import annotations

import os

TRUTHY = frozenset({"1", "true", "yes", "on"})


def under_ci(environ=None) -> bool:
    """``CI`` set to a true value (GitHub Actions, GitLab CI and most others set CI=true)."""
    value = (os.environ if environ is None else environ).get("CI", "")
    return value.strip().lower() in TRUTHY


def outcome(problem: str | None, environ=None) -> tuple[str, str] | None:
    """``None`` when the lab can run, else ``("skip" | "fail", reason)``."""
    if not problem:
        return None
    if under_ci(environ):
        return (
            "fail",
            f"CI=true and the lab tests cannot run: {problem} "
            "(CI must run every tier; unset CI to skip them locally)",
        )
    return ("skip", problem)


def apply(problem: str | None, pytest_module, environ=None) -> None:
    """Skip or fail the running test (fixtures, test bodies) when ``problem`` is set."""
    decided = outcome(problem, environ)
    if decided is None:
        return
    action, reason = decided
    if action == "fail":
        pytest_module.fail(reason, pytrace=False)
    pytest_module.skip(reason)
