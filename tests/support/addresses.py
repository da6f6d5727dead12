"""The one address allocator of the test suite: a loopback address whose port is free now.

Several test sessions (another engineer's ``make test``, pytest-xdist workers) run on this
machine at once, so no test may count on a fixed address: each range below is tried from a
random start, and an address whose port is taken is skipped.
"""

from __future__ import annotations

import secrets
import socket

_HANDED_OUT: set[str] = set()


def free_loopback_address(prefix: str, port: int, hosts: range, *, once: bool = False) -> str:
    """``<prefix>.<h>`` (``h`` from ``hosts``) whose TCP ``port`` nobody listens on now.
    ``once``: never hand the same address out twice in this process (for daemons that may
    still be going down when the next test starts)."""
    candidates = list(hosts)
    start = secrets.randbelow(len(candidates))
    for host in candidates[start:] + candidates[:start]:
        address = f"{prefix}.{host}"
        if once and address in _HANDED_OUT:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((address, port))
            except OSError:
                continue
        if once:
            _HANDED_OUT.add(address)
        return address
    raise RuntimeError(
        f"no address in {prefix}.{hosts.start}-{hosts.stop - 1} with port {port} free"
    )


def free_port(host: str) -> int:
    """A TCP port on ``host`` that is free now (the kernel's pick)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]
