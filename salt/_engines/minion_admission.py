"""The salt master's admission step: accepts a pending minion key only with Terraform's credential.

A node added by a later ``terraform apply`` boots with a key the running master never saw
(the master's user-data is read once, at creation) and, in ``/etc/kubesalt/admission.json``,
a credential over its id, key, roles and private address (salt/_utils/cluster_lib/
admission.py). Its bootstrap starts salt-minion (the key lands in ``minions_pre``), then
sends that one JSON line to this engine. The engine recomputes the credential from the
master's own private key and accepts the pending key only if the credential is valid for
this id, this key, these roles and this address. It adds the node to the inventory pillar
first, then accepts the key: the minion's start event then finds the new inventory and the
bootstrap runner converges the cluster with it.

It never accepts a key for an id the master already has another accepted key for, never
admits the master's or the bastion's roles, and drops a pending key under the id that is not
the one the credential names. Answers: ``accepted``, ``pending`` (no key yet: retry),
``refused``. Nothing secret is logged (a credential admits one key; it is logged neither).

Master configuration (cloud-init writes it):

.. code-block:: yaml

    engines_dirs: [/srv/kubesalt/salt/_engines]
    utils_dirs: [/srv/kubesalt/salt/_utils]
    engines:
      - minion_admission:
          port: 4507
"""

import json
import logging
import os
import socketserver
import threading

import salt.utils.event
import yaml

import cluster_lib.admission as _admission
import common_lib.files as _files

log = logging.getLogger(__name__)

__virtualname__ = "minion_admission"
READ_TIMEOUT = 10
_LOCK = threading.Lock()


def __virtual__():
    return __virtualname__


def inventory_path(opts):
    """The inventory pillar file the bootstrap runner reads too."""
    settings = opts.get("cluster_bootstrap") or {}
    return settings.get("inventory") or "/srv/pillar/_from_terraform.sls"


def handle(opts, raw, fire=None):
    """Process one request line; return the answer (a dict with ``result`` and ``reason``)."""
    try:
        request = _admission.parse_request(raw)
    except _admission.AdmissionError as exc:
        log.warning("kubesalt admission: malformed request refused: %s", exc)
        return {"result": "refused", "reason": str(exc)}
    pki_dir = opts["pki_dir"]
    minion_id = request["id"]
    with _LOCK:
        master_pem = _files.read_text(os.path.join(pki_dir, "master.pem"))
        if master_pem is None:
            return {"result": "pending", "reason": "the master has no key yet"}
        accepted_path = os.path.join(pki_dir, "minions", minion_id)
        pending_path = os.path.join(pki_dir, "minions_pre", minion_id)
        pending = _files.read_text(pending_path)
        action, reason = _admission.decide(
            request,
            _admission.secret_from_master_key(master_pem),
            accepted_pub=_files.read_text(accepted_path),
            pending_pub=pending,
        )
        if action == "drop-pending":
            os.remove(pending_path)
            log.warning(
                "kubesalt admission: %s: dropped a pending key that is not Terraform's", minion_id
            )
            return {"result": "pending", "reason": reason}
        if action == "refused":
            log.warning("kubesalt admission: %s refused: %s", minion_id, reason)
            return {"result": "refused", "reason": reason}
        if action != "accept":
            return {"result": action, "reason": reason}
        # The inventory first: the minion's start event must find it.
        path = inventory_path(opts)
        document = yaml.safe_load(_files.read_text(path) or "") or {}
        updated = _admission.add_node(document, request)
        if updated is not None:
            _admission.write_inventory(path, updated)
        _admission.write_atomic(accepted_path, pending, 0o644)
        os.remove(pending_path)
    log.warning("kubesalt admission: accepted the key of %s (%s)", minion_id, reason)
    if fire is not None:
        fire(
            {"id": minion_id, "roles": request["roles"], "private_ip": request["private_ip"]},
            "kubesalt/admission/accepted",
        )
        fire({"act": "accept", "id": minion_id, "result": True}, "salt/key")
    return {"result": "accepted", "reason": reason}


def _server(opts, port, interface, fire):
    class Handler(socketserver.StreamRequestHandler):
        timeout = READ_TIMEOUT

        def handle(self):
            try:
                line = self.rfile.readline(_admission.MAX_REQUEST_BYTES + 1)
            except OSError:
                return
            answer = handle(opts, line, fire)
            try:
                self.wfile.write(json.dumps(answer).encode() + b"\n")
            except OSError:
                pass

    class Server(socketserver.ThreadingTCPServer):
        allow_reuse_address = True
        daemon_threads = True

    return Server((interface, int(port)), Handler)


def start(port=4507, interface=None):
    """
    Serve admission requests on ``interface:port`` (default: the master's ``interface``).

    port
        The TCP port to listen on (default 4507).
    interface
        The address to listen on (default: the master's ``interface`` option, else
        127.0.0.1).

    CLI Example (an engine: configured in the master config, started with salt-master):

    .. code-block:: bash

        printf '%s\\n' "$(cat /etc/kubesalt/admission.json)" | nc salt 4507
    """
    interface = interface or __opts__.get("interface") or "127.0.0.1"
    event = salt.utils.event.get_master_event(__opts__, __opts__["sock_dir"], listen=False)
    server = _server(__opts__, port, interface, event.fire_event)
    log.info("kubesalt admission: listening on %s:%s", interface, port)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        event.destroy()
