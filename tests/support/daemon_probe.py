"""A stand-in daemon for tests of ``kubesalt.lab.processes.spawn_daemon``: run as
``python -m tests.support.daemon_probe ARGUMENT``, it prints (to its log) one JSON line of
what it was started with, then exits."""

import json
import os
import sys

if __name__ == "__main__":
    fds = sorted(int(fd) for fd in os.listdir("/proc/self/fd"))
    print(
        json.dumps(
            {
                "argv": sys.argv[1:],
                "cwd": os.getcwd(),
                "session_leader": os.getsid(0) == os.getpid(),
                "stdin": os.path.realpath("/proc/self/fd/0"),
                "pythonpath": os.environ.get("PYTHONPATH", "").split(os.pathsep),
                "probe": os.environ.get("KUBESALT_PROBE"),
                "fds": fds,
            }
        ),
        flush=True,
    )
