"""The lab's outside world as a test sees it: who "the internet" sees connecting."""

from __future__ import annotations

import subprocess
import textwrap

# Accepts one connection and prints the peer's address: what "the internet" sees.
PEER_SERVER = textwrap.dedent(
    """
    import socket, sys
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("10.0.0.254", 8080))
    server.listen(1)
    server.settimeout(15)
    print("listening", flush=True)
    connection, peer = server.accept()
    print(peer[0], flush=True)
    """
)
CONNECT = "import socket; socket.create_connection(('10.0.0.254', 8080), timeout={timeout}).close()"


def peer_seen_by_outside(lab, client, timeout=5):
    """The source address "the internet" (the lab's outside host) sees when ``client``
    connects to it; None when the connection fails."""
    server = lab.spawn("outside", ["python3", "-c", PEER_SERVER], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline().strip() == "listening"
        connect = lab.exec(client, ["python3", "-c", CONNECT.format(timeout=timeout)])
        if connect.returncode != 0:
            return None
        return server.stdout.readline().strip()
    finally:
        server.kill()
        server.wait(timeout=10)
