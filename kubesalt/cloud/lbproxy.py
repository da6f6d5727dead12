"""The lab cloud's amphora: a TCP load balancer with health checks, one process per load
balancer, in the network namespace that holds its VIP and its member-side ports.

``python -m kubesalt.cloud.lbproxy CONFIG STATUS``: CONFIG is
:func:`kubesalt.cloud.octavia.proxy_config` as JSON. For each TCP listener it accepts on
``VIP:port`` from the listener's ``allowed_cidrs`` (every source when empty), picks the next
member that is up (round robin) and splices the two connections; a member that refuses the
connection is skipped for the next one (HAProxy's ``retries`` + ``option redispatch``, as
Octavia configures it). With a health monitor (TCP connect, every ``delay`` s, ``timeout`` s
each), a member goes down after ``max_retries_down`` failed checks in a row and up again after
``max_retries`` good ones; members start up. Without a monitor every member stays up
(``NO_MONITOR``). STATUS is rewritten on every change:
``{"members": {"ADDRESS:PORT": "ONLINE" | "ERROR" | "NO_MONITOR"}}``.
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import socket
import sys
import threading
import time

BUFFER = 65536


class Member:
    def __init__(self, address: str, port: int):
        self.address, self.port = address, port
        self.up = True
        self.streak = 0  # consecutive results against the current state

    @property
    def key(self) -> str:
        return f"{self.address}:{self.port}"


class Listener:
    def __init__(self, spec: dict, status: Status):
        self.spec = spec
        self.members = [Member(address, port) for address, port in spec["members"]]
        self.allowed = [ipaddress.ip_network(c) for c in spec["allowed_cidrs"]]
        self.status = status
        self.turn = 0
        self.lock = threading.Lock()
        for member in self.members:
            status.set(member.key, "ONLINE" if spec["monitor"] else "NO_MONITOR")

    def candidates(self) -> list[Member]:
        with self.lock:
            up = [m for m in self.members if m.up]
            if not up:
                return []
            start = self.turn % len(up)
            self.turn += 1
            return up[start:] + up[:start]

    def serve(self) -> None:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((self.spec["address"], self.spec["port"]))
        server.listen(128)
        while True:
            client, (source, _) = server.accept()
            if self.allowed and not any(
                ipaddress.ip_address(source) in net for net in self.allowed
            ):
                client.close()
                continue
            threading.Thread(target=self.forward, args=(client,), daemon=True).start()

    def forward(self, client: socket.socket) -> None:
        for member in self.candidates():
            try:
                upstream = socket.create_connection((member.address, member.port), timeout=5)
            except OSError:
                continue
            upstream.settimeout(None)
            threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()
            _pump(client, upstream)
            return
        client.close()  # no member is up: the connection is closed (HAProxy: 503 / reset)

    def monitor(self) -> None:
        spec = self.spec["monitor"]
        while True:
            started = time.monotonic()
            for member in self.members:
                ok = _check(member, spec["timeout"])
                with self.lock:
                    if ok == member.up:
                        member.streak = 0
                        continue
                    member.streak += 1
                    needed = spec["max_retries"] if ok else spec["max_retries_down"]
                    if member.streak >= needed:
                        member.up, member.streak = ok, 0
                        self.status.set(member.key, "ONLINE" if ok else "ERROR")
            time.sleep(max(0.0, spec["delay"] - (time.monotonic() - started)))


class Status:
    def __init__(self, path: str):
        self.path = path
        self.members: dict[str, str] = {}
        self.lock = threading.Lock()

    def set(self, key: str, value: str) -> None:
        with self.lock:
            self.members[key] = value
            tmp = self.path + ".tmp"
            with open(tmp, "w", encoding="utf-8") as handle:
                json.dump({"members": self.members}, handle, sort_keys=True)
            os.replace(tmp, self.path)


def _check(member: Member, timeout: float) -> bool:
    try:
        socket.create_connection((member.address, member.port), timeout=timeout).close()
    except OSError:
        return False
    return True


def _pump(source: socket.socket, target: socket.socket) -> None:
    try:
        while True:
            data = source.recv(BUFFER)
            if not data:
                break
            target.sendall(data)
    except OSError:
        pass
    for sock, how in ((target, socket.SHUT_WR), (source, socket.SHUT_RD)):
        try:
            sock.shutdown(how)
        except OSError:
            pass


def main(argv: list[str]) -> int:
    config_path, status_path = argv
    with open(config_path, encoding="utf-8") as handle:
        config = json.load(handle)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    status = Status(status_path)
    threads = []
    for spec in config["listeners"]:
        listener = Listener(spec, status)
        threads.append(threading.Thread(target=listener.serve, daemon=True))
        if spec["monitor"]:
            threads.append(threading.Thread(target=listener.monitor, daemon=True))
    if not config["listeners"]:
        status.set("-", "NO_LISTENER")
    for thread in threads:
        thread.start()
    threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
