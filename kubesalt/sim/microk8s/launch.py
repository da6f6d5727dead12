"""The entry point the launcher scripts (:mod:`kubesalt.sim.microk8s.launcher`) call: runs the
simulated ``snap`` or ``microk8s`` command and records the call in the host's invocation log
(argv, exit code, duration, time)."""

from __future__ import annotations

import os
import sys
import time
import traceback

from kubesalt.sim.microk8s.host import Host


def run(prog: str, root: str, address: str, hostname: str | None) -> int:
    host = Host(root, address, hostname)
    argv = [os.path.basename(sys.argv[0]), *sys.argv[1:]]
    started = time.time()
    code = 1
    try:
        if prog == "snap":
            from kubesalt.sim.microk8s import snapcmd  # noqa: PLC0415 - only what the call needs

            code = snapcmd.main(host, sys.argv[1:], hostname)
        else:
            from kubesalt.sim.microk8s import mk8s  # noqa: PLC0415 - only what the call needs

            name = os.path.basename(sys.argv[0])
            args = sys.argv[1:]
            if name.startswith("microk8s."):  # dotted alias: microk8s.status == microk8s status
                args = [name.split(".", 1)[1], *args]
            code = mk8s.main(host, args)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if exc.code is not None and not isinstance(exc.code, int):
            print(exc.code, file=sys.stderr)
    except KeyboardInterrupt:
        code = 130
    except BaseException:  # an uncaught error prints its traceback, exit 1, as Python does
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        try:
            host.log_invocation(argv, code, started, time.time())
        except OSError:
            pass
    return code
