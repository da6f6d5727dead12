"""Child processes that take Ctrl-C as a user's command does at a terminal."""

import sys

# Resets SIGINT to its default, then execs the command (no preexec_fn in a threaded pytest).
_LAUNCHER = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)


def at_a_terminal(argv: list[str]) -> list[str]:
    """``argv`` run so that it takes Ctrl-C (SIGINT) as at a terminal.

    A runner that starts the tests in the background (``make test &``, ``nohup``, a CI
    agent: an asynchronous command of a non-interactive shell) leaves SIGINT ignored, and an
    ignored signal stays ignored across fork and exec: Python then installs no
    KeyboardInterrupt handler, and the command would never see the Ctrl-C a test sends it.
    ``argv[0]`` must be a path (it is exec'd as is)."""
    return [sys.executable, "-c", _LAUNCHER, *argv]
