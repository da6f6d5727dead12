"""Parsers of MAAS CLI output and API responses (pure functions)."""

from __future__ import annotations

import re
import urllib.parse

HEX_SECRET = re.compile(r"^[0-9a-fA-F]+$")
DB_URI_PARAMS = {"user", "password", "host", "dbname", "port"}
# The database of the maas-test-db snap, which `maas init --database-uri maas-test-db:///`
# uses (canonical/maas src/maascli/init.py get_database_settings).
MAAS_TEST_DB_URI = "maas-test-db:///"
MAAS_TEST_DB_SOCKET = "/var/snap/maas/common/test-db-socket"


def parse_apikey_output(stdout: str) -> list[str]:
    """``maas apikey --username U`` prints one ``ck:tk:secret`` per token (maybe + name)."""
    keys = []
    for line in (stdout or "").splitlines():
        words = line.split()
        if not words:
            continue
        key = words[0]
        if key.count(":") == 2:
            keys.append(key)
    return keys


def parse_parsable_config(stdout: str) -> dict:
    """``maas config --parsable``: ``key=value`` lines (``mode=region`` ...)."""
    result = {}
    for line in (stdout or "").splitlines():
        if "=" in line:
            key, _, value = line.partition("=")
            result[key.strip()] = value.strip()
    return result


def parse_database_uri(uri: str) -> dict:
    """Split a ``postgres://user:pass@host:port/db`` URI the way ``maas init`` accepts it.

    Error messages never include the password.
    """
    if uri == MAAS_TEST_DB_URI:
        # maascli/init.py: postgres:///maasdb?host=$SNAP_COMMON/test-db-socket&user=maas
        return {
            "user": "maas",
            "password": "",
            "host": MAAS_TEST_DB_SOCKET,
            "port": 5432,
            "dbname": "maasdb",
        }
    if not isinstance(uri, str) or not uri.startswith("postgres://"):
        raise ValueError("database_uri: must start with 'postgres://' (or be 'maas-test-db:///')")
    parts = urllib.parse.urlsplit(uri)
    if not parts.username:
        raise ValueError("database_uri: no user found in the URI")
    extra = set(urllib.parse.parse_qs(parts.query)) - DB_URI_PARAMS
    if extra:
        raise ValueError(f"database_uri: unsupported parameters: {', '.join(sorted(extra))}")
    user = urllib.parse.unquote(parts.username)
    return {
        "user": user,
        "password": urllib.parse.unquote(parts.password or ""),
        "host": parts.hostname or "localhost",
        "port": int(parts.port or 5432),
        "dbname": parts.path.lstrip("/") or user,
    }


def is_hex_secret(secret) -> bool:
    return isinstance(secret, str) and bool(HEX_SECRET.match(secret.strip()))


def service_status(controller: dict, service: str = "rackd") -> str:
    for entry in controller.get("service_set") or []:
        if entry.get("name") == service:
            return entry.get("status") or "unknown"
    return "unknown"


def rack_is_alive(controller: dict) -> bool:
    """Airship's rule: a rack counts only if its ``rackd`` service is ``running``."""
    return service_status(controller, "rackd") == "running"


def find_controller(controllers: list, hostname: str) -> dict | None:
    """A controller by hostname (short name or FQDN)."""
    short = hostname.split(".", maxsplit=1)[0]
    for controller in controllers or []:
        names = {controller.get("hostname"), (controller.get("fqdn") or "").split(".")[0]}
        if hostname in names or short in names or controller.get("fqdn") == hostname:
            return controller
    return None


def version_tuple(version: str) -> tuple[int, int]:
    """``3.7.3``, ``3.7.0~rc1``, ``2.9.2 (9164-g.abc)`` -> (major, minor)."""
    match = re.match(r"\s*(\d+)\.(\d+)", str(version or ""))
    if not match:
        raise ValueError(f"cannot parse the MAAS version {version!r}")
    return int(match.group(1)), int(match.group(2))


def is_known_version(version) -> bool:
    """False for a version MAAS cannot name (``unknown``: a MAAS run from source)."""
    try:
        version_tuple(version)
    except ValueError:
        return False
    return True


def racks_hold_images(version: str) -> bool:
    """Before 3.5 racks keep their own copy of the images (``list_boot_images`` is real).

    A version MAAS cannot name (``unknown``, as a MAAS run from source reports) counts as
    the newest: its racks hold no images of their own (MAAS >= 3.5).
    """
    if not is_known_version(version):
        return False
    return version_tuple(version) < (3, 5)


def resource_arch(resource: dict) -> str:
    return str(resource.get("architecture") or "").split("/")[0]


def image_key(os_name: str, release: str) -> str:
    return f"{os_name}/{release}"


def images_status(wanted: list[dict], resources: list[dict]) -> dict:
    """Compare wanted images with boot resources read *with their sets*.

    ``wanted`` items are ``{"os", "release", "arches"}``. Returns ``{"complete": [...],
    "incomplete": {name: "reason"}}``; an image is complete when a resource exists for every
    wanted arch and every set of each is ``complete`` (Terraform's rule).
    """
    by_name: dict[str, list[dict]] = {}
    for resource in resources:
        by_name.setdefault(resource.get("name"), []).append(resource)
    complete, incomplete = [], {}
    for image in wanted:
        name = image_key(image["os"], image["release"])
        found = by_name.get(name, [])
        have_arches = {resource_arch(r) for r in found}
        missing = [a for a in image.get("arches") or ["amd64"] if a not in have_arches]
        if missing:
            incomplete[name] = f"no resource yet for {', '.join(missing)}"
            continue
        progress = []
        for resource in found:
            sets = resource.get("sets") or {}
            if not sets:
                progress.append(f"{resource_arch(resource)}: no sets yet")
            for version, image_set in sets.items():
                if not image_set.get("complete"):
                    pct = image_set.get("progress")
                    pct_text = f" {pct:.0f}%" if isinstance(pct, (int, float)) else ""
                    progress.append(f"{resource_arch(resource)} {version}{pct_text}")
        if progress:
            incomplete[name] = "downloading: " + ", ".join(progress)
        else:
            complete.append(name)
    return {"complete": complete, "incomplete": incomplete}


def rack_images_synced(listing: dict, wanted_names: list[str]) -> tuple[bool, str]:
    """``list_boot_images`` of one rack: synced and holding every wanted ``os/release``.

    Custom images are listed by release only, so both forms count.
    """
    status = listing.get("status", "unknown")
    if status != "synced":
        return False, status
    names = {img.get("name") for img in listing.get("images") or []}
    missing = [n for n in wanted_names if n not in names and n.split("/")[-1] not in names]
    if missing:
        return False, "missing " + ", ".join(missing)
    return True, "synced"


def as_list(name: str, value) -> list[str] | None:
    """A list argument given as a YAML list or a comma/space separated string."""
    if value is None:
        return None
    if isinstance(value, str):
        return [v for v in value.replace(",", " ").split() if v]
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) and v for v in value):
        return list(value)
    raise ValueError(f"{name}: expected a list of strings, got {value!r}")


def wanted_images(images) -> list[dict]:
    """``images`` (one mapping or a list) as ``[{os, release, arches}]`` with defaults."""
    if isinstance(images, dict):
        images = [images]
    if not isinstance(images, list) or not images:
        raise ValueError("images: a non-empty list of {os, release, arches}")
    result = []
    for image in images:
        if not isinstance(image, dict) or not image.get("release"):
            raise ValueError(f"images: each item needs a release, got {image!r}")
        result.append(
            {
                "os": image.get("os") or "ubuntu",
                "release": image["release"],
                "arches": as_list("arches", image.get("arches")) or ["amd64"],
            }
        )
    return result
