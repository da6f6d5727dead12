"""States for Canonical MAAS: region, admin, racks, settings, images, machines.

Every state reads the current state first, predicts the changes (the same ones under
``test=True``, which changes nothing), applies them and reads again. The API key, the
shared secret, the database password and the admin password never appear in a return.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import logging
import time

import salt.pillar
import salt.utils.data
from salt.exceptions import CommandExecutionError
from salt.exceptions import SaltInvocationError

import common_lib.state as _state
import maas_lib.config as _config
import maas_lib.machines as _machines
import maas_lib.parse as _parse

log = logging.getLogger(__name__)

__virtualname__ = "maas"

ERRORS = (CommandExecutionError, SaltInvocationError)


def __virtual__():
    if "maas.init_status" in __salt__:
        return __virtualname__
    return False, "the maas execution module is not loaded"


_ret = _state.new


def _fail(ret, err):
    """Only a missing prerequisite (the CLI not installed, the region not reachable or
    without its admin yet, no hand-off on the master) is ``None`` under test=True: an
    earlier state would create it. Any other failure (a wrong API key) is ``False``."""
    return _state.failed(ret, err, __opts__["test"])


def _api_args(url, api_key):
    return {"url": url, "api_key": api_key}


def _from_pillar(wanted, missing_hint, wait=0.0):
    """The values of ``wanted``, a list of ``(value, argument, pillar_path)``: ``value``
    itself when ``pillar_path`` is None, else what this minion's pillar (compiled on the
    master) holds there. While any is missing, a fresh pillar is asked of the master with a
    backoff for up to ``wait`` seconds (not under test=True): in a plain highstate the first
    region hands the values to the master during the same run. Raises
    CommandExecutionError naming the argument (and the hint) when none comes."""
    pillar = __pillar__
    deadline = time.monotonic() + float(wait or 0)
    delay = 2.0
    while True:
        values, missing = [], None
        for given, argument, path in wanted:
            found = given
            if path is not None:
                found = salt.utils.data.traverse_dict_and_list(pillar, path, None)
                if not (found and isinstance(found, str)):
                    missing = missing or (argument, path)
            values.append(found)
        if missing is None:
            return values
        if __opts__["test"] or time.monotonic() + delay > deadline:
            # Not there yet rather than a bad argument: under test=True this reports what
            # would happen instead of failing.
            waited = f" (waited {float(wait):.0f} s)" if wait and not __opts__["test"] else ""
            raise _state.PrerequisiteMissing(
                f"{missing[0]}: pillar has no value at {missing[1]!r}{waited}{missing_hint}"
            )
        time.sleep(delay)
        delay = min(delay * 1.5, 15.0)
        pillar = _fresh_pillar()


def _fresh_pillar():
    """This minion's pillar compiled anew (by the master, or locally when masterless), as
    ``pillar.items`` does, without Salt 3008's masking of the values it returns."""
    compiler = salt.pillar.get_pillar(
        __opts__,
        dict(__grains__),
        __opts__["id"],
        saltenv=__opts__.get("saltenv"),
        pillarenv=__opts__.get("pillarenv"),
    )
    try:
        return compiler.compile_pillar()
    finally:
        destroy = getattr(compiler, "destroy", None)
        if destroy:
            destroy()


# What a rack or the control plane is told while the master holds no hand-off yet.
HANDOFF_HINT = (
    ": the first MAAS region hands its shared secret and API key to the master once its "
    "own highstate has initialised it (state maas-region-handoff); run the region's "
    "highstate (or salt-run state.orchestrate orch.maas), then this one again"
)


# --- region, admin, rack ------------------------------------------------------------------------


def region_initialized(name, database_uri, mode="region"):
    """This host is a MAAS region (``maas init``) with the given URL and database.

    name
        The ``maas_url``, e.g. ``http://10.0.0.5:5240/MAAS``.
    database_uri
        ``postgres://user:password@host:port/dbname`` (the password is never reported; a
        password change alone is not detected, ``maas config`` hides it).
    mode
        ``region`` or ``region+rack``.
    """
    ret = _ret(name)
    try:
        db = _parse.parse_database_uri(database_uri)
        current = __salt__["maas.init_status"]()
        wanted = {
            "mode": mode,
            "maas_url": name,
            "database_host": db["host"],
            "database_port": str(db["port"]),
            "database_name": db["dbname"],
            "database_user": db["user"],
        }
        changes = {
            key: {"old": current.get(key), "new": value}
            for key, value in wanted.items()
            if str(current.get(key)) != value
        }
        if not changes:
            ret["comment"] = f"MAAS is initialised as {mode} at {name}"
            return ret
        ret["changes"] = changes
        if __opts__["test"]:
            ret["result"] = None
            ret["comment"] = f"MAAS would be initialised as {mode} at {name}"
            return ret
        __salt__["maas.init_region"](name, database_uri, mode=mode)
        after = __salt__["maas.init_status"]()
        if after.get("mode") != mode or after.get("maas_url") != name:
            return _fail(ret, f"maas init ran but the host reports mode={after.get('mode')}")
        ret["comment"] = f"MAAS initialised as {mode} at {name}"
    except ValueError as err:
        return _fail(ret, err)
    except ERRORS as err:
        return _fail(ret, err)
    return ret


def admin_present(name, password, email, url=None):
    """The MAAS admin ``name`` exists, and (when the region can tell) has ``password``.

    name
        The admin's user name.
    password
        The admin's password: set at creation, and again when the region says it does not
        match. Never reported.
    email
        The admin's e-mail address (used at creation).
    url
        The region URL used to verify the password (default: ``maas.url`` / pillar). When
        no URL is known the password is set only at creation.
    """
    ret = _ret(name)
    try:
        if not __salt__["maas.user_exists"](name):
            ret["changes"] = {"user": {"old": None, "new": name}}
            if __opts__["test"]:
                ret["result"] = None
                ret["comment"] = f"MAAS admin {name} would be created"
                return ret
            __salt__["maas.create_admin"](name, password, email)
            if not __salt__["maas.user_exists"](name):
                return _fail(ret, f"createadmin ran but MAAS still has no user {name}")
            ret["comment"] = f"MAAS admin {name} created"
            return ret
        matches = None
        try:
            matches = __salt__["maas.check_password"](name, password, url=url)
        except SaltInvocationError:
            matches = None  # no region URL configured: nothing to compare against
        if matches is False:
            ret["changes"] = {"password": "updated"}
            if __opts__["test"]:
                ret["result"] = None
                ret["comment"] = f"The password of MAAS admin {name} would be updated"
                return ret
            __salt__["maas.set_password"](name, password)
            ret["comment"] = f"The password of MAAS admin {name} was updated"
            return ret
        ret["comment"] = f"MAAS admin {name} is present"
    except ERRORS as err:
        return _fail(ret, err)
    return ret


def rack_registered(  # noqa: PLR0917
    name,
    url,
    secret=None,
    timeout=120,
    method="deb",
    api_url=None,
    api_key=None,
    secret_pillar=None,
    api_key_pillar=None,
    pillar_wait=180,
):
    """This host runs a rack controller registered with the region AND listed by its API.

    ``maas-rack register`` exits 0 without contacting the region, so the state then polls
    the region's API until the rack ``name`` is listed with ``rackd`` running. On MAAS <=
    3.4 a newly registered rack is then asked to copy the region's images
    (``import_boot_images``), so the region's image wait finds it synced.

    name
        The rack's hostname, as the region will list it.
    url
        The region URL the rack connects to.
    secret
        The region's shared secret (hex). Never reported. Prefer ``secret_pillar``.
    secret_pillar
        Pillar path of the shared secret, e.g. ``kubesalt:maas:shared_secret`` (the master
        puts it there, see docs/maas.md): the secret never enters the rendered SLS.
    timeout
        Seconds to wait for the region to list the rack (default 120).
    method
        ``deb`` (``maas-rack``, secret on stdin) or ``snap`` (``maas init rack``).
    api_url
        The region URL to verify through (default: ``url``).
    api_key
        The API key to verify with (default: the configured key, see ``maas.api_key``).
        Never reported.
    api_key_pillar
        Pillar path of the API key, e.g. ``kubesalt:maas:api_key``.
    pillar_wait
        Seconds to wait for the master to hold the values when the pillar has none yet
        (default 180): in a plain highstate the first region hands them to the master
        during the same run, after this minion compiled its pillar. 0: fail at once.
    """
    ret = _ret(name)
    try:
        secret, api_key = _from_pillar(
            [
                (secret, "secret_pillar", secret_pillar),
                (api_key, "api_key_pillar", api_key_pillar),
            ],
            HANDOFF_HINT,
            pillar_wait,
        )
        if not secret:
            raise SaltInvocationError("secret: give the shared secret (or secret_pillar)")
    except ERRORS as err:
        return _fail(ret, type(err)(f"Rack {name} is not registered: {err}"))
    api = _api_args(api_url or url, api_key)
    try:
        current = __salt__["maas.rack_controller"](name, **api)
        if current and _parse.rack_is_alive(current):
            ret["comment"] = f"Rack {name} is registered and the region lists it with rackd running"
            return ret
        old = "dead" if current else None
        ret["changes"] = {"registered": {"old": old, "new": url}}
        if __opts__["test"]:
            ret["result"] = None
            ret["comment"] = f"Rack {name} would be registered with {url}"
            return ret
        __salt__["maas.register_rack"](url, secret, method=method)
        found = __salt__["maas.wait_for_rack"](name, timeout=timeout, **api)
        ret["changes"]["system_id"] = found.get("system_id")
        if _racks_hold_images(api["url"]):
            __salt__["maas.rack_import_boot_images"](found["system_id"], **api)
        ret["comment"] = f"Rack {name} registered with {url} and listed by the region"
    except ERRORS as err:
        ret["changes"] = {}
        return _fail(ret, type(err)(f"Rack {name} is not registered: {err}"))
    return ret


def _racks_hold_images(url):
    try:
        return _parse.racks_hold_images(__salt__["maas.version"](url=url)["version"])
    except ValueError:  # a version we cannot read: the region's image wait nudges instead
        return False


def handoff_pushed(name, fingerprint_pillar, username="admin"):
    """The master holds this region's shared secret and the API key of ``username``.

    The region pushes them (``maas.push_handoff``: ``cp.push``, one way) to the master's
    per-minion file cache, where the master's pillar hands them to the rack controllers
    and the first MicroK8s control plane (docs/maas.md). The master's pillar tells the
    region the SHA-256 of the copy it holds (``fingerprint_pillar``): equal digests mean
    nothing to do. Neither value is ever reported.

    name
        Where under the master's file cache for this minion, e.g.
        ``kubesalt/maas-handoff.json`` (pillar ``kubesalt:maas:handoff:path``).
    fingerprint_pillar
        Pillar path of the master's digest, e.g. ``kubesalt:maas:handoff:fingerprint``
        (empty while the master holds nothing).
    username
        The MAAS user whose API key is handed over (default ``admin``).
    """
    ret = _ret(name)
    try:
        held = salt.utils.data.traverse_dict_and_list(__pillar__, fingerprint_pillar, None)
        if held is None:
            raise SaltInvocationError(
                f"fingerprint_pillar: pillar has no value at {fingerprint_pillar!r}: the "
                "master's pillar (pillar/maas.sls) sets it for the first MAAS region only"
            )
        if __salt__["maas.handoff_digest"](username) == held:
            ret["comment"] = f"The master holds the current shared secret and API key ({name})"
            return ret
        ret["changes"] = {"handoff": {"old": "outdated" if held else "missing", "new": "current"}}
        if __opts__["test"]:
            ret["result"] = None
            ret["comment"] = f"The shared secret and API key would be pushed to the master ({name})"
            return ret
        __salt__["maas.push_handoff"](name, username=username)
        ret["comment"] = f"The shared secret and API key were pushed to the master ({name})"
    except ERRORS as err:
        ret["changes"] = {}
        return _fail(ret, err)
    return ret


# --- settings -----------------------------------------------------------------------------------


def config_set(name, value=None, settings=None, url=None, api_key=None):
    """MAAS settings have the given values (compared after normalisation).

    name
        A setting key (with ``value``), or any ID when ``settings`` is given.
    value
        The value of ``name``. Lists may be YAML lists or comma/space separated strings;
        booleans are real booleans.
    settings
        A mapping of several settings.
    url
        The region URL, e.g. ``http://10.0.0.5:5240/MAAS`` (default: the minion option
        ``maas.url``, else pillar ``maas:region:maas_url``).
    api_key
        The API key (``consumer:token:secret``; default: the minion option
        ``maas.api_key``, else pillar ``maas:api_key``, else on a region host the admin's
        key from ``maas apikey``). Never reported.
    """
    ret = _ret(name)
    wanted = dict(settings) if settings is not None else {name: value}
    api = _api_args(url, api_key)
    try:
        for key in wanted:
            _config.validate_name(key)
            _config.normalize(key, wanted[key])
        if not wanted:
            ret["comment"] = "No MAAS settings to manage"
            return ret
        current = {key: __salt__["maas.get_config"](key, **api) for key in wanted}
        changes = _config.diff(wanted, current)
        if not changes:
            ret["comment"] = f"{len(wanted)} MAAS setting(s) already as wanted"
            return ret
        ret["changes"] = changes
        if __opts__["test"]:
            ret["result"] = None
            ret["comment"] = f"{len(changes)} MAAS setting(s) would be changed"
            return ret
        for key in changes:
            __salt__["maas.set_config"](key, wanted[key], **api)
        after = {key: __salt__["maas.get_config"](key, **api) for key in changes}
        left = _config.diff({k: wanted[k] for k in changes}, after)
        if left:
            return _fail(
                ret,
                "MAAS accepted but stored different values for: "
                + ", ".join(f"{k} (stored {v['old']!r})" for k, v in left.items()),
            )
        ret["comment"] = f"{len(changes)} MAAS setting(s) changed"
    except ValueError as err:
        ret["changes"] = {}
        return _fail(ret, err)
    except ERRORS as err:
        return _fail(ret, err)
    return ret


def boot_source_present(name, keyring_filename=None, boot_source_id=1, url=None, api_key=None):
    """Boot source ``boot_source_id`` (1: MAAS's default) downloads from ``name`` (a URL).

    MAAS does not refresh the cache of source 1 when it is saved: the selection state
    imports when the cache does not know a release yet.

    name
        The URL the source downloads from, e.g. a local mirror of
        ``http://images.maas.io/ephemeral-v3/stable/``.
    keyring_filename
        The keyring file on the region (default: keep the current one).
    boot_source_id
        The boot source to set (default 1, the source MAAS creates).
    url
        The region URL, e.g. ``http://10.0.0.5:5240/MAAS`` (default: the minion option
        ``maas.url``, else pillar ``maas:region:maas_url``).
    api_key
        The API key (``consumer:token:secret``; default: the minion option
        ``maas.api_key``, else pillar ``maas:api_key``, else on a region host the admin's
        key from ``maas apikey``). Never reported.
    """
    ret = _ret(name)
    api = _api_args(url, api_key)
    try:
        sources = __salt__["maas.boot_sources"](**api)
        current = next((s for s in sources if s["id"] == int(boot_source_id)), None)
        if current is None:
            return _fail(ret, f"MAAS has no boot source {boot_source_id} (list: maas.boot_sources)")
        changes = {}
        if current["url"] != name:
            changes["url"] = {"old": current["url"], "new": name}
        if keyring_filename and current.get("keyring_filename") != keyring_filename:
            changes["keyring_filename"] = {
                "old": current.get("keyring_filename"),
                "new": keyring_filename,
            }
        if not changes:
            ret["comment"] = f"Boot source {boot_source_id} downloads from {name}"
            return ret
        ret["changes"] = changes
        if __opts__["test"]:
            ret["result"] = None
            ret["comment"] = f"Boot source {boot_source_id} would download from {name}"
            return ret
        __salt__["maas.update_boot_source"](
            boot_source_id, source_url=name, keyring_filename=keyring_filename, **api
        )
        ret["comment"] = f"Boot source {boot_source_id} now downloads from {name}"
    except ERRORS as err:
        ret["changes"] = {}
        return _fail(ret, err)
    return ret


# --- images -------------------------------------------------------------------------------------


def _selection_view(selection):
    return {
        "os": selection["os"],
        "release": selection["release"],
        "arches": sorted(selection.get("arches") or []),
        "subarches": sorted(selection.get("subarches") or []),
        "labels": sorted(selection.get("labels") or []),
    }


def boot_source_selection_present(  # noqa: PLR0917
    name,
    os="ubuntu",
    arches=None,
    subarches=None,
    labels=None,
    boot_source_id=1,
    cache_timeout=120,
    url=None,
    api_key=None,
):
    """A boot source selection for ``os``/``name`` (the release) with these lists.

    MAAS allows one selection per (source, os, release): an existing one is updated in
    place. When the source's cache does not know the release yet (a fresh source), an
    import is started to fill the cache and the creation retried for up to
    ``cache_timeout`` seconds.

    name
        The release, e.g. ``noble``.
    os
        The operating system (default ``ubuntu``).
    arches
        Architectures, a list or a comma/space separated string (default ``[amd64]``).
    subarches
        Sub-architectures (default ``["*"]``).
    labels
        Image labels (default ``["*"]``).
    boot_source_id
        The boot source the selection belongs to (default 1).
    cache_timeout
        Seconds to retry the creation while the source's cache fills (default 120).
    url
        The region URL, e.g. ``http://10.0.0.5:5240/MAAS`` (default: the minion option
        ``maas.url``, else pillar ``maas:region:maas_url``).
    api_key
        The API key (``consumer:token:secret``; default: the minion option
        ``maas.api_key``, else pillar ``maas:api_key``, else on a region host the admin's
        key from ``maas apikey``). Never reported.
    """
    ret = _ret(name)
    api = _api_args(url, api_key)
    try:
        wanted = {
            "os": os,
            "release": name,
            "arches": sorted(_as_list(arches) or ["amd64"]),
            "subarches": sorted(_as_list(subarches) or ["*"]),
            "labels": sorted(_as_list(labels) or ["*"]),
        }
        selections = __salt__["maas.boot_source_selections"](boot_source_id, **api)
        existing = next((s for s in selections if s["os"] == os and s["release"] == name), None)
        old = _selection_view(existing) if existing else None
        if old == wanted:
            ret["comment"] = f"Selection {os}/{name} is present"
            return ret
        ret["changes"] = {"selection": {"old": old, "new": wanted}}
        if __opts__["test"]:
            ret["result"] = None
            ret["comment"] = f"Selection {os}/{name} would be {'updated' if old else 'created'}"
            return ret
        args = {k: wanted[k] for k in ("arches", "subarches", "labels")}
        if existing:
            __salt__["maas.update_boot_source_selection"](
                existing["id"], name, os=os, boot_source_id=boot_source_id, **args, **api
            )
        else:
            _create_selection(name, os, args, boot_source_id, cache_timeout, api)
        ret["comment"] = f"Selection {os}/{name} {'updated' if old else 'created'}"
    except ERRORS as err:
        ret["changes"] = {}
        return _fail(ret, err)
    return ret


def _as_list(value):
    try:
        return _parse.as_list("list", value)
    except ValueError as err:
        raise SaltInvocationError(str(err)) from None


def _create_selection(release, os_name, args, boot_source_id, cache_timeout, api):  # noqa: PLR0917
    deadline = time.monotonic() + float(cache_timeout)
    imported = False
    while True:
        try:
            return __salt__["maas.create_boot_source_selection"](
                release, os=os_name, boot_source_id=boot_source_id, **args, **api
            )
        except CommandExecutionError as err:
            if "no available images" not in str(err) or time.monotonic() > deadline:
                raise
            if not imported:  # the cache is rebuilt at the start of every import
                __salt__["maas.import_boot_resources"](**api)
                imported = True
            time.sleep(1.0)


def boot_images_synced(  # noqa: PLR0917
    name,
    images,
    timeout=1800,
    poll_min=0.25,
    poll_max=1.5,
    rack_nudge_interval=30,
    url=None,
    api_key=None,
):
    """The wanted images are complete in the region and, on MAAS <= 3.4, on every live rack.

    Starts an import when something is missing, then polls with a backoff from
    ``poll_min`` to ``poll_max`` seconds (so the state returns at most ``poll_max`` plus
    one round of requests after completion) until every wanted image is complete. While
    the import runs only ``is_importing`` is polled. On MAAS <= 3.4 each rack whose
    ``rackd`` is running must then report ``synced``; unsynced racks are nudged with
    ``import_boot_images``. Dead racks are named in the comment, not waited for.

    name
        Any ID (the state's name in the return).
    images
        A list of ``{os, release, arches}`` (os defaults to ubuntu, arches to [amd64]).
    timeout
        Seconds before giving up with what is still missing (default 1800).
    poll_min
        First polling interval in seconds (default 0.25).
    poll_max
        Longest polling interval in seconds (default 1.5).
    rack_nudge_interval
        Seconds between two ``import_boot_images`` requests to the same unsynced rack
        (default 30).
    url
        The region URL, e.g. ``http://10.0.0.5:5240/MAAS`` (default: the minion option
        ``maas.url``, else pillar ``maas:region:maas_url``).
    api_key
        The API key (``consumer:token:secret``; default: the minion option
        ``maas.api_key``, else pillar ``maas:api_key``, else on a region host the admin's
        key from ``maas apikey``). Never reported.
    """
    ret = _ret(name)
    api = _api_args(url, api_key)
    try:
        wanted = _images_arg(images)
        names = [_parse.image_key(i["os"], i["release"]) for i in wanted]
        version = __salt__["maas.version"](url=url)["version"]
        racks_hold = _parse.racks_hold_images(version)
        note = _version_note(version)
        state = _sync_state(wanted, names, racks_hold, api)
        if state["done"]:
            ret["comment"] = _sync_comment("Images complete", names, state) + note
            return ret
        ret["changes"] = {"images": {"old": state["missing"], "new": "complete"}}
        if state["racks"]:
            ret["changes"]["racks"] = {"old": state["racks"], "new": "synced"}
        if __opts__["test"]:
            ret["result"] = None
            ret["comment"] = (
                "An import would run and the state would wait for " + ", ".join(names) + note
            )
            return ret
        if state["missing"]:
            __salt__["maas.import_boot_resources"](**api)
        started = time.monotonic()
        delay = float(poll_min)
        last_nudge = {}
        while True:
            importing = __salt__["maas.is_importing"](**api)
            if not importing:
                state = _sync_state(wanted, names, racks_hold, api)
                if state["done"]:
                    break
                for system_id in state["unsynced_ids"]:
                    if time.monotonic() - last_nudge.get(system_id, -1e9) >= rack_nudge_interval:
                        __salt__["maas.rack_import_boot_images"](system_id, **api)
                        last_nudge[system_id] = time.monotonic()
            elapsed = time.monotonic() - started
            if elapsed + delay > float(timeout):
                if importing:
                    state = _sync_state(wanted, names, racks_hold, api)
                return _fail(ret, _timeout_comment(timeout, importing, state))
            time.sleep(delay)
            delay = min(delay * 1.5, float(poll_max))
        ret["comment"] = (
            _sync_comment(f"Images synced in {time.monotonic() - started:.1f} s", names, state)
            + note
        )
    except ERRORS as err:
        ret["changes"] = {}
        return _fail(ret, err)
    return ret


def _version_note(version):
    """What the comment says when the region cannot name its version (a MAAS run from
    source reports ``unknown``): it is taken as the newest, whose racks hold no images."""
    if _parse.is_known_version(version):
        return ""
    return (
        f" (the region reports version {version!r}, as a MAAS run from source does: taken as "
        "the newest MAAS, whose racks hold no images of their own, so no rack is waited for)"
    )


def _images_arg(images):
    try:
        return _parse.wanted_images(images)
    except ValueError as err:
        raise SaltInvocationError(str(err)) from None


def _sync_state(wanted, names, racks_hold, api):
    status = __salt__["maas.images_status"](wanted, **api)
    state = {
        "missing": status["incomplete"],
        "racks": {},
        "dead": [],
        "unsynced_ids": [],
    }
    if racks_hold and not status["incomplete"]:
        for rack in __salt__["maas.rack_controllers"](**api):
            if not _parse.rack_is_alive(rack):
                state["dead"].append(rack["hostname"])
                continue
            listing = __salt__["maas.rack_boot_images"](rack["system_id"], **api)
            synced, why = _parse.rack_images_synced(listing, names)
            if not synced:
                state["racks"][rack["hostname"]] = why
                state["unsynced_ids"].append(rack["system_id"])
    state["done"] = not state["missing"] and not state["racks"]
    return state


def _sync_comment(prefix, names, state):
    comment = f"{prefix}: {', '.join(names)}"
    if state["dead"]:
        comment += f"; dead racks not waited for: {', '.join(sorted(state['dead']))}"
    return comment


def _timeout_comment(timeout, importing, state):
    parts = [f"Timed out after {float(timeout):.0f} s waiting for the boot images"]
    if state["missing"]:
        parts.append(
            "still incomplete: "
            + "; ".join(f"{name} ({why})" for name, why in sorted(state["missing"].items()))
        )
    if importing:
        parts.append(
            "the region is still importing: the import looks stuck (check the image source "
            "URL and proxy; maas.stop_import stops it)"
        )
    if state["racks"]:
        parts.append(
            "racks not synced: "
            + ", ".join(f"{host} ({why})" for host, why in sorted(state["racks"].items()))
        )
    if state["dead"]:
        parts.append(f"dead racks ignored: {', '.join(sorted(state['dead']))}")
    return "; ".join(parts)


# --- API key export -----------------------------------------------------------------------------


def apikey_exported(  # noqa: PLR0917
    name,
    namespace="maas",
    username="admin",
    data_key="token",
    kubectl="microk8s kubectl",
    api_key=None,
    api_key_pillar=None,
    pillar_wait=180,
):
    """The API key of ``username`` is in the Kubernetes secret ``namespace/name``.

    Written with ``kubectl apply -f -`` (manifest on stdin, so the key is never in argv),
    compared by digest; the key is never reported. The key comes from ``api_key_pillar``
    (a pillar path, e.g. ``kubesalt:maas:api_key``, where the master puts it: docs/maas.md),
    ``api_key`` or, on a region host, from ``maas apikey``. Never through the mine. While
    the pillar has no key yet, a fresh one is asked of the master for up to ``pillar_wait``
    seconds (default 180; the first region hands the key over during the same highstate).

    name
        The secret's name.
    namespace
        The secret's namespace (default ``maas``; created when missing).
    username
        The MAAS user whose key is exported (default ``admin``).
    data_key
        The key of the secret's ``data`` that holds the API key (default ``token``).
    kubectl
        The kubectl command, a string or a list (default ``microk8s kubectl``).
    api_key
        The API key itself (prefer ``api_key_pillar``). Never reported.
    api_key_pillar
        Pillar path of the API key, e.g. ``kubesalt:maas:api_key``.
    pillar_wait
        Seconds to wait for the master to hold the key (default 180).
    """
    ret = _ret(name)
    try:
        (api_key,) = _from_pillar(
            [(api_key, "api_key_pillar", api_key_pillar)], HANDOFF_HINT, pillar_wait
        )
    except ERRORS as err:
        return _fail(ret, err)
    args = {
        "name": name,
        "namespace": namespace,
        "username": username,
        "data_key": data_key,
        "kubectl": kubectl,
        "api_key": api_key,
    }
    try:
        status = __salt__["maas.api_key_secret_status"](**args)
        if status == "current":
            ret["comment"] = f"Secret {namespace}/{name} holds the current API key of {username}"
            return ret
        ret["changes"] = {"secret": {"old": status, "new": f"{namespace}/{name}[{data_key}]"}}
        if __opts__["test"]:
            ret["result"] = None
            ret["comment"] = f"Secret {namespace}/{name} would be written"
            return ret
        __salt__["maas.export_api_key"](**args)
        if __salt__["maas.api_key_secret_status"](**args) != "current":
            return _fail(ret, f"kubectl apply ran but {namespace}/{name} does not hold the key")
        ret["comment"] = f"Secret {namespace}/{name} written"
    except ERRORS as err:
        ret["changes"] = {}
        return _fail(ret, err)
    return ret


# --- machines -----------------------------------------------------------------------------------


def _user_data(user_data, user_data_pillar):
    """The user-data text: ``user_data``, or the pillar value at ``user_data_pillar``."""
    if user_data_pillar is None:
        return user_data
    if user_data is not None:
        raise SaltInvocationError("user_data, user_data_pillar: give one of them")
    found = salt.utils.data.traverse_dict_and_list(__pillar__, user_data_pillar, None)
    if not isinstance(found, str) or not found:
        raise SaltInvocationError(
            f"user_data_pillar: pillar has no user-data text at {user_data_pillar!r}"
        )
    return found


def _deploy_plan(name, distro_series, api, waiting):
    """``(machine, plan)``: what deploying ``name`` takes; a Commissioning machine is waited
    for until Ready first (in test mode it counts as one to deploy)."""
    current = __salt__["maas.machine_status"](name, **api)
    plan = _machines.deploy_plan(current, distro_series)
    if plan["action"] == "wait" and current["status"] == _machines.COMMISSIONING:
        if __opts__["test"]:
            return current, {"action": "deploy", "why": "commissioning"}
        current = __salt__["maas.wait_for_machine"](name, statuses="Ready", **waiting)
        plan = _machines.deploy_plan(current, distro_series)
    return current, plan


def _deploy_changes(current, distro_series, user_data, wait):
    """The changes a deployment of machine ``current`` makes (the user-data never shown)."""
    changes = {
        "status": {"old": current["status_name"], "new": "Deployed" if wait else "Deploying"}
    }
    if distro_series:
        changes["distro_series"] = {"old": current["distro_series"] or None, "new": distro_series}
    if user_data is not None:
        changes["user_data"] = "set (not shown)"
    return changes


def machine_deployed(  # noqa: PLR0917
    name,
    distro_series=None,
    user_data=None,
    user_data_pillar=None,
    wait=True,
    timeout=1800,
    poll=2.0,
    poll_max=15.0,
    url=None,
    api_key=None,
):
    """MAAS has deployed the machine ``name`` (allocating it first when it is Ready).

    name
        The machine's system_id, hostname or FQDN in MAAS (MAAS names machines its own
        way: this need not be the minion id).
    distro_series
        ``jammy`` or ``ubuntu/jammy`` (default: MAAS's ``default_distro_series``). A machine
        deployed with another series is not redeployed: the state fails and says so
        (release it first, ``maas.machine_released``).
    user_data
        The user-data text (cloud-config or script) the machine boots with. Sent
        base64-encoded; never reported or logged (it may carry keys). MAAS does not return
        a machine's user-data, so a machine already Deployed is not compared on it.
    user_data_pillar
        A pillar key (``a:b:c``) holding the user-data instead: the value never reaches the
        rendered SLS or the job's arguments (prefer it when the user-data holds a minion's
        private key).
    wait
        Wait until the machine is Deployed (default). With ``False`` the state succeeds once
        MAAS has accepted the deployment.
    timeout / poll / poll_max
        Seconds to wait for Deployed, and the backed-off polling interval.
    url
        The region URL, e.g. ``http://10.0.0.5:5240/MAAS`` (default: the minion option
        ``maas.url``, else pillar ``maas:region:maas_url``).
    api_key
        The API key (``consumer:token:secret``; default: the minion option
        ``maas.api_key``, else pillar ``maas:api_key``, else on a region host the admin's
        key from ``maas apikey``). Never reported.

    A machine in Failed deployment is deployed again; one that is Commissioning is waited
    for; Broken, New or Failed commissioning fail with MAAS's status and message.

    .. code-block:: yaml

        worker-a deployed by MAAS:
          maas.machine_deployed:
            - name: fun-cat
            - distro_series: jammy
            - user_data: {{ user_data | json }}

    CLI Example:

    .. code-block:: bash

        salt-call state.single maas.machine_deployed fun-cat distro_series=jammy test=True
    """
    ret = _ret(name)
    api = _api_args(url, api_key)
    waiting = {"timeout": timeout, "poll": poll, "poll_max": poll_max, **api}
    started = False
    try:
        user_data = _user_data(user_data, user_data_pillar)
        current, plan = _deploy_plan(name, distro_series, api, waiting)
        if plan["action"] == "none":
            ret["comment"] = (
                f"Machine {current['hostname']} ({current['system_id']}) is deployed with "
                f"{current['osystem']}/{current['distro_series']}"
            )
            return ret
        if plan["action"] == "redeploy":
            raise CommandExecutionError(
                f"Machine {current['hostname']} is {plan['why']}: release it first "
                "(maas.machine_released), then deploy"
            )
        if plan["action"] == "error":
            raise CommandExecutionError(plan["why"])
        if plan["action"] == "wait":
            if __opts__["test"] or not wait:
                ret["comment"] = f"Machine {current['hostname']} is being deployed"
                return ret
            done = __salt__["maas.wait_for_machine"](name, statuses="Deployed", **waiting)
            ret["comment"] = f"Machine {done['hostname']} finished deploying"
            return ret
        ret["changes"] = _deploy_changes(current, distro_series, user_data, wait)
        if __opts__["test"]:
            ret["result"] = None
            ret["comment"] = f"Machine {current['hostname']} would be deployed"
            return ret
        __salt__["maas.deploy_machine"](
            current["system_id"], distro_series=distro_series, user_data=user_data, **api
        )
        started = True
        if not wait:
            ret["comment"] = f"Machine {current['hostname']} is deploying"
            return ret
        done = __salt__["maas.wait_for_machine"](
            current["system_id"], statuses="Deployed", **waiting
        )
        ret["changes"]["distro_series"] = {
            "old": current["distro_series"] or None,
            "new": done["distro_series"],
        }
        ret["comment"] = f"Machine {done['hostname']} ({done['system_id']}) deployed"
    except ERRORS as err:
        if not started:  # the deployment, once accepted, is a change even if it then fails
            ret["changes"] = {}
        return _fail(ret, type(err)(f"Machine {name} is not deployed: {err}"))
    return ret


def machine_released(name, wait=True, timeout=600, poll=1.0, poll_max=10.0, url=None, api_key=None):  # noqa: PLR0917
    """MAAS has released the machine ``name``: Ready (or New: never allocated), not owned.

    name
        The machine's system_id, hostname or FQDN in MAAS.
    wait
        Wait until the machine is Ready (default).
    timeout / poll / poll_max
        Seconds to wait, and the backed-off polling interval.
    url
        The region URL, e.g. ``http://10.0.0.5:5240/MAAS`` (default: the minion option
        ``maas.url``, else pillar ``maas:region:maas_url``).
    api_key
        The API key (``consumer:token:secret``; default: the minion option
        ``maas.api_key``, else pillar ``maas:api_key``, else on a region host the admin's
        key from ``maas apikey``). Never reported.

    An absent machine counts as released. Statuses MAAS refuses to release
    (Commissioning, ...) fail with MAAS's status.

    .. code-block:: yaml

        worker-a back to MAAS:
          maas.machine_released:
            - name: fun-cat

    CLI Example:

    .. code-block:: bash

        salt-call state.single maas.machine_released fun-cat
    """
    ret = _ret(name)
    api = _api_args(url, api_key)
    try:
        found = __salt__["maas.machine"](name, **api)
        if found is None:
            ret["comment"] = f"MAAS has no machine {name}: nothing to release"
            return ret
        current = _machines.summary(found)
        plan = _machines.release_plan(current)
        if plan["action"] == "none":
            ret["comment"] = f"Machine {current['hostname']} is {current['status_name']}"
            return ret
        if plan["action"] == "error":
            raise CommandExecutionError(plan["why"])
        if plan["action"] == "release":
            ret["changes"] = {
                "status": {"old": current["status_name"], "new": "Ready" if wait else "Releasing"}
            }
            if __opts__["test"]:
                ret["result"] = None
                ret["comment"] = f"Machine {current['hostname']} would be released"
                return ret
            __salt__["maas.release_machine"](current["system_id"], **api)
        if wait and not __opts__["test"]:
            __salt__["maas.wait_for_machine"](
                current["system_id"],
                statuses="Ready",
                timeout=timeout,
                poll=poll,
                poll_max=poll_max,
                **api,
            )
        ret["comment"] = f"Machine {current['hostname']} released"
    except ERRORS as err:
        ret["changes"] = {}
        return _fail(ret, type(err)(f"Machine {name} is not released: {err}"))
    return ret
