"""Machines in the simulated region: enlist, commission, allocate, deploy, release.

Statuses, their display names, the transitions allowed and the 409 texts are MAAS's
(``maasserver/enum.py`` NODE_STATUS, ``node_status.py`` NODE_TRANSITIONS, ``api/machines.py``;
MAAS 3.4.8); the statuses, names and releasable set come from the one table the Salt modules
use, ``maas_lib.machines`` (docs/reference/maas.md). Long-running steps (commissioning,
deployment, release) end when their simulated time is up; the state advances lazily, under a
lock, whenever the API looks at machines, so no thread is needed and every read sees a
consistent state.

Knobs (``kubesalt sim maas install --set`` / ``fault``): ``commission_seconds``,
``deploy_seconds``, ``release_seconds``; ``node_timeout`` (seconds the region waits for a
machine that never reports, MAAS's ``node_timeout`` minutes scaled down); faults
``deploy_fails`` (the installation fails: Failed deployment), ``machine_silent`` (the machine
never reports: the step times out as MAAS's status monitor does).

A machine entering Deploying is written to ``var/lib/kubesalt-sim-maas/deployments/
<system_id>.json`` (0600: it holds the user-data) with its hostname, MACs, power settings,
distro series, the decoded user-data, an id of this deployment and the machine's status,
rewritten when the deployment ends (Deployed, Failed deployment): that is what a power
driver boots (the lab's: kubesalt.lab.power). Release removes it.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import string
import threading
import time
from datetime import timezone

from kubesalt.sim.maas.errors import ApiError
from kubesalt.sim.maas.errors import bad_request
from kubesalt.sim.maas.errors import conflict
from kubesalt.sim.maas.errors import one
from kubesalt.sim.maas.host import write_file
from maas_lib.machines import ALLOCATED
from maas_lib.machines import BROKEN
from maas_lib.machines import COMMISSIONING
from maas_lib.machines import DEPLOYED
from maas_lib.machines import DEPLOYING
from maas_lib.machines import FAILED_COMMISSIONING
from maas_lib.machines import FAILED_DEPLOYMENT
from maas_lib.machines import FAILED_RELEASING
from maas_lib.machines import MISSING
from maas_lib.machines import NEW
from maas_lib.machines import READY
from maas_lib.machines import RELEASABLE
from maas_lib.machines import RELEASING
from maas_lib.machines import RESERVED
from maas_lib.machines import RETIRED
from maas_lib.machines import STATUS_NAMES

API = "/MAAS/api/2.0/"
JSON_LIST_FIELDS = ("mac_addresses", "tags")

# The part of NODE_TRANSITIONS the simulated actions use (node_status.py).
TRANSITIONS = {
    NEW: {COMMISSIONING, MISSING, READY, RETIRED, BROKEN},
    COMMISSIONING: {FAILED_COMMISSIONING, READY, NEW, BROKEN},
    FAILED_COMMISSIONING: {COMMISSIONING, BROKEN, RETIRED},
    READY: {COMMISSIONING, ALLOCATED, RESERVED, RETIRED, MISSING, BROKEN, DEPLOYING},
    ALLOCATED: {READY, RETIRED, MISSING, BROKEN, DEPLOYING, RELEASING},
    DEPLOYING: {ALLOCATED, DEPLOYED, FAILED_DEPLOYMENT, RELEASING, BROKEN},
    FAILED_DEPLOYMENT: {ALLOCATED, DEPLOYING, RELEASING, BROKEN, COMMISSIONING},
    DEPLOYED: {ALLOCATED, RELEASING, BROKEN, READY},
    RELEASING: {READY, FAILED_RELEASING, BROKEN},
    FAILED_RELEASING: {RELEASING, READY, BROKEN},
    BROKEN: {COMMISSIONING, READY, RELEASING},
}
ABORTABLE = {COMMISSIONING: NEW, DEPLOYING: ALLOCATED}
# step -> (setting with its duration, status on success, status on failure)
STEPS = {
    COMMISSIONING: ("commission_seconds", READY, FAILED_COMMISSIONING),
    DEPLOYING: ("deploy_seconds", DEPLOYED, FAILED_DEPLOYMENT),
    RELEASING: ("release_seconds", READY, FAILED_RELEASING),
}
SCHEMA = """
CREATE TABLE IF NOT EXISTS maas_machine (
  system_id text PRIMARY KEY, hostname text UNIQUE NOT NULL, architecture text NOT NULL,
  mac_addresses text NOT NULL DEFAULT '[]', power_type text NOT NULL DEFAULT 'manual',
  power_parameters text NOT NULL DEFAULT '{}', status integer NOT NULL,
  status_message text NOT NULL DEFAULT '', step_ends double precision,
  step_outcome text NOT NULL DEFAULT '', owner text, pool text NOT NULL DEFAULT 'default',
  zone text NOT NULL DEFAULT 'default', tags text NOT NULL DEFAULT '[]',
  osystem text NOT NULL DEFAULT '', distro_series text NOT NULL DEFAULT '',
  user_data text NOT NULL DEFAULT '', agent_name text NOT NULL DEFAULT '',
  cpu_count integer NOT NULL DEFAULT 0, memory integer NOT NULL DEFAULT 0,
  created timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS maas_tag (
  name text PRIMARY KEY, comment text NOT NULL DEFAULT '', definition text NOT NULL DEFAULT '',
  kernel_opts text NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS maas_pool (
  id serial PRIMARY KEY, name text UNIQUE NOT NULL, description text NOT NULL DEFAULT '');
INSERT INTO maas_pool (id, name, description) VALUES (0, 'default', 'Default pool')
  ON CONFLICT DO NOTHING;
ALTER TABLE maas_event ADD COLUMN IF NOT EXISTS node text;
ALTER TABLE maas_event ADD COLUMN IF NOT EXISTS hostname text;
ALTER TABLE maas_event ADD COLUMN IF NOT EXISTS type text;
ALTER TABLE maas_event ADD COLUMN IF NOT EXISTS level text;
ALTER TABLE maas_event ADD COLUMN IF NOT EXISTS username text
"""
ADJECTIVES = ("able", "brave", "calm", "eager", "fair", "glad", "keen", "noble", "quick", "wise")
ANIMALS = ("ant", "bee", "cat", "doe", "eel", "fox", "gnu", "owl", "ram", "yak")


class Machines:
    """The machines of one region, over its store (see the module doc)."""

    def __init__(self, region):
        self.region = region
        self.store = region.store
        self.lock = threading.RLock()

    def ensure_schema(self) -> None:
        """Machines came after the first schema: create their tables on any database."""
        with self.store.transaction():
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    self.store.run(statement)

    # -- knobs ----------------------------------------------------------------------------
    def _knob(self, name: str):
        faults = self.region.faults()
        if name in faults:
            return faults[name]
        return self.region.settings.get(name)

    # -- rows -----------------------------------------------------------------------------
    def rows(self) -> list[dict]:
        return self.store.rows("SELECT * FROM maas_machine ORDER BY hostname")

    def get(self, system_id: str) -> dict:
        rows = self.store.rows("SELECT * FROM maas_machine WHERE system_id = :s", s=system_id)
        if not rows:
            raise ApiError(404, "No Machine matches the given query.")
        return rows[0]

    def _update(self, system_id: str, **fields) -> None:
        sets = ", ".join(f"{k} = :{k}" for k in fields)  # the column names are ours, not input
        sql = f"UPDATE maas_machine SET {sets} WHERE system_id = :system_id"  # noqa: S608
        self.store.run(sql, system_id=system_id, **fields)

    def event(self, row: dict, type_: str, description: str, level="INFO", username=None):
        self.store.run(
            "INSERT INTO maas_event (description, node, hostname, type, level, username) "
            "VALUES (:d, :n, :h, :t, :l, :u)",
            d=description,
            n=row["system_id"],
            h=row["hostname"],
            t=type_,
            l=level,
            u=username or "unknown",
        )

    def set_status(self, row: dict, status: int, **fields) -> dict:
        """Move ``row`` to ``status`` with MAAS's status-change event; returns the new row."""
        old = row["status"]
        self._update(row["system_id"], status=status, **fields)
        description = f"From '{STATUS_NAMES[old]}' to '{STATUS_NAMES[status]}'"
        owner = fields.get("owner", row["owner"])
        if status == ALLOCATED and owner:
            description += f" (to {owner})"
        self.event(row, "Node changed status", description, level="DEBUG")
        return self.get(row["system_id"])

    def _start_step(self, row: dict, status: int, **fields) -> dict:
        setting = STEPS[status][0]
        outcome = "ok"
        if self._knob("machine_silent"):
            outcome, seconds = "timeout", float(self._knob("node_timeout"))
        else:
            seconds = float(self._knob(setting))
            if status == DEPLOYING and self._knob("deploy_fails"):
                outcome = "fail"
        return self.set_status(
            row,
            status,
            step_ends=time.time() + seconds,
            step_outcome=outcome,
            status_message="",
            **fields,
        )

    # -- the clock ------------------------------------------------------------------------
    def advance(self) -> None:
        """End every step whose time is up (called before any machine is looked at)."""
        with self.lock:
            due = self.store.rows(
                "SELECT * FROM maas_machine WHERE step_ends IS NOT NULL AND step_ends <= :now",
                now=time.time(),
            )
            for row in due:
                self._finish(row)

    def _finish(self, row: dict) -> None:
        _setting, success, failure = STEPS[row["status"]]
        outcome = row["step_outcome"]
        if outcome == "ok":
            fields = {"step_ends": None, "step_outcome": ""}
            if row["status"] == RELEASING:
                fields.update(owner=None, osystem="", distro_series="", user_data="")
                fields.update(agent_name="")
            if row["status"] == COMMISSIONING:
                fields.update(cpu_count=row["cpu_count"] or 2, memory=row["memory"] or 4096)
            done = self.set_status(row, success, **fields)
            if success == DEPLOYED:
                self.event(row, "Deployed", f"Deployed {row['distro_series']}")
                self._mark_deployment(done)
            return
        if outcome == "timeout":
            minutes = float(self._knob("node_timeout")) / 60
            minutes_text = f"{minutes:g}"
            message = (
                f"Node operation '{STATUS_NAMES[row['status']]}' timed out after "
                f"{minutes_text} minutes."
            )
        else:
            message = "Installation failed (refer to the installation log for more information)."
        self.event(row, "Marking node failed", message, level="ERROR")
        failed = self.set_status(
            row, failure, step_ends=None, step_outcome="", status_message=message
        )
        if row["status"] == DEPLOYING:
            self._mark_deployment(failed)

    # -- the API's view -------------------------------------------------------------------
    def to_dict(self, row: dict) -> dict:
        domain = {"name": "maas", "id": 0, "resource_uri": f"{API}domains/0/"}
        pool = self.pool_dict(self.pool(row["pool"]))
        macs = json.loads(row["mac_addresses"])
        return {
            "system_id": row["system_id"],
            "hostname": row["hostname"],
            "fqdn": f"{row['hostname']}.maas",
            "domain": domain,
            "description": "",
            "architecture": row["architecture"],
            "status": row["status"],
            "status_name": STATUS_NAMES[row["status"]],
            "status_message": row["status_message"] or None,
            "status_action": "",
            "node_type": 0,
            "node_type_name": "Machine",
            "owner": row["owner"],
            "owner_data": {},
            "pool": pool,
            "zone": {"name": row["zone"], "description": "", "id": 1},
            "tag_names": json.loads(row["tags"]),
            "osystem": row["osystem"],
            "distro_series": row["distro_series"],
            "hwe_kernel": None,
            "min_hwe_kernel": "",
            "power_type": row["power_type"],
            "power_state": "on" if row["status"] in (DEPLOYING, DEPLOYED) else "off",
            "cpu_count": row["cpu_count"],
            "memory": row["memory"],
            "swap_size": None,
            "netboot": row["status"] != DEPLOYED,
            "locked": False,
            "disable_ipv4": False,
            "ip_addresses": [],  # no DHCP or static addresses are modelled
            "boot_interface": None,
            "boot_disk": None,
            "interface_set": [
                {"name": f"eth{i}", "mac_address": mac, "type": "physical"}
                for i, mac in enumerate(macs)
            ],
            "blockdevice_set": [],
            "physicalblockdevice_set": [],
            "virtualblockdevice_set": [],
            "bcaches": [],
            "cache_sets": [],
            "raids": [],
            "volume_groups": [],
            "special_filesystems": [],
            "storage": 0.0,
            "agent_name": row["agent_name"],
            "resource_uri": f"{API}machines/{row['system_id']}/",
        }

    # -- actions --------------------------------------------------------------------------
    def create(self, params: dict, user: dict) -> dict:
        errors = {}
        architecture = one(params, "architecture") or ""
        arches = self._architectures()
        if not architecture and len(arches) == 1:
            architecture = arches[0]  # MAAS picks the only one it has images for
        elif "/" not in architecture and f"{architecture}/generic" in arches:
            architecture = f"{architecture}/generic"
        if architecture not in arches:
            choices = ", ".join(f"'{a}'" for a in arches)
            errors["architecture"] = [
                f"'{architecture}' is not a valid architecture.  It should be one of: {choices}."
            ]
        macs = [m.lower() for m in params.get("mac_addresses", []) if m]
        if not macs:
            errors["mac_addresses"] = ["This field is required."]
        for mac in macs:
            if not _valid_mac(mac):
                errors.setdefault("mac_addresses", []).append(
                    f"'{mac}' is not a valid MAC address."
                )
        taken = {m for r in self.rows() for m in json.loads(r["mac_addresses"])}
        for mac in macs:
            if mac in taken:
                errors.setdefault("mac_addresses", []).append(
                    f"One or more MAC addresses is invalid. ('Mac address {mac} already in use.',)"
                )
        power_type = one(params, "power_type") or "manual"
        if power_type not in ("manual", "ipmi", "virsh", "lxd", "redfish", "webhook"):
            errors["power_type"] = [
                f"Select a valid choice. {power_type} is not one of the available choices."
            ]
        hostname = one(params, "hostname") or self._petname()
        if not _valid_hostname(hostname):
            errors["hostname"] = [f"Invalid hostname: {hostname!r}."]
        elif self.store.rows("SELECT 1 FROM maas_machine WHERE hostname = :h", h=hostname):
            errors["hostname"] = [f"Node with hostname '{hostname}' already exists."]
        if errors:
            raise bad_request(errors)
        power_parameters = one(params, "power_parameters") or "{}"
        extra = {
            k[len("power_parameters_") :]: v[0]
            for k, v in params.items()
            if k.startswith("power_parameters_")
        }
        try:
            parameters = {**json.loads(power_parameters), **extra}
        except ValueError:
            raise bad_request({"power_parameters": ["Enter valid JSON."]}) from None
        system_id = _system_id()
        self.store.run(
            "INSERT INTO maas_machine (system_id, hostname, architecture, mac_addresses, "
            "power_type, power_parameters, status) VALUES (:s, :h, :a, :m, :p, :pp, :st)",
            s=system_id,
            h=hostname,
            a=architecture,
            m=json.dumps(macs),
            p=power_type,
            pp=json.dumps(parameters, sort_keys=True),
            st=NEW,
        )
        row = self.get(system_id)
        self.event(row, "Enlisting", "Machine created", username=user["username"])
        commission = _bool(one(params, "commission"), True)
        if user["is_superuser"] and commission and not _bool(one(params, "deployed"), False):
            row = self._start_step(row, COMMISSIONING)
        return row

    def commission(self, row: dict, user: dict) -> dict:
        if COMMISSIONING not in TRANSITIONS.get(row["status"], ()) or row["status"] == (
            COMMISSIONING
        ):
            raise conflict(
                f"Unable to be commissioned because of the current state "
                f"('{STATUS_NAMES[row['status']]}')."
            )
        self.event(row, "Commissioning", "Started commissioning", username=user["username"])
        return self._start_step(row, COMMISSIONING, owner=None)

    def allocate(self, params: dict, user: dict) -> dict:
        wanted_tags = _listish(params.get("tags", []))
        not_tags = _listish(params.get("not_tags", []))
        name = one(params, "name")
        system_id = one(params, "system_id")
        pool = one(params, "pool")
        zone = one(params, "zone")
        known_tags = {r["name"] for r in self.store.rows("SELECT name FROM maas_tag")}
        unknown = [t for t in wanted_tags + not_tags if t not in known_tags]
        if unknown:
            raise bad_request({"tags": [f"No such tag(s): {', '.join(repr(t) for t in unknown)}."]})
        if pool:
            self.pool(pool, field="pool")
        candidates = []
        for row in self.rows():
            tags = set(json.loads(row["tags"]))
            if row["status"] != READY or row["owner"]:
                continue
            if name and name not in (row["hostname"], f"{row['hostname']}.maas"):
                continue
            if system_id and row["system_id"] != system_id:
                continue
            if pool and row["pool"] != pool:
                continue
            if zone and row["zone"] != zone:
                continue
            if not set(wanted_tags) <= tags or tags & set(not_tags):
                continue
            candidates.append(row)
        if not candidates:
            raise conflict(self._not_available(params, system_id))
        if _bool(one(params, "dry_run"), False):
            return candidates[0]
        row = candidates[0]
        return self.set_status(
            row, ALLOCATED, owner=user["username"], agent_name=one(params, "agent_name") or ""
        )

    def deploy(self, row: dict, params: dict, user: dict) -> dict:
        if row["owner"] and row["owner"] != user["username"] and not user["is_superuser"]:
            raise ApiError(403, "You do not have permission to perform this action.")
        if row["status"] == READY:  # MAAS allocates a Ready machine on deploy
            if row["owner"] is not None and row["owner"] != user["username"]:
                raise conflict("Can't allocate a machine belonging to another user.")
            row = self.set_status(row, ALLOCATED, owner=user["username"])
        if DEPLOYING not in TRANSITIONS.get(row["status"], ()):
            raise conflict(
                f"Can't deploy a machine that is in the '{STATUS_NAMES[row['status']]}' state"
            )
        osystem, series = self._series(one(params, "distro_series"), one(params, "osystem"))
        user_data = one(params, "user_data") or ""
        row = self._start_step(
            row, DEPLOYING, osystem=osystem, distro_series=series, user_data=user_data
        )
        self.event(row, "Deploying", f"Deploying {osystem}/{series}", username=user["username"])
        self._write_deployment(row)
        return row

    def release(self, row: dict, params: dict, user: dict) -> dict:
        if row["status"] in (RELEASING, READY):
            return row  # MAAS: the postcondition holds already, a retry is a success
        if row["status"] not in RELEASABLE:
            raise conflict(
                "Machine cannot be released in its current state "
                f"('{STATUS_NAMES[row['status']]}')."
            )
        self._remove_deployment(row)
        comment = one(params, "comment")
        self.event(row, "Releasing", comment or "Releasing", username=user["username"])
        return self._start_step(row, RELEASING)

    def abort(self, row: dict, user: dict) -> dict:
        if row["status"] not in ABORTABLE:
            raise conflict(
                f"Cannot abort in current state: '{STATUS_NAMES[row['status']]}'. Only "
                "Commissioning, Deploying, Disk erasing and Testing can be aborted."
            )
        self._remove_deployment(row)
        return self.set_status(row, ABORTABLE[row["status"]], step_ends=None, step_outcome="")

    def mark_broken(self, row: dict, params: dict) -> dict:
        if BROKEN not in TRANSITIONS.get(row["status"], ()):
            raise conflict(
                "Unable to be mark broken because of the current state "
                f"('{STATUS_NAMES[row['status']]}')."
            )
        message = one(params, "comment") or one(params, "error_description") or ""
        return self.set_status(row, BROKEN, step_ends=None, status_message=message)

    def mark_fixed(self, row: dict) -> dict:
        if row["status"] != BROKEN:
            raise conflict(
                "Unable to be mark fixed because of the current state "
                f"('{STATUS_NAMES[row['status']]}')."
            )
        return self.set_status(row, READY, status_message="", owner=None)

    def delete(self, row: dict) -> None:
        self._remove_deployment(row)
        self.store.run("DELETE FROM maas_machine WHERE system_id = :s", s=row["system_id"])

    def events(self, params: dict) -> dict:
        sql = "SELECT * FROM maas_event WHERE node IS NOT NULL"
        args = {}
        hostnames = params.get("hostname", [])
        ids = params.get("id", [])
        if hostnames:
            sql += " AND hostname = ANY(:h)"
            args["h"] = hostnames
        if ids:
            sql += " AND node = ANY(:i)"
            args["i"] = ids
        after = one(params, "after")
        if after:
            sql += " AND id > :a"
            args["a"] = int(after)
        limit = min(int(one(params, "limit") or 100), 1000)
        rows = self.store.rows(sql + " ORDER BY id DESC LIMIT :lim", lim=limit, **args)
        events = [
            {
                "username": r["username"],
                "node": r["node"],
                "hostname": r["hostname"],
                "id": r["id"],
                "level": r["level"],
                "created": r["created"].astimezone(timezone.utc).strftime("%a, %d %b. %Y %H:%M:%S"),
                "type": r["type"],
                "description": r["description"],
            }
            for r in rows
        ]
        return {"count": len(events), "events": events, "next_uri": None, "prev_uri": None}

    # -- helpers --------------------------------------------------------------------------
    def _architectures(self) -> list[str]:
        arches = sorted({f"{arch}/generic" for _name, arch in self.region.complete_images()})
        return arches or ["amd64/generic"]

    def _series(self, series: str | None, osystem: str | None) -> tuple[str, str]:
        if not series:
            series = self.region._config("default_distro_series")
        if "/" in series:
            osystem, series = series.split("/", 1)
        osystem = osystem or "ubuntu"
        available = [n for n, _arch in self.region.complete_images()]
        if f"{osystem}/{series}" not in available:
            choices = ", ".join(f"'{n}'" for n in sorted(set(available)))
            raise bad_request(
                {
                    "distro_series": [
                        f"'{osystem}/{series}' is not a valid distro_series.  It should be one "
                        f"of: {choices}."
                    ]
                }
            )
        return osystem, series

    def _not_available(self, params: dict, system_id) -> str:
        constraints = {
            k: v for k, v in params.items() if k not in ("op", "dry_run", "agent_name", "comment")
        }
        if not constraints:
            return "No machine available."
        if system_id:
            return f"No machine with system ID {system_id} available."
        described = " ".join(
            f"{k}={','.join(v)}" for k, v in sorted(constraints.items()) if k != "system_id"
        )
        return (
            f"No available machine matches constraints: {list(constraints.items())} "
            f'(resolved to "{described}")'
        )

    def _petname(self) -> str:
        taken = {r["hostname"] for r in self.rows()}
        while True:
            name = f"{secrets.choice(ADJECTIVES)}-{secrets.choice(ANIMALS)}"
            if name not in taken:
                return name

    def _deployment_file(self, row: dict):
        return self.region.host.sim_dir / "deployments" / f"{row['system_id']}.json"

    def _write_deployment(self, row: dict) -> None:
        raw = row["user_data"]
        try:
            decoded = base64.b64decode(raw, validate=True).decode() if raw else ""
        except (binascii.Error, UnicodeDecodeError):
            decoded = raw
        record = {
            "system_id": row["system_id"],
            "hostname": row["hostname"],
            "mac_addresses": json.loads(row["mac_addresses"]),
            "power_type": row["power_type"],
            "power_parameters": json.loads(row["power_parameters"]),
            "osystem": row["osystem"],
            "distro_series": row["distro_series"],
            "user_data": decoded,
            "deployment": f"{row['step_ends']:.3f}",
            "status": STATUS_NAMES[row["status"]],
        }
        path = self._deployment_file(row)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_file(path, json.dumps(record, indent=1), 0o600)

    def _mark_deployment(self, row: dict) -> None:
        """The deployment record's status, once the deployment has ended."""
        path = self._deployment_file(row)
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            return
        record["status"] = STATUS_NAMES[row["status"]]
        write_file(path, json.dumps(record, indent=1), 0o600)

    def _remove_deployment(self, row: dict) -> None:
        self._deployment_file(row).unlink(missing_ok=True)

    def update(self, row: dict, params: dict) -> dict:
        """PUT machines/{system_id}/: the fields the simulator models (hostname, pool)."""
        fields = {}
        hostname = one(params, "hostname")
        if hostname and hostname != row["hostname"]:
            if not _valid_hostname(hostname):
                raise bad_request({"hostname": [f"Invalid hostname: {hostname!r}."]})
            if self.store.rows("SELECT 1 FROM maas_machine WHERE hostname = :h", h=hostname):
                raise bad_request(
                    {"hostname": [f"Node with hostname '{hostname}' already exists."]}
                )
            fields["hostname"] = hostname
        pool = one(params, "pool")
        if pool:
            fields["pool"] = self.pool(pool, field="pool")["name"]
        if fields:
            self._update(row["system_id"], **fields)
        return self.get(row["system_id"])

    # -- tags and resource pools ----------------------------------------------------------
    def tag_dict(self, row: dict) -> dict:
        return {**row, "resource_uri": f"{API}tags/{row['name']}/"}

    def tag(self, name: str) -> dict:
        rows = self.store.rows("SELECT * FROM maas_tag WHERE name = :n", n=name)
        if not rows:
            raise ApiError(404, "No Tag matches the given query.")
        return rows[0]

    def create_tag(self, params: dict) -> dict:
        name = one(params, "name") or ""
        if not name:
            raise bad_request({"name": ["This field is required."]})
        if not all(c.isalnum() or c in "-_" for c in name):
            raise bad_request({"name": ["Invalid character in tag name."]})
        if self.store.rows("SELECT 1 FROM maas_tag WHERE name = :n", n=name):
            raise bad_request({"name": ["Tag with this Name already exists."]})
        self.store.run(
            "INSERT INTO maas_tag (name, comment, definition, kernel_opts) VALUES (:n, :c, :d, :k)",
            n=name,
            c=one(params, "comment") or "",
            d=one(params, "definition") or "",
            k=one(params, "kernel_opts") or "",
        )
        return self.tag(name)

    def delete_tag(self, name: str) -> None:
        self.tag(name)
        for row in self.rows():
            tags = json.loads(row["tags"])
            if name in tags:
                self._update(row["system_id"], tags=json.dumps([t for t in tags if t != name]))
        self.store.run("DELETE FROM maas_tag WHERE name = :n", n=name)

    def update_tag_nodes(self, name: str, params: dict) -> dict:
        tag = self.tag(name)
        if tag["definition"]:
            raise ApiError(409, "Cannot add or remove nodes from a tag that has a definition.")
        counts = {"added": 0, "removed": 0}
        for field, key in (("add", "added"), ("remove", "removed")):
            for system_id in params.get(field, []):
                row = self.get(system_id)
                tags = json.loads(row["tags"])
                if (field == "add") == (name in tags):
                    continue
                tags = sorted({*tags, name}) if field == "add" else [t for t in tags if t != name]
                self._update(system_id, tags=json.dumps(tags))
                counts[key] += 1
        return counts

    def pool_dict(self, row: dict) -> dict:
        return {**row, "resource_uri": f"{API}resourcepool/{row['id']}/"}

    def pool(self, name: str, field: str | None = None) -> dict:
        rows = self.store.rows("SELECT * FROM maas_pool WHERE name = :n", n=name)
        if not rows:
            if field:
                raise bad_request(
                    {
                        field: [
                            "Select a valid choice. That choice is not one of the available "
                            "choices."
                        ]
                    }
                )
            raise ApiError(404, "No ResourcePool matches the given query.")
        return rows[0]

    def create_pool(self, params: dict) -> dict:
        name = one(params, "name") or ""
        if not name:
            raise bad_request({"name": ["This field is required."]})
        if self.store.rows("SELECT 1 FROM maas_pool WHERE name = :n", n=name):
            raise bad_request({"name": ["Resource pool with this Name already exists."]})
        self.store.run(
            "INSERT INTO maas_pool (name, description) VALUES (:n, :d)",
            n=name,
            d=one(params, "description") or "",
        )
        return self.pool(name)


def serve(machines: Machines, method: str, op, params: dict, user: dict, *, system_id=None):
    """The MachinesHandler / MachineHandler actions: (status, body)."""
    with machines.lock:
        machines.advance()
        if system_id is None:
            if method == "GET":
                rows = machines.rows()
                hostnames = set(params.get("hostname", []))
                ids = set(params.get("id", []))
                rows = [
                    r
                    for r in rows
                    if (not hostnames or r["hostname"] in hostnames)
                    and (not ids or r["system_id"] in ids)
                ]
                return 200, [machines.to_dict(r) for r in rows]
            if op == "allocate":
                return 200, machines.to_dict(machines.allocate(params, user))
            return 200, machines.to_dict(machines.create(params, user))
        row = machines.get(system_id)
        if method == "GET":
            return 200, machines.to_dict(row)
        if method == "DELETE":
            machines.delete(row)
            return 204, ""
        if method == "PUT":
            return 200, machines.to_dict(machines.update(row, params))
        actions = {
            "commission": lambda: machines.commission(row, user),
            "deploy": lambda: machines.deploy(row, params, user),
            "release": lambda: machines.release(row, params, user),
            "abort": lambda: machines.abort(row, user),
            "mark_broken": lambda: machines.mark_broken(row, params),
            "mark_fixed": lambda: machines.mark_fixed(row),
        }
        return 200, machines.to_dict(actions[op]())


def _system_id() -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(6))


def _valid_mac(mac: str) -> bool:
    parts = mac.replace("-", ":").split(":")
    return len(parts) == 6 and all(
        len(p) == 2 and all(c in string.hexdigits for c in p) for p in parts
    )


def _valid_hostname(name: str) -> bool:
    labels = name.split(".")
    return all(
        0 < len(label) < 64
        and label[0] != "-"
        and label[-1] != "-"
        and all(c.isalnum() or c == "-" for c in label)
        for label in labels
    )


def _bool(value, default: bool) -> bool:
    if value is None or value == "":
        return default
    return str(value).lower() in ("1", "true", "yes", "on")


def _listish(values: list[str]) -> list[str]:
    """MAAS takes repeated fields or comma-separated strings for list constraints."""
    out = []
    for value in values:
        out.extend(v.strip() for v in value.split(",") if v.strip())
    return out


def serve_tags(machines: Machines, method: str, op, params: dict, name=None):
    """TagsHandler / TagHandler: (status, body)."""
    with machines.lock:
        if name is None:
            if method == "GET":
                return 200, [
                    machines.tag_dict(r)
                    for r in machines.store.rows("SELECT * FROM maas_tag ORDER BY name")
                ]
            return 200, machines.tag_dict(machines.create_tag(params))
        if method == "DELETE":
            machines.delete_tag(name)
            return 204, ""
        if op == "update_nodes":
            return 200, machines.update_tag_nodes(name, params)
        return 200, machines.tag_dict(machines.tag(name))


def serve_pools(machines: Machines, method: str, op, params: dict):
    """ResourcePoolsHandler: (status, body)."""
    if method == "GET":
        return 200, [
            machines.pool_dict(r)
            for r in machines.store.rows("SELECT * FROM maas_pool ORDER BY id")
        ]
    return 200, machines.pool_dict(machines.create_pool(params))
