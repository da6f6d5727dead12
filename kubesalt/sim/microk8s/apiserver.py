"""The simulated kube-apiserver of a control plane: HTTPS on ADDRESS:16443, a minimal and
faithful subset of the Kubernetes API that clients need to look at the cluster.

As MicroK8s runs it (``microk8s-resources/default-args/kube-apiserver``, 1.28+): the node's
``server.crt`` (its SANs, with the launch configuration's ``extraSANs``), clients
authenticated by a certificate of the cluster CA (``--client-ca-file``; ``microk8s config``
carries the admin's, CN ``admin``, O ``system:masters``), ``--authorization-mode=AlwaysAllow``,
which turns anonymous requests off (kube-apiserver's ``ApplyAuthorization``), so a request
without a certificate gets ``401 Unauthorized``, health checks included.

Served (GET): ``/version``, ``/healthz``, ``/livez``, ``/readyz``, ``/api``, ``/api/v1``,
``/apis``, ``/api/v1/nodes`` and ``/api/v1/nodes/NAME``. The Node objects are the ones
``microk8s kubectl get nodes`` prints (:mod:`kubesalt.sim.microk8s.nodes`): the replicated
cluster state, each node's Ready condition probed through its agent. Anything else is the
API server's ``404 NotFound`` Status; other verbs ``405 MethodNotAllowed``.
"""

from __future__ import annotations

import http.server
import json
import sys
from urllib.parse import urlsplit

from kubesalt.sim.microk8s import catalog
from kubesalt.sim.microk8s import nodes
from kubesalt.sim.microk8s.host import Host
from kubesalt.sim.microk8s.mk8s_common import state_of
from kubesalt.sim.microk8s.tlsserver import NodeTLSServer

HEALTH = ("/healthz", "/livez", "/readyz")
NODE_RESOURCE = {
    "name": "nodes",
    "singularName": "node",
    "namespaced": False,
    "kind": "Node",
    "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
    "shortNames": ["no"],
}


def status(code: int, reason: str, message: str, details: dict | None = None) -> dict:
    """A ``metav1.Status`` failure, as the API server answers errors."""
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
    }
    if details:
        body["details"] = details
    body["code"] = code
    return body


def version_info(version: str) -> dict:
    """``/version`` for kubelet/kube-apiserver VERSION (``v1.32.3``). The build fields (commit,
    date, Go version) of the real binaries are not simulated: they are empty."""
    major, minor = version.lstrip("v").split(".")[:2]
    info = {"major": major, "minor": minor}
    if (int(major), int(minor)) >= (1, 33):  # compatibility versions, KEP-4330
        info.update(
            emulationMajor=major,
            emulationMinor=minor,
            minCompatibilityMajor=major,
            minCompatibilityMinor=str(int(minor) - 1),
        )
    info.update(
        gitVersion=version,
        gitCommit="",
        gitTreeState="clean",
        buildDate="",
        goVersion="",
        compiler="gc",
        platform="linux/amd64",
    )
    return info


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = ""
    sys_version = ""
    protocol_version = "HTTP/1.1"

    def version_string(self):
        return ""  # kube-apiserver sends no Server header

    def log_message(self, fmt, *args):
        sys.stderr.write(f"kube-apiserver {self.client_address[0]} {fmt % args}\n")

    @property
    def host(self) -> Host:
        return self.server.host

    def send(self, code: int, body, content_type: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def user(self) -> str | None:
        """The CN of the client's certificate (the TLS layer verified it against the CA)."""
        cert = self.connection.getpeercert() or {}
        for rdn in cert.get("subject", ()):
            for key, value in rdn:
                if key == "commonName":
                    return value
        return None

    def refuse(self) -> bool:
        if self.user() is None:
            self.send(401, status(401, "Unauthorized", "Unauthorized"))
            return True
        return False

    def do_GET(self):
        if self.refuse():
            return
        path = urlsplit(self.path).path.rstrip("/") or "/"
        if path in HEALTH:
            return self.send(200, b"ok", "text/plain; charset=utf-8")
        if path == "/version":
            version = (self.host.snap_meta() or {}).get("version", "")
            return self.send(200, version_info(version))
        if path == "/api":
            return self.send(
                200,
                {
                    "kind": "APIVersions",
                    "versions": ["v1"],
                    "serverAddressByClientCIDRs": [
                        {
                            "clientCIDR": "0.0.0.0/0",
                            "serverAddress": f"{self.host.address}:{catalog.API_SERVER_PORT}",
                        }
                    ],
                },
            )
        if path == "/api/v1":
            return self.send(
                200,
                {"kind": "APIResourceList", "groupVersion": "v1", "resources": [NODE_RESOURCE]},
            )
        if path == "/apis":
            # The simulator serves no API group beyond the core one.
            return self.send(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": []})
        if path == "/api/v1/nodes":
            return self.list_nodes()
        if path.startswith("/api/v1/nodes/") and path.count("/") == 4:
            return self.get_node(path.rsplit("/", 1)[1])
        return self.send(
            404, status(404, "NotFound", "the server could not find the requested resource")
        )

    def list_nodes(self) -> None:
        state = state_of(self.host)
        observed = nodes.observe(self.host, state, state.get("nodes", []))
        items = []
        for record, condition in observed:
            item = nodes.node_object(record, condition)
            del item["apiVersion"], item["kind"]  # list items carry neither
            items.append(item)
        self.send(
            200,
            {
                "kind": "NodeList",
                "apiVersion": "v1",
                "metadata": {"resourceVersion": str(state.get("generation", 0))},
                "items": items,
            },
        )

    def get_node(self, name: str) -> None:
        state = state_of(self.host)
        records = [r for r in state.get("nodes", []) if r["name"] == name]
        if not records:
            return self.send(
                404,
                status(
                    404,
                    "NotFound",
                    f'nodes "{name}" not found',
                    {"name": name, "kind": "nodes"},
                ),
            )
        ((record, condition),) = nodes.observe(self.host, state, records)
        return self.send(200, nodes.node_object(record, condition))

    def not_allowed(self):
        self.close_connection = True  # the request body is not read
        if self.refuse():
            return
        self.send(405, status(405, "MethodNotAllowed", "the server does not allow this method"))

    do_POST = do_PUT = do_PATCH = do_DELETE = not_allowed


class APIServer(NodeTLSServer):
    client_ca = True

    def __init__(self, host: Host):
        super().__init__(host, catalog.API_SERVER_PORT, Handler)
