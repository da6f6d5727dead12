"""The simulated MAAS region's domain model: everything the region knows and does,
independent of HTTP (settings, users' OAuth, boot sources, selections and resources, the
image import, rack controllers and their RPC, machines through ``machines.Machines``).

Served by ``kubesalt.sim.maas.api``; run by ``kubesalt.sim.maas.regiond``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
import threading
import time
import urllib.parse

import yaml

from kubesalt.sim.maas import catalog
from kubesalt.sim.maas import machines
from kubesalt.sim.maas import rpc
from kubesalt.sim.maas.errors import ApiError
from kubesalt.sim.maas.errors import bad_request
from kubesalt.sim.maas.errors import one as _one
from kubesalt.sim.maas.forms import id_of as _int
from kubesalt.sim.maas.host import Host
from kubesalt.sim.maas.host import write_file
from kubesalt.sim.maas.store import NODE_TYPES
from kubesalt.sim.maas.store import Store
from kubesalt.sim.maas.store import random_string

log = logging.getLogger("regiond")
API = "/MAAS/api/2.0/"
RTYPES = {0: "Synced", 1: "Generated", 2: "Uploaded"}


def iso(value) -> str | None:
    if value is None:
        return None
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]


class Region:
    """Everything the region knows and does, independent of HTTP."""

    def __init__(self, host: Host):
        self.host = host
        self.settings = host.settings()
        self.version_key = self.settings["version"]
        self.version = host.version
        self.lts = catalog.LTS[self.version_key]
        self.conf = yaml.safe_load(host.regiond_conf.read_text())
        self.store = Store.from_conf(self.conf)
        self.hostname = self.settings["hostname"]
        self.nonces: dict[tuple, float] = {}
        self.guard = threading.Lock()
        self.import_pending = False
        self.importing = False
        self.stop_requested = False
        self.selections_dirty = False
        self.faults_mtime = None
        self.api_503_left = 0
        self.secret = None
        self.machines = machines.Machines(self)

    # -- start-up -----------------------------------------------------------------------------
    def startup(self) -> None:
        self.machines.ensure_schema()
        self.secret = self._reconcile_secret()
        mode = self.host.snap_mode()
        self._upsert_node(self.hostname, NODE_TYPES.get(mode, 3))
        if self.settings["auto_import_on_start"] and self._config("boot_images_auto_import"):
            self.start_import()

    def _reconcile_secret(self) -> str:
        db_secret = self.store.get_meta("rpc_shared_secret")
        if self.version_key == "2.9":  # DB and file reconciled; a mismatch is fatal
            file_secret = self.host.read_secret()
            if db_secret and file_secret and db_secret != file_secret:
                raise SystemExit(
                    "AssertionError: shared secret in the database and in the file differ"
                )
            secret = db_secret or file_secret or secrets.token_hex(16)
        else:  # 3.3+: the DB secret store is the authority; the file is written from it
            secret = db_secret or secrets.token_hex(16)
        if secret != db_secret:
            self.store.set_meta("rpc_shared_secret", secret)
        write_file(self.host.secret_file, secret, 0o600)
        return secret

    def _upsert_node(self, hostname: str, node_type: int) -> str:
        rows = self.store.rows("SELECT * FROM maas_node WHERE hostname = :h", h=hostname)
        if rows:
            node = rows[0]
            new_type = node["node_type"]
            if {new_type, node_type} == {2, 3}:
                new_type = 4
            elif node_type > new_type:
                new_type = node_type
            self.store.run(
                "UPDATE maas_node SET node_type = :t, version = :v WHERE system_id = :s",
                t=new_type,
                v=self.version,
                s=node["system_id"],
            )
            return node["system_id"]
        system_id = random_string(6).lower()
        self.store.run(
            "INSERT INTO maas_node (system_id, hostname, node_type, version) "
            "VALUES (:s, :h, :t, :v)",
            s=system_id,
            h=hostname,
            t=node_type,
            v=self.version,
        )
        return system_id

    # -- faults -------------------------------------------------------------------------------
    def faults(self) -> dict:
        path = self.host.sim_dir / "faults.json"
        try:
            mtime = path.stat().st_mtime_ns
        except FileNotFoundError:
            return {}
        faults = self.host.faults()
        if mtime != self.faults_mtime:
            self.faults_mtime = mtime
            self.api_503_left = int(faults.get("api_503") or 0)
        return faults

    def take_503(self) -> bool:
        with self.guard:
            self.faults()
            if self.api_503_left > 0:
                self.api_503_left -= 1
                return True
        return False

    # -- OAuth --------------------------------------------------------------------------------
    def authenticate(self, headers, params: dict) -> dict | None:
        oauth = {}
        header = headers.get("Authorization") or ""
        if header.lower().startswith("oauth "):
            for match in re.finditer(r'([A-Za-z_]+)="([^"]*)"', header[6:]):
                oauth[match.group(1)] = urllib.parse.unquote(match.group(2))
        for key, values in params.items():
            if key.startswith("oauth_") and key not in oauth:
                oauth[key] = values[0]
        if not oauth:
            return None
        required = (
            "oauth_consumer_key",
            "oauth_token",
            "oauth_signature",
            "oauth_signature_method",
            "oauth_timestamp",
            "oauth_nonce",
        )
        if any(not oauth.get(k) for k in required):
            raise ApiError(401, "Forbidden", {"WWW-Authenticate": 'OAuth realm="OAuth"'})
        unauthorized = {"WWW-Authenticate": 'OAuth realm="OAuth"'}
        if not self.store.consumer_exists(oauth["oauth_consumer_key"]):
            raise ApiError(401, "Authorization Error: Invalid API key.", unauthorized)
        token = self.store.token(oauth["oauth_token"])
        if not token or token["consumer_key"] != oauth["oauth_consumer_key"]:
            raise ApiError(
                401,
                f"Authorization Error: 'Invalid access token: {oauth['oauth_token']}'",
                unauthorized,
            )
        if oauth["oauth_signature_method"] != "PLAINTEXT":
            raise ApiError(401, "Authorization Error: 'Invalid signature method.'", unauthorized)
        now = int(time.time())
        try:
            stamp = int(oauth["oauth_timestamp"])
        except ValueError:
            raise ApiError(400, "Bad Request: Invalid timestamp") from None
        if abs(now - stamp) > 300:
            raise ApiError(
                401,
                f"Authorization Error: 'Expired timestamp: given {stamp} and now {now} has a "
                "greater difference than threshold 300'",
                unauthorized,
            )
        if not secrets.compare_digest(oauth["oauth_signature"], "&" + token["token_secret"]):
            raise ApiError(401, "Authorization Error: 'Invalid signature.'", unauthorized)
        nonce_key = (token["token_key"], oauth["oauth_nonce"], stamp)
        with self.guard:
            for key, seen in list(self.nonces.items()):
                if now - seen > 600:
                    del self.nonces[key]
            if nonce_key in self.nonces:
                raise ApiError(
                    401,
                    f"Authorization Error: 'Nonce already used: {oauth['oauth_nonce']}'",
                    unauthorized,
                )
            self.nonces[nonce_key] = now
        if not token["is_active"]:
            raise ApiError(403, "User is not allowed access to this API.")
        return token

    # -- config -------------------------------------------------------------------------------
    def _config(self, name: str):
        stored = self.store.config()
        if name in stored:
            return stored[name]
        if name == "maas_name":
            return self.hostname
        return catalog.default_value(self.version_key, name, self.lts)

    def config_context(self) -> dict:
        complete = self.complete_images()
        oses = {name.split("/")[0] for name, _ in complete}
        releases = {name.split("/")[1] for name, _ in complete}
        return {"oses": oses, "releases": releases}

    def get_config(self, name: str):
        if name == "ntp_server":
            name = "ntp_servers"
        if name not in catalog.SETTINGS[self.version_key]:
            raise self._unknown_setting(name)
        return self._config(name)

    def _unknown_setting(self, name: str) -> ApiError:
        valid = ", ".join(sorted(catalog.SETTINGS[self.version_key]))
        return ApiError(
            400, {name: [f"{name} is not a valid config setting (valid settings are: {valid})."]}
        )

    def set_config(self, name: str, raw: str) -> None:
        if name == "ntp_server":
            name = "ntp_servers"
        if name not in catalog.SETTINGS[self.version_key]:
            raise self._unknown_setting(name)
        try:
            value = catalog.clean(self.version_key, name, raw, self.config_context())
        except catalog.SettingError as err:
            raise ApiError(400, {name: [str(err)]}) from None
        self.store.set_config(name, value)
        self.store.event(f"Updated configuration setting '{name}' to '{raw}'.")

    # -- boot sources ---------------------------------------------------------------------------
    def source_dict(self, row: dict) -> dict:
        return {
            "id": row["id"],
            "url": row["url"],
            "keyring_filename": row["keyring_filename"],
            "keyring_data": row["keyring_data"],
            "created": iso(row["created"]),
            "updated": iso(row["updated"]),
            "resource_uri": f"{API}boot-sources/{row['id']}/",
        }

    def source(self, source_id) -> dict:
        rows = self.store.rows("SELECT * FROM maas_bootsource WHERE id = :i", i=_int(source_id))
        if not rows:
            raise ApiError(404, "No BootSource matches the given query.")
        return rows[0]

    def check_keyring(self, params: dict, partial=False) -> tuple[str, str]:
        filename = _one(params, "keyring_filename")
        data = _one(params, "keyring_data")
        if partial and filename is None and data is None:
            return None, None
        if filename and data:
            raise bad_request(
                {"__all__": ["Only one of keyring_filename or keyring_data can be specified."]}
            )
        if not filename and not data:
            raise bad_request(
                {"__all__": ["One of keyring_data or keyring_filename must be specified."]}
            )
        return filename or "", data or ""

    def create_source(self, params: dict) -> dict:
        url = _one(params, "url")
        if not url:
            raise bad_request({"url": ["This field is required."]})
        filename, data = self.check_keyring(params)
        if self.store.rows("SELECT 1 FROM maas_bootsource WHERE url = :u", u=url):
            raise bad_request({"url": ["Boot source with this Url already exists."]})
        source_id = self.store.run(
            "INSERT INTO maas_bootsource (url, keyring_filename, keyring_data) "
            "VALUES (:u, :f, :d) RETURNING id",
            u=url,
            f=filename,
            d=data,
        )[0][0]
        self.refresh_cache(source_id)
        return self.source(source_id)

    def update_source(self, source_id, params: dict) -> dict:
        row = self.source(source_id)
        filename, data = self.check_keyring(params, partial=True)
        url = _one(params, "url") or row["url"]
        if filename is None:
            filename, data = row["keyring_filename"], row["keyring_data"]
        self.store.run(
            "UPDATE maas_bootsource SET url = :u, keyring_filename = :f, keyring_data = :d, "
            "updated = now() WHERE id = :i",
            u=url,
            f=filename,
            d=data,
            i=row["id"],
        )
        if row["id"] != 1:  # MAAS refreshes the cache on save, except for source 1
            self.refresh_cache(row["id"])
        return self.source(row["id"])

    def refresh_cache(self, source_id: int) -> None:
        with self.store.transaction():
            self.store.run(
                "DELETE FROM maas_bootsourcecache WHERE boot_source_id = :i", i=source_id
            )
            for os_name, release, arch, subarch, label in catalog.cache_rows():
                self.store.run(
                    "INSERT INTO maas_bootsourcecache VALUES (:i, :o, :r, :a, :s, :l)",
                    i=source_id,
                    o=os_name,
                    r=release,
                    a=arch,
                    s=subarch,
                    l=label,
                )

    def ensure_default_source(self) -> None:
        if self.store.run("SELECT 1 FROM maas_bootsource LIMIT 1"):
            return
        source_id = self.store.run(
            "INSERT INTO maas_bootsource (url, keyring_filename) VALUES (:u, :k) RETURNING id",
            u=catalog.DEFAULT_SOURCE_URL,
            k=catalog.DEFAULT_KEYRING,
        )[0][0]
        self.refresh_cache(source_id)
        self.store.run(
            "INSERT INTO maas_bootsourceselection "
            "(boot_source_id, os, release, arches, subarches, labels) "
            "VALUES (:i, 'ubuntu', :r, '[\"amd64\"]', '[\"*\"]', '[\"*\"]')",
            i=source_id,
            r=self.lts,
        )

    # -- selections ---------------------------------------------------------------------------
    def selection_dict(self, row: dict) -> dict:
        return {
            "boot_source_id": row["boot_source_id"],
            "id": row["id"],
            "os": row["os"],
            "release": row["release"],
            "arches": json.loads(row["arches"]),
            "subarches": json.loads(row["subarches"]),
            "labels": json.loads(row["labels"]),
            "resource_uri": f"{API}boot-sources/{row['boot_source_id']}/selections/{row['id']}/",
        }

    def selection(self, source_id, selection_id) -> dict:
        rows = self.store.rows(
            "SELECT * FROM maas_bootsourceselection WHERE id = :i AND boot_source_id = :s",
            i=_int(selection_id),
            s=_int(source_id),
        )
        if not rows:
            raise ApiError(404, "No BootSourceSelection matches the given query.")
        return rows[0]

    def validate_selection(self, source_id: int, fields: dict) -> None:
        cache = self.store.rows(
            "SELECT * FROM maas_bootsourcecache WHERE boot_source_id = :i AND release = :r"  # noqa: S608 (constant SQL)
            + (" AND os = :o" if fields.get("os") else ""),
            i=source_id,
            r=fields["release"],
            **({"o": fields["os"]} if fields.get("os") else {}),
        )
        if not cache:
            raise bad_request(
                {
                    "os": [
                        f"OS {fields.get('os')} with release {fields['release']} has no "
                        "available images for download"
                    ]
                }
            )
        for field, column in (("arches", "arch"), ("subarches", "subarch"), ("labels", "label")):
            wanted = fields[field]
            if "*" in wanted:
                continue
            offered = {row[column] for row in cache}
            missing = [w for w in wanted if w not in offered]
            if missing:
                raise bad_request({field: [f"No available images to download for {missing}"]})

    def save_selection(self, source_id, params: dict, existing: dict | None = None) -> dict:
        source = self.source(source_id)
        fields = {
            "os": _one(params, "os") or (existing or {}).get("os") or "",
            "release": _one(params, "release") or (existing or {}).get("release") or "",
        }
        for field in ("arches", "subarches", "labels"):
            values = [v for v in params.get(field, []) if v != ""]
            if not values and existing:
                values = json.loads(existing[field])
            fields[field] = values
        if not fields["release"]:
            raise bad_request({"release": ["This field is required."]})
        self.validate_selection(source["id"], fields)
        dup = self.store.rows(
            "SELECT id FROM maas_bootsourceselection WHERE boot_source_id = :s AND os = :o "
            "AND release = :r",
            s=source["id"],
            o=fields["os"],
            r=fields["release"],
        )
        if dup and (not existing or dup[0]["id"] != existing["id"]):
            raise bad_request(
                {
                    "__all__": [
                        "Boot source selection with this Boot source, Os and Release "
                        "already exists."
                    ]
                }
            )
        args = {k: json.dumps(v) if isinstance(v, list) else v for k, v in fields.items()}
        if existing:
            self.store.run(
                "UPDATE maas_bootsourceselection SET os = :os, release = :release, "
                "arches = :arches, subarches = :subarches, labels = :labels WHERE id = :id",
                id=existing["id"],
                **args,
            )
            selection_id = existing["id"]
        else:
            selection_id = self.store.run(
                "INSERT INTO maas_bootsourceselection "
                "(boot_source_id, os, release, arches, subarches, labels) VALUES "
                "(:s, :os, :release, :arches, :subarches, :labels) RETURNING id",
                s=source["id"],
                **args,
            )[0][0]
        self.selections_dirty = True
        return self.selection(source["id"], selection_id)

    def delete_selection(self, source_id, selection_id) -> None:
        row = self.selection(source_id, selection_id)
        if row["os"] == "ubuntu" and row["release"] == self._config("commissioning_distro_series"):
            raise bad_request(
                f"Unable to delete {row['os']} {row['release']}. It is the operating system "
                "used for commissioning."
            )
        self.store.run("DELETE FROM maas_bootsourceselection WHERE id = :i", i=row["id"])
        self.selections_dirty = True

    # -- boot resources and the import ----------------------------------------------------------
    def resource_dict(self, row: dict, with_sets=False) -> dict:
        extra = json.loads(row["extra"])
        item = {
            "id": row["id"],
            "type": RTYPES[row["rtype"]],
            "name": row["name"],
            "architecture": row["architecture"],
            "resource_uri": f"{API}boot-resources/{row['id']}/",
            **extra,
        }
        if self.version_key != "2.9":
            item["last_deployed"] = None
        if with_sets:
            item["sets"] = {}
            for image_set in self.store.rows(
                "SELECT * FROM maas_bootresourceset WHERE resource_id = :i ORDER BY version",
                i=row["id"],
            ):
                complete = image_set["progress"] >= 100
                files = {}
                for ftype in ("boot-kernel", "boot-initrd", "squashfs"):
                    fsize = image_set["size"] // 3
                    files[ftype] = {
                        "filename": ftype,
                        "filetype": ftype,
                        "sha256": hashlib.sha256(f"{row['name']}{ftype}".encode()).hexdigest(),
                        "filename_on_disk": f"{row['id']}-{ftype}",
                        "size": fsize,
                        "complete": complete,
                    }
                    if not complete:
                        files[ftype]["progress"] = image_set["progress"]
                entry = {
                    "version": image_set["version"],
                    "label": image_set["label"],
                    "size": image_set["size"],
                    "complete": complete,
                    "files": files,
                }
                if not complete:
                    entry["progress"] = image_set["progress"]
                item["sets"][image_set["version"]] = entry
        return item

    def complete_images(self) -> list[tuple[str, str]]:
        """(name, arch) of synced OS resources whose every set is complete."""
        rows = self.store.rows(
            "SELECT r.name, r.architecture, min(s.progress) AS progress FROM maas_bootresource r "
            "JOIN maas_bootresourceset s ON s.resource_id = r.id WHERE r.rtype = 0 "
            "GROUP BY r.id ORDER BY r.name, r.architecture"
        )
        return [
            (r["name"], r["architecture"].split("/")[0])
            for r in rows
            if r["progress"] >= 100 and "/" in r["name"] and not _is_bootloader(r["name"])
        ]

    def start_import(self) -> None:
        with self.guard:
            if self.import_pending or self.importing:
                return  # the try-lock: another import is running
            self.import_pending = True
        threading.Thread(target=self._import, name="import", daemon=True).start()

    def _import(self) -> None:
        time.sleep(float(self.settings["import_start_delay"]))
        with self.guard:
            self.importing, self.import_pending, self.stop_requested = True, False, False
        try:
            while True:
                self.selections_dirty = False
                sources = self.store.run("SELECT count(*) FROM maas_bootsource")[0][0]
                self.store.event(
                    f"Started importing of boot images from {max(sources, 1)} source(s)."
                )
                self.ensure_default_source()
                for (source_id,) in self.store.run("SELECT id FROM maas_bootsource"):
                    self.refresh_cache(source_id)
                self._create_resources()
                self._download()
                if self.stop_requested or not self.selections_dirty:
                    break
        except Exception:  # pylint: disable=broad-except
            log.exception("import failed")
        finally:
            with self.guard:
                self.importing = False
            self.store.event("Finished importing boot images.")

    def _create_resources(self) -> None:
        wanted = set()
        for sel in self.store.rows("SELECT * FROM maas_bootsourceselection"):
            arches = json.loads(sel["arches"])
            cache = self.store.rows(
                "SELECT DISTINCT arch FROM maas_bootsourcecache WHERE boot_source_id = :i AND "
                "os = :o AND release = :r",
                i=sel["boot_source_id"],
                o=sel["os"],
                r=sel["release"],
            )
            offered = sorted(row["arch"] for row in cache)
            for arch in offered if "*" in arches else [a for a in arches if a in offered]:
                number = catalog.STREAM[sel["os"]][sel["release"]][0]
                subs = catalog.subarches(sel["os"], number)
                architecture = f"{arch}/{subs[0]}"
                wanted.add((f"{sel['os']}/{sel['release']}", architecture))
                extra = {"subarches": ",".join(subs), "title": f"{sel['os']} {number}"}
                self._ensure_resource(f"{sel['os']}/{sel['release']}", architecture, extra, arch)
        for name, architecture in catalog.BOOTLOADERS:
            wanted.add((name, architecture))
            self._ensure_resource(name, architecture, {"title": name}, architecture, done=True)
        for row in self.store.rows(
            "SELECT id, name, architecture FROM maas_bootresource WHERE rtype = 0"
        ):
            if (row["name"], row["architecture"]) not in wanted:  # deselected: removed
                self.store.run("DELETE FROM maas_bootresource WHERE id = :i", i=row["id"])

    def _ensure_resource(self, name, architecture, extra, arch, done=False) -> None:
        rows = self.store.run(
            "SELECT id FROM maas_bootresource WHERE name = :n AND architecture = :a",
            n=name,
            a=architecture,
        )
        if rows:
            resource_id = rows[0][0]
        else:
            resource_id = self.store.run(
                "INSERT INTO maas_bootresource (rtype, name, architecture, extra) "
                "VALUES (0, :n, :a, :e) RETURNING id",
                n=name,
                a=architecture,
                e=json.dumps(extra),
            )[0][0]
        self.store.run(
            "INSERT INTO maas_bootresourceset (resource_id, version, label, size, progress) "
            "VALUES (:r, :v, 'stable', :s, :p) ON CONFLICT (resource_id, version) DO NOTHING",
            r=resource_id,
            v=catalog.STREAM_VERSION,
            s=catalog.image_size(arch.split("/")[0]),
            p=100.0 if done else 0.0,
        )

    def _download(self) -> None:
        tick = 0.1
        while not self.stop_requested:
            faults = self.faults()
            seconds = max(
                float(faults.get("import_seconds", self.settings["import_seconds"])), 0.01
            )
            cap = 37.0 if faults.get("import_stuck") else 100.0
            left = self.store.run(
                "UPDATE maas_bootresourceset SET progress = LEAST(:cap, progress + :step) "
                "WHERE progress < 100 AND progress < :cap RETURNING id",
                cap=cap,
                step=100.0 * tick / seconds,
            )
            remaining = self.store.run(
                "SELECT count(*) FROM maas_bootresourceset WHERE progress < 100"
            )[0][0]
            if not remaining:
                return
            if not left and cap >= 100:
                return
            time.sleep(tick)

    def stop_import(self) -> None:
        self.stop_requested = True
        deadline = time.monotonic() + 10
        while (self.importing or self.import_pending) and time.monotonic() < deadline:
            time.sleep(0.05)

    # -- controllers --------------------------------------------------------------------------
    def nodes(self, types) -> list[dict]:
        return self.store.rows(
            "SELECT *, extract(epoch FROM now() - last_seen) AS age FROM maas_node "
            "WHERE node_type = ANY(:t) ORDER BY hostname",
            t=list(types),
        )

    def node(self, system_id, types, kind="RackController") -> dict:
        for row in self.nodes(types):
            if row["system_id"] == system_id:
                return row
        raise ApiError(404, f"No {kind} matches the given query.")

    def rack_alive(self, row: dict) -> bool:
        if row["node_type"] not in (2, 4):
            return False
        age = row["age"]
        return age is not None and float(age) <= float(self.settings["rack_dead_after"])

    def controller_dict(self, row: dict, kind="rackcontrollers") -> dict:
        names = {2: "Rack controller", 3: "Region controller", 4: "Region and rack controller"}
        services = [
            "rackd",
            "tftp",
            "http",
            "dhcpd",
            "dhcpd6",
            "ntp_rack",
            "proxy_rack",
            "syslog_rack",
            "agent" if self.version_key == "3.7" else "dns_rack",
        ]
        alive = self.rack_alive(row)
        service_set = []
        if row["node_type"] in (2, 4):
            for name in services:
                if alive:
                    status = "off" if name.startswith("dhcpd") else "running"
                else:
                    status = "dead" if name in ("rackd", "tftp", "dhcpd", "ntp_rack") else "unknown"
                service_set.append({"name": name, "status": status, "status_info": ""})
        if row["node_type"] in (3, 4):
            service_set.insert(0, {"name": "regiond", "status": "running", "status_info": ""})
        return {
            "system_id": row["system_id"],
            "hostname": row["hostname"],
            "description": "",
            "hardware_uuid": None,
            "domain": {"name": "maas", "id": 0, "resource_uri": f"{API}domains/0/"},
            "fqdn": f"{row['hostname']}.maas",
            "architecture": "amd64/generic",
            "cpu_count": 2,
            "cpu_speed": 2400,
            "memory": 4096,
            "swap_size": None,
            "osystem": "ubuntu",
            "distro_series": self.lts,
            "power_type": "",
            "power_state": "unknown",
            "ip_addresses": [],
            "interface_set": [],
            "zone": {"name": "default", "description": "", "id": 1},
            "status_action": "",
            "node_type": row["node_type"],
            "node_type_name": names[row["node_type"]],
            "service_set": service_set,
            "version": f"{self.version}-16521-g.{row['system_id']}",
            "tag_names": [],
            "resource_uri": f"{API}{kind}/{row['system_id']}/",
        }

    def list_boot_images(self, row: dict) -> tuple[int, dict]:
        region_images = self.complete_images()
        if self.version_key == "3.7":  # 3.5+: a stub built from every region resource
            images = [
                {
                    "name": name
                    if not _is_bootloader(name)
                    else f"bootloader/{name.split('/')[1]}",
                    "architecture": arch,
                    "subarches": [],
                }
                for name, arch in self._all_resources()
            ]
            return 200, {"images": images, "connected": True, "status": "synced"}
        if not self.rack_alive(row):
            return 200, {"images": [], "connected": False, "status": "unknown"}
        rack_images = [tuple(i) for i in json.loads(row["rack_images"])]
        images = [{"name": n, "architecture": a, "subarches": ["generic"]} for n, a in rack_images]
        if self.importing:
            status = "region-importing"
        elif sorted(rack_images) == sorted(region_images):
            status = "synced"
        elif row["rack_syncing"]:
            status = "syncing"
        else:
            status = "out-of-sync"
        return 200, {"images": images, "connected": True, "status": status}

    def _all_resources(self):
        return [
            (r["name"], r["architecture"].split("/")[0])
            for r in self.store.rows("SELECT name, architecture FROM maas_bootresource")
        ]

    # -- rack RPC -----------------------------------------------------------------------------
    def rpc_register(self, payload: dict) -> tuple[int, dict]:
        if not rpc.verify(self.secret, payload):
            log.warning(
                "rack %s failed to authenticate: shared secret mismatch", payload.get("hostname")
            )
            return 403, {"error": "Authentication failed: the shared secret does not match."}
        node_type = 4 if payload["hostname"] == self.hostname else 2
        system_id = self._upsert_node(payload["hostname"], node_type)
        self.store.run("UPDATE maas_node SET last_seen = now() WHERE system_id = :s", s=system_id)
        log.info("rack %s registered as %s", payload["hostname"], system_id)
        return 200, {"system_id": system_id}

    def rpc_heartbeat(self, payload: dict) -> tuple[int, dict]:
        if not rpc.verify(self.secret, payload):
            return 403, {"error": "Authentication failed: the shared secret does not match."}
        rows = self.store.rows(
            "UPDATE maas_node SET last_seen = now(), rack_images = :i, rack_syncing = :s "
            "WHERE system_id = :id AND hostname = :h RETURNING sync_requested",
            i=json.dumps(payload.get("images") or []),
            s=bool(payload.get("syncing")),
            id=payload.get("system_id"),
            h=payload["hostname"],
        )
        if not rows:
            return 404, {"error": "unknown rack: register again"}
        if rows[0]["sync_requested"]:
            self.store.run(
                "UPDATE maas_node SET sync_requested = false WHERE system_id = :s",
                s=payload["system_id"],
            )
        return 200, {
            "region_images": [list(i) for i in self.complete_images()],
            "importing": self.importing,
            "sync_requested": rows[0]["sync_requested"],
        }


def _is_bootloader(name: str) -> bool:
    return name.split("/", maxsplit=1)[0] in {n.split("/")[0] for n, _ in catalog.BOOTLOADERS}
