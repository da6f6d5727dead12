"""The HTTPS servers of a simulated node (cluster agent, kube-apiserver): the node's
``server.crt``, reloaded when it changes (refresh-certs, join, leave), and, for a server that
authenticates clients by certificate (kube-apiserver's ``--client-ca-file``), the cluster CA."""

from __future__ import annotations

import http.server
import ssl
import sys

from kubesalt.sim.microk8s.host import ALL_INTERFACES
from kubesalt.sim.microk8s.host import Host


class NodeTLSServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64
    client_ca = False  # True: ask for a client certificate, verified against certs/ca.crt

    def __init__(self, host: Host, port: int, handler, bind: str | None = None):
        """``bind``: the address to listen on; default the node's address, or every
        interface for a node installed without one (upstream's servers bind 0.0.0.0)."""
        self.host = host
        self._context = None
        self._mtimes = None
        if bind is None:
            bind = ALL_INTERFACES if host.binds_from_args() else host.address
        super().__init__((bind, port), handler)

    def ssl_context(self) -> ssl.SSLContext:
        files = [self.host.certs / "server.crt"]
        if self.client_ca:
            files.append(self.host.certs / "ca.crt")
        mtimes = [path.stat().st_mtime_ns for path in files]
        if self._context is None or mtimes != self._mtimes:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(files[0]), str(self.host.certs / "server.key"))
            if self.client_ca:
                context.verify_mode = ssl.CERT_OPTIONAL
                context.load_verify_locations(str(files[1]))
            self._context, self._mtimes = context, mtimes
        return self._context

    def get_request(self):
        sock, addr = self.socket.accept()
        sock.settimeout(10)
        return self.ssl_context().wrap_socket(
            sock, server_side=True, do_handshake_on_connect=False
        ), addr

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (ssl.SSLError, ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)
