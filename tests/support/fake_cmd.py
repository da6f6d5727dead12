"""The one stand-in for Salt's ``cmd.run_all`` in unit tests of execution modules.

Built on the real function's signature (``salt.modules.cmdmod.run_all``): every call is
bound to its named parameters, so an argument Salt does not take (a misspelt
``python_shel=False``, which Salt's ``**kwargs`` would swallow silently) or a changed
signature fails the test instead of passing unnoticed.
"""

import inspect

import salt.modules.cmdmod
from salt.exceptions import CommandExecutionError

_REAL = inspect.signature(salt.modules.cmdmod.run_all)
SIGNATURE = _REAL.replace(
    parameters=[p for p in _REAL.parameters.values() if p.kind is not p.VAR_KEYWORD]
)


class FakeRunAll:
    """Answers ``cmd.run_all`` from a script of (argv prefix, result) and records every call
    as ``{"argv": [...], **keyword arguments}``.

    ``default``: the result of a command no script entry matches (``None``: such a command
    fails the test). ``fail_with``: when set, every call raises ``CommandExecutionError``
    with this message (``{argv}`` filled in), as ``cmd.run_all`` does for a missing binary.
    """

    def __init__(self, default=None):
        self.script = []
        self.calls = []
        self.default = default
        self.fail_with = None

    def on(self, *prefix, stdout="", stderr="", retcode=0, times=None):
        """Answer commands starting with ``prefix`` (``times``: how often; None: always)."""
        self.script.append(
            {"prefix": list(prefix), "result": (stdout, stderr, retcode), "times": times}
        )

    def __call__(self, cmd, **kwargs):
        SIGNATURE.bind(cmd, **kwargs)  # TypeError on an argument cmd.run_all does not take
        self.calls.append({"argv": list(cmd), **kwargs})
        if self.fail_with:
            raise CommandExecutionError(self.fail_with.format(argv=cmd))
        for entry in self.script:
            if cmd[: len(entry["prefix"])] == entry["prefix"] and entry["times"] != 0:
                if entry["times"] is not None:
                    entry["times"] -= 1
                stdout, stderr, retcode = entry["result"]
                return {"stdout": stdout, "stderr": stderr, "retcode": retcode, "pid": 1}
        if self.default is not None:
            return dict(self.default)
        raise AssertionError(f"unexpected command {cmd}")

    def argvs(self):
        return [call["argv"] for call in self.calls]
