"""Run one command through Salt's ``cmd.run_all`` the way every module here does.

An argv list (never a shell), stdin given (empty and closed by default, so a command that
prompts reads EOF instead of hanging), a timeout, ``LC_ALL=C.UTF-8`` (messages are matched
in English) and ``output_loglevel="quiet"``, so Salt logs neither the argv nor the output:
the caller's secrets may be in either. The argv is logged here with the secrets masked.
"""

from __future__ import annotations

import logging

from salt.exceptions import CommandExecutionError

from common_lib import redact as _redact
from common_lib import state as _state

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 300  # seconds one command may take


def run(run_all, argv, *, secrets=(), stdin="", timeout=DEFAULT_TIMEOUT, what="", cannot_run=""):
    """Run ``argv`` with ``run_all`` (``__salt__["cmd.run_all"]``).

    Returns ``{"retcode", "stdout", "stderr", "raw_stdout"}``: ``stdout`` and ``stderr``
    with every secret masked, ``raw_stdout`` as printed (for a caller that must parse a
    secret out of it; never put it in a message).

    Raises ``common_lib.state.PrerequisiteMissing`` (a CommandExecutionError) when the
    command cannot be run at all (no such executable: not installed yet): the message says
    ``what`` was being done, shows the argv and Salt's error, secrets masked, then
    ``cannot_run`` (what to do).
    """
    shown = " ".join(_redact.redact_argv(argv, secrets))
    log.debug("running %s", shown)
    try:
        result = run_all(
            list(argv),
            python_shell=False,
            output_loglevel="quiet",
            ignore_retcode=True,
            stdin=stdin,
            timeout=timeout,
            env={"LC_ALL": "C.UTF-8"},
        )
    except CommandExecutionError as err:
        doing = f"{what} failed: " if what else ""
        advice = f". {cannot_run}" if cannot_run else ""
        raise _state.PrerequisiteMissing(
            f"{doing}could not run '{shown}': {_redact.redact(err, secrets)}{advice}"
        ) from None
    raw_stdout = result.get("stdout") or ""
    cleaned = {
        "retcode": result.get("retcode", 1),
        "stdout": _redact.redact(raw_stdout, secrets),
        "stderr": _redact.redact(result.get("stderr") or "", secrets),
        "raw_stdout": raw_stdout,
    }
    log.debug("'%s' exited %s", shown, cleaned["retcode"])
    return cleaned


def output(result) -> str:
    """stdout and stderr of a :func:`run` result, the empty ones left out."""
    return "\n".join(part for part in (result["stdout"], result["stderr"]) if part.strip())
