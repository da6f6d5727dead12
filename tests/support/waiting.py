"""The one wait helper of the test suite: poll a condition, bounded, instead of sleeping a
fixed time (a fixed sleep is either too long on an idle machine or too short on a loaded
one)."""

from __future__ import annotations

import time


def wait_until(predicate, timeout: float, what, interval: float = 0.1):
    """Call ``predicate`` every ``interval`` seconds until it returns a true value, and
    return that value; after ``timeout`` seconds fail the test naming ``what`` (a string,
    or a callable returning one: for a message that says what was last seen)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            what = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
