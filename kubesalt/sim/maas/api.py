"""The simulated MAAS region's HTTP side: the API 2.0 handler on ``/MAAS/api/2.0/``, the
login view, the rack RPC endpoints; each MAAS handler is served by one ``h_*`` method over
``kubesalt.sim.maas.region.Region``.
"""

from __future__ import annotations

import json
import logging
import urllib.parse
from http.server import BaseHTTPRequestHandler

from kubesalt.sim.maas import apidoc
from kubesalt.sim.maas import machines
from kubesalt.sim.maas.errors import ApiError
from kubesalt.sim.maas.errors import bad_request
from kubesalt.sim.maas.errors import one as _one
from kubesalt.sim.maas.forms import api_params
from kubesalt.sim.maas.forms import id_of as _int
from kubesalt.sim.maas.forms import parse_body
from kubesalt.sim.maas.region import API
from kubesalt.sim.maas.region import Region
from kubesalt.sim.maas.store import check_password

log = logging.getLogger("regiond")
JSON = "application/json; charset=utf-8"
TEXT = "text/plain; charset=utf-8"


def _user_dict(row: dict) -> dict:
    return {
        "username": row["username"],
        "email": row["email"],
        "is_superuser": row["is_superuser"],
        "is_local": True,
        "resource_uri": f"{API}users/{row['username']}/",
    }


# -- HTTP ---------------------------------------------------------------------------------------
# MAAS's handler (as named in api_description/*.json) -> the method of Handler serving it.
DISPATCH = {
    "VersionHandler": "h_version",
    "UsersHandler": "h_users",
    "AccountHandler": "h_account",
    "MaasHandler": "h_maas",
    "BootSourcesHandler": "h_sources",
    "BootSourceHandler": "h_source",
    "BootSourceSelectionsHandler": "h_selections",
    "BootSourceSelectionHandler": "h_selection",
    "BootResourcesHandler": "h_resources",
    "BootResourceHandler": "h_resource",
    "RackControllersHandler": "h_racks",
    "RackControllerHandler": "h_rack",
    "RegionControllersHandler": "h_regions",
    "RegionControllerHandler": "h_region",
    "MachinesHandler": "h_machines",
    "MachineHandler": "h_machine",
    "EventsHandler": "h_events",
    "TagsHandler": "h_tags",
    "TagHandler": "h_tag",
    "ResourcePoolsHandler": "h_pools",
}
# Actions MAAS reserves for admins (``@admin_method`` or an admin check in the handler);
# handlers served by an AdminRestrictedResource (boot sources, selections) are all admin.
ADMIN_ACTIONS = {
    ("MaasHandler", "POST", "set_config"),
    ("BootResourcesHandler", "POST", "import"),
    ("BootResourcesHandler", "POST", "stop_import"),
    ("BootResourceHandler", "DELETE", None),
    ("RackControllersHandler", "POST", "import_boot_images"),
    ("RackControllerHandler", "DELETE", None),
    ("RackControllerHandler", "POST", "import_boot_images"),
    ("RackControllerHandler", "GET", "list_boot_images"),
    ("MachineHandler", "POST", "commission"),
    ("MachineHandler", "DELETE", None),
    ("MachineHandler", "PUT", None),
    ("TagsHandler", "POST", None),
    ("TagHandler", "DELETE", None),
    ("TagHandler", "POST", "update_nodes"),
    ("ResourcePoolsHandler", "POST", None),
}


class Handler(BaseHTTPRequestHandler):
    region: Region = None  # set by serve()
    protocol_version = "HTTP/1.1"
    server_version = "maas-sim"

    def log_message(self, fmt, *args):  # the access log never holds headers (OAuth)
        log.info("%s %s", self.address_string(), fmt % args)

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("PUT")

    def do_DELETE(self):
        self._handle("DELETE")

    def _send(self, status: int, body, content_type=None, headers=None):
        if isinstance(body, (dict, list, bool, int)) or (body is None and content_type == JSON):
            payload = json.dumps(body).encode()
            content_type = content_type or JSON
        else:
            payload = str(body).encode()
            content_type = content_type or TEXT
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    def _handle(self, method: str):
        region = self.region
        parts = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            if parts.path == "/MAAS/api/version/":
                return self._send(200, "2.0")
            if parts.path.startswith("/MAAS/api/1.0/"):
                return self._send(
                    410, "The 1.0 API is no longer available. Please use API version 2.0."
                )
            if parts.path.startswith("/MAAS/rpc/") and method == "POST":
                payload = json.loads(raw or b"{}")
                name = parts.path.rsplit("/", 1)[-1]
                status, body = {"register": region.rpc_register, "heartbeat": region.rpc_heartbeat}[
                    name
                ](payload)
                return self._send(status, body)
            if parts.path == "/MAAS/accounts/authenticate/" and method == "POST":
                return self._authenticate_view(
                    parse_body(self.headers.get("Content-Type", ""), raw)
                )
            if not parts.path.startswith(API):
                return self._send(404, "Not Found")
            op, params = api_params(parts.query, self.headers.get("Content-Type", ""), raw)
            rest = parts.path[len(API) :]
            if rest == "describe/" and method == "GET":  # a plain view in MAAS, anonymous
                base = f"http://{self.headers.get('Host', '')}"
                return self._send(200, apidoc.document(base, region.version), "application/json")
            status, body, content_type = self._api(method, op, rest, params)
            headers = {"X-MAAS-API-Hash": apidoc.api_hash(region.version)}
            return self._send(status, body, content_type, headers)
        except ApiError as err:
            return self._send(err.status, err.body, None, err.headers)
        except Exception as err:  # pylint: disable=broad-except
            log.exception("internal error")
            return self._send(500, f"Internal server error: {type(err).__name__}")

    def _authenticate_view(self, params: dict):
        user = self.region.store.user(_one(params, "username") or "")
        if (
            not user
            or not user["is_active"]
            or not check_password(_one(params, "password") or "", user["password"])
        ):
            return self._send(403, "Forbidden")
        consumer = _one(params, "consumer")
        tokens = self.region.store.tokens(user["id"])
        token = next((t for t in tokens if consumer is None or t["name"] == consumer), None)
        if token is None:
            token = self.region.store.create_token(user["id"], consumer or "MAAS consumer")
        return self._send(
            200, {k: token[k] for k in ("consumer_key", "token_key", "token_secret", "name")}
        )

    def _api(self, method, op, rest, params):
        region = self.region
        found = next(((p.match(rest), name) for p, name in apidoc.routes() if p.match(rest)), None)
        if found is None:
            raise ApiError(404, "Not Found")
        match, name = found
        anonymous = name in apidoc.anonymous()
        if not anonymous and region.take_503():
            raise ApiError(503, "Service Unavailable: the region is starting up, retry later.")
        user = region.authenticate(self.headers, params)
        for key in [k for k in params if k.startswith("oauth_")]:
            params.pop(key)
        if not anonymous and user is None:  # piston authenticates before dispatch
            raise ApiError(401, "Forbidden", {"WWW-Authenticate": 'OAuth realm="OAuth"'})
        if (name, method, op) not in apidoc.actions():
            raise bad_request(f"Unrecognised signature: method={method} op={op}")
        if name in apidoc.admin_only() and not user["is_superuser"]:
            raise ApiError(403, "User is not allowed access to this API.")
        if (name, method, op) in ADMIN_ACTIONS and not user["is_superuser"]:
            raise ApiError(403, "This method is reserved for admin users.")
        result = getattr(self, DISPATCH[name])(method, op, params, user, **match.groupdict())
        return result if len(result) == 3 else (*result, None)

    # -- handlers -------------------------------------------------------------------------------
    def h_version(self, method, op, params, user):
        capabilities = [
            "networks-management",
            "static-ipaddresses",
            "ipv6-deployment-ubuntu",
            "devices-management",
            "storage-deployment-ubuntu",
            "network-deployment-ubuntu",
            "bridging-interface-ubuntu",
            "bridging-automatic-ubuntu",
            "authenticate-api",
        ]
        subversion = "" if self.region.version_key != "2.9" else "9164-g.4d23c3cb5"
        return 200, {
            "capabilities": capabilities,
            "version": self.region.version,
            "subversion": subversion,
        }

    def h_users(self, method, op, params, user):
        store = self.region.store
        if op == "whoami":
            return 200, _user_dict(store.user(user["username"]))
        return 200, [_user_dict(u) for u in store.rows("SELECT * FROM maas_user ORDER BY id")]

    def h_account(self, method, op, params, user):
        store = self.region.store
        if op == "create_authorisation_token":
            token = store.create_token(user["user_id"], _one(params, "name") or "MAAS consumer")
            return 200, {k: token[k] for k in ("token_key", "token_secret", "consumer_key", "name")}
        if op == "list_authorisation_tokens":
            return 200, [
                {
                    "name": t["name"],
                    "token": f"{t['consumer_key']}:{t['token_key']}:{t['token_secret']}",
                }
                for t in store.tokens(user["user_id"])
            ]
        if op == "update_token_name":
            token, name = _one(params, "token"), _one(params, "name")
            for field, value in (("token", token), ("name", name)):
                if not value:
                    raise bad_request(f"No provided {field}!")
            fields = token.split(":")
            key = fields[1] if len(fields) == 3 else token
            if not store.rename_token(user["user_id"], key, name):
                raise ApiError(404, "No Token matches the given query.")
            return 202, "Accepted"
        token_key = _one(params, "token_key")
        if not token_key:
            raise bad_request("No provided token_key!")
        if not store.delete_token(user["user_id"], token_key):
            raise ApiError(404, "No Token matches the given query.")
        return 204, ""

    def h_maas(self, method, op, params, user):
        name = _one(params, "name")
        if name is None:
            raise bad_request("No provided name!")
        if not name:
            raise bad_request({"name": ["Enter a value not less than 1 characters long"]})
        if op == "get_config":
            return 200, json.dumps(self.region.get_config(name)), JSON
        value = _one(params, "value")
        if value is None:
            raise bad_request("No provided value!")
        self.region.set_config(name, value)
        return 200, "OK"

    def h_sources(self, method, op, params, user):
        region = self.region
        if method == "GET":
            return 200, [
                region.source_dict(r)
                for r in region.store.rows("SELECT * FROM maas_bootsource ORDER BY id")
            ]
        return 201, region.source_dict(region.create_source(params))

    def h_source(self, method, op, params, user, *, id):
        source = id
        region = self.region
        if method == "GET":
            return 200, region.source_dict(region.source(source))
        if method == "PUT":
            return 200, region.source_dict(region.update_source(source, params))
        region.store.run("DELETE FROM maas_bootsource WHERE id = :i", i=region.source(source)["id"])
        return 204, ""

    def h_selections(self, method, op, params, user, *, boot_source_id):
        source = boot_source_id
        region = self.region
        if method == "GET":
            row = region.source(source)
            rows = region.store.rows(
                "SELECT * FROM maas_bootsourceselection WHERE boot_source_id = :i ORDER BY id",
                i=row["id"],
            )
            return 200, [region.selection_dict(r) for r in rows]
        return 200, region.selection_dict(region.save_selection(source, params))

    def h_selection(self, method, op, params, user, *, boot_source_id, id):
        source, sel = boot_source_id, id
        region = self.region
        if method == "GET":
            return 200, region.selection_dict(region.selection(source, sel))
        if method == "PUT":
            existing = region.selection(source, sel)
            return 200, region.selection_dict(region.save_selection(source, params, existing))
        region.delete_selection(source, sel)
        return 204, ""

    def h_resources(self, method, op, params, user):
        region = self.region
        if op == "import":
            region.start_import()
            return 200, "Import of boot resources started"
        if op == "stop_import":
            region.stop_import()
            return 200, "Import of boot resources is being stopped"
        if op == "is_importing":
            return 200, bool(region.importing)
        rtype = (_one(params, "type") or "all").lower()
        types = {"all": (0, 1, 2), "synced": (0,), "uploaded": (2,)}
        if region.version_key == "2.9":
            types["generated"] = (1,)
        if rtype not in types:
            available = sorted(t for t in types if t != "all")
            raise bad_request(
                f"'{rtype}' is not a valid boot resource type. Available types: {available}"
            )
        rows = region.store.rows(
            "SELECT * FROM maas_bootresource WHERE rtype = ANY(:t) ORDER BY id",
            t=list(types[rtype]),
        )
        return 200, [region.resource_dict(r) for r in rows]

    def h_resource(self, method, op, params, user, *, id):
        res = id
        region = self.region
        rows = region.store.rows("SELECT * FROM maas_bootresource WHERE id = :i", i=_int(res))
        if not rows:
            raise ApiError(404, "No BootResource matches the given query.")
        if method == "DELETE":
            region.store.run("DELETE FROM maas_bootresource WHERE id = :i", i=rows[0]["id"])
            return 204, ""
        return 200, region.resource_dict(rows[0], with_sets=True)

    def h_racks(self, method, op, params, user):
        region = self.region
        if op == "import_boot_images":
            if region.version_key == "3.7":
                return 202, "Accepted"
            region.store.run("UPDATE maas_node SET sync_requested = true WHERE node_type IN (2, 4)")
            return 200, "Import of boot images started on all rack controllers"
        rows = region.nodes((2, 4))
        hostname = _one(params, "hostname")
        if hostname:
            rows = [r for r in rows if r["hostname"] == hostname]
        return 200, [region.controller_dict(r) for r in rows]

    def h_rack(self, method, op, params, user, *, system_id):
        sid = system_id
        region = self.region
        row = region.node(sid, (2, 4))
        if method == "DELETE":
            if row["node_type"] == 4:
                region.store.run("UPDATE maas_node SET node_type = 3 WHERE system_id = :s", s=sid)
            else:
                region.store.run("DELETE FROM maas_node WHERE system_id = :s", s=sid)
            return 204, ""
        if op == "import_boot_images":
            if region.version_key == "3.7":
                return 202, "Accepted"
            region.store.run(
                "UPDATE maas_node SET sync_requested = true WHERE system_id = :s", s=sid
            )
            return 200, f"Import of boot images started on {row['hostname']}"
        if op == "list_boot_images":
            return region.list_boot_images(row)
        return 200, region.controller_dict(row)

    def h_regions(self, method, op, params, user):
        return 200, [
            self.region.controller_dict(r, "regioncontrollers") for r in self.region.nodes((3, 4))
        ]

    def h_region(self, method, op, params, user, *, system_id):
        row = self.region.node(system_id, (3, 4), "RegionController")
        return 200, self.region.controller_dict(row, "regioncontrollers")

    def h_machines(self, method, op, params, user):
        return machines.serve(self.region.machines, method, op, params, user)

    def h_machine(self, method, op, params, user, *, system_id):
        return machines.serve(self.region.machines, method, op, params, user, system_id=system_id)

    def h_events(self, method, op, params, user):
        region = self.region
        with region.machines.lock:
            region.machines.advance()
            return 200, region.machines.events(params)

    def h_tags(self, method, op, params, user):
        return machines.serve_tags(self.region.machines, method, op, params)

    def h_tag(self, method, op, params, user, *, name):
        return machines.serve_tags(self.region.machines, method, op, params, name)

    def h_pools(self, method, op, params, user):
        return machines.serve_pools(self.region.machines, method, op, params)
