"""The shape of a state's return, and what test mode makes of a failure.

Under ``test=True`` nothing is changed, so a state whose prerequisite an earlier state
would create (the snap, the region, the pillar hand-off) cannot check it yet: that one
reports ``result: None`` ("would be an error"). Any other failure (a wrong API key, a bad
argument, a command that failed) is ``False`` in test mode too.
"""

from __future__ import annotations

from salt.exceptions import CommandExecutionError

WOULD_FAIL = "if we weren't testing, this would be an error"


class PrerequisiteMissing(CommandExecutionError):
    """Something an earlier state creates is not there yet (not installed, not initialised,
    not handed over): ``result: None`` under ``test=True``, ``False`` otherwise."""


def new(name) -> dict:
    """A state return that says nothing is to be done until told otherwise."""
    return {"name": name, "result": True, "changes": {}, "comment": ""}


def error(ret: dict, message) -> dict:
    """Fail ``ret`` with ``message``; changes that did not happen are dropped."""
    ret["result"] = False
    ret["comment"] = str(message)
    return ret


def prerequisite_missing(ret: dict, message, test: bool) -> dict:
    """A prerequisite is missing: ``None`` in test mode (an earlier state may create it),
    else ``False``."""
    if test:
        ret["result"] = None
        ret["comment"] = f"{message}; {WOULD_FAIL} (unless an earlier state fixes it)"
        return ret
    return error(ret, message)


def failed(ret: dict, err, test: bool) -> dict:
    """``ret`` for an exception a state caught (or a message): a
    :class:`PrerequisiteMissing` is a missing prerequisite, anything else an error, in test
    mode too."""
    if isinstance(err, PrerequisiteMissing):
        return prerequisite_missing(ret, err, test)
    return error(ret, err)
