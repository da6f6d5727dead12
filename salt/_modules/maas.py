"""Execution module for Canonical MAAS: region init, admin, API key, racks, settings, images.

Two kinds of calls:

* **CLI** (on the region or rack host): ``maas init``, ``maas createadmin``, ``maas apikey``,
  ``maas changepasswords``, ``maas config`` and ``maas-rack``. Every command runs through
  ``cmd.run_all`` with an argv list, stdin given explicitly (never a terminal, so a missing
  flag cannot turn into a prompt that loops forever), a timeout, and
  ``output_loglevel="quiet"`` so Salt logs neither the argv nor the output. Secrets are kept
  out of argv where MAAS allows it: the admin password goes through ``changepasswords`` on
  stdin, the rack secret through ``maas-rack install-shared-secret`` on stdin.
* **API 2.0** through the one OAuth1 PLAINTEXT client of ``maas_lib.client`` (503 and
  connection errors retried with a bounded backoff).

Where the API is (every API function also takes ``url`` and ``api_key`` arguments):

``maas.url`` (minion option) or pillar ``maas:region:maas_url``
    The region URL, e.g. ``http://10.0.0.5:5240/MAAS``.
``maas.api_key`` (minion option) or pillar ``maas:api_key``
    The API key. Without one, on a region host, the key of the admin (pillar
    ``maas:admin:username``, default ``admin``) is read with ``maas apikey``.
``maas.cli`` / ``maas.rack_cli``
    The ``maas`` and ``maas-rack`` executables (default: found on PATH).
``maas.secret_file``
    The region's shared secret file (default: the snap path, else the deb path).

Read-only look-ups are cached in ``__context__`` under ``maas.*`` and dropped after any
change.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import secrets
import shutil
import tempfile
import time

import salt.utils.path
from salt.exceptions import CommandExecutionError
from salt.exceptions import SaltInvocationError

import cluster_lib.validate as _validate
import common_lib.command as _command
import common_lib.options as _options
import common_lib.redact as _redact
import common_lib.state as _state
import maas_lib.client as _client
import maas_lib.config as _config
import maas_lib.machines as _machines
import maas_lib.parse as _parse

log = logging.getLogger(__name__)

__virtualname__ = "maas"

CONTEXT_PREFIX = "maas."
CLI_TIMEOUT = 300
SECRET_FILES = ("/var/snap/maas/common/maas/secret", "/var/lib/maas/secret")
INIT_MODES = ("region", "region+rack")
_LOCAL_KEY = "maas.local_api_key"
SNAP_BIN = "/snap/bin"


def __virtual__():
    return __virtualname__


# --- plumbing -----------------------------------------------------------------------------------


def _pillar_maas():
    value = __pillar__.get("maas") if hasattr(__pillar__, "get") else None
    return value if isinstance(value, dict) else {}


def _opt(name, default=None):
    return _options.option(__opts__, "maas", name, default)


def _drop_cache():
    # The API key read from `maas apikey` stays: changes made here never rotate it.
    for key in [k for k in __context__ if str(k).startswith(CONTEXT_PREFIX)]:
        if key != _LOCAL_KEY:
            __context__.pop(key, None)


def _run(argv, what, *, stdin="", hidden=(), ok_codes=(0,), timeout=CLI_TIMEOUT):
    """Run one MAAS command (``common_lib.command.run``); raise CommandExecutionError
    (secrets masked) when it exits with a code not in ``ok_codes``. ``stdout`` is returned
    as printed: a caller may need a value (an API key) from it."""
    res = _command.run(
        __salt__["cmd.run_all"],
        argv,
        secrets=hidden,
        stdin=stdin,
        timeout=timeout,
        what=what,
    )
    if res["retcode"] not in ok_codes:
        shown = " ".join(_redact.redact_argv(argv[:3], hidden))
        detail = (res["stderr"] or res["stdout"]).strip()
        raise CommandExecutionError(f"{what} failed (`{shown}` exited {res['retcode']}): {detail}")
    res["stdout"] = res.pop("raw_stdout")
    return res


def _cli():
    return _opt("cli") or "maas"


def _rack_cli():
    return _opt("rack_cli") or "maas-rack"


def _api_error(err):
    if isinstance(err, _client.MaasConnectionError):
        # Not up yet (an earlier state starts it): a missing prerequisite under test=True.
        return _state.PrerequisiteMissing(f"MAAS API: {err}")
    if isinstance(err, _client.MaasApiError):
        hint = ""
        if err.status == 401:
            hint = " (check the API key and that the clocks agree within 5 minutes)"
        elif err.status == 403:
            hint = " (the API key's user must be a MAAS admin)"
        return CommandExecutionError(f"MAAS API: {err}{hint}")
    return CommandExecutionError(f"MAAS API: {err}")


def _resolve_url(url):
    url = url or _opt("url") or (_pillar_maas().get("region") or {}).get("maas_url")
    if not url:
        raise SaltInvocationError(
            "url: the MAAS region URL is needed (argument, minion option maas.url or pillar "
            "maas:region:maas_url)"
        )
    return url


def _resolve_key(api_key):
    key = api_key or _opt("api_key") or _pillar_maas().get("api_key")
    if key:
        return key
    if _LOCAL_KEY not in __context__:
        username = (_pillar_maas().get("admin") or {}).get("username") or "admin"
        keys = _parse.parse_apikey_output(
            _run([_cli(), "apikey", f"--username={username}"], "reading the API key").get("stdout")
        )
        if not keys:
            raise _state.PrerequisiteMissing(
                f"`maas apikey --username={username}` printed no key: create the admin first"
            )
        __context__[_LOCAL_KEY] = keys[0]
    return __context__[_LOCAL_KEY]


def _api(url=None, api_key=None, anonymous=False):
    url = _resolve_url(url)
    key = None if anonymous else _resolve_key(api_key)
    try:
        return _client.MaasClient(
            url,
            key,
            retries=int(_opt("api_retries", 6)),
            backoff=float(_opt("api_backoff", 0.25)),
            max_backoff=float(_opt("api_backoff_max", 4.0)),
        )
    except ValueError as err:
        raise SaltInvocationError(str(err)) from None


def _call(
    method,
    path,
    url=None,
    api_key=None,
    *,
    op=None,
    anonymous=False,
    params=None,
    json_text=False,
    **kw,
):
    params = {**(params or {}), **kw}  # `params` for API fields named like our arguments
    client = _api(url, api_key, anonymous)
    try:
        body = client.request(method, path, op, params)
        return _client.json_value(body, client.last_content_type) if json_text else body
    except (_client.MaasApiError, _client.MaasConnectionError) as err:
        raise _api_error(err) from None


def _fingerprint(secret_value):
    return "sha256:" + hashlib.sha256(secret_value.encode()).hexdigest()[:16]


def _check_list(name, value):
    try:
        return _parse.as_list(name, value)
    except ValueError as err:
        raise SaltInvocationError(str(err)) from None


# --- pillar -------------------------------------------------------------------------------------


def validate(config=None):
    """
    Check the ``maas`` pillar (merged with the state tree's maas defaults).

    Returns True, or raises an error listing every problem as ``maas:<key>: <message>``
    (secret values are never quoted).

    config
        The merged ``maas`` data. Defaults to this minion's ``maas`` pillar.

    CLI Example:

    .. code-block:: bash

        salt 'maas-*' maas.validate
    """
    if config is None:
        config = __pillar__.get("maas", {})
    try:
        _validate.validate_maas(config)
    except _validate.PillarError as err:
        raise CommandExecutionError(str(err)) from err
    return True


# --- region and rack set-up (CLI) ---------------------------------------------------------------


def init_status():
    """Return how this host's MAAS snap is initialised (``maas config --parsable``).

    ``{"mode": "none"}`` when it is not. The database password is never included.

    CLI Example:

    .. code-block:: bash

        salt '*' maas.init_status
    """
    key = "maas.init_status"
    if key not in __context__:
        res = _run([_cli(), "config", "--parsable"], "reading the MAAS init state", ok_codes=(0, 1))
        if res["retcode"] == 1:
            parsed = {"mode": "none"}
        else:
            parsed = _parse.parse_parsable_config(res["stdout"])
            parsed.pop("database_pass", None)
            parsed.pop("secret", None)
        __context__[key] = parsed
    return dict(__context__[key])


def init_region(maas_url, database_uri, mode="region"):
    """Initialise (or re-initialise) this host as a MAAS region with ``maas init``.

    Every flag is passed (``--maas-url``, ``--database-uri``, ``--force``) so nothing
    prompts. Migrations run only when the database is empty.

    maas_url
        The URL racks and clients use, e.g. ``http://10.0.0.5:5240/MAAS``.
    database_uri
        ``postgres://user:password@host:port/dbname``, or ``maas-test-db:///`` (the
        maas-test-db snap's database, as ``maas init`` takes it).
    mode
        ``region`` (default) or ``region+rack``.

    CLI Example:

    .. code-block:: bash

        salt 'region*' maas.init_region http://10.0.0.5:5240/MAAS postgres://maas:pw@db/maasdb
    """
    if mode not in INIT_MODES:
        raise SaltInvocationError(f"mode: must be one of {', '.join(INIT_MODES)}, got {mode!r}")
    if not isinstance(maas_url, str) or not maas_url.startswith(("http://", "https://")):
        raise SaltInvocationError("maas_url: must be an http(s):// URL")
    try:
        db = _parse.parse_database_uri(database_uri)
    except ValueError as err:
        raise SaltInvocationError(str(err)) from None
    _run(
        [
            _cli(),
            "init",
            mode,
            f"--maas-url={maas_url}",
            f"--database-uri={database_uri}",
            "--force",
        ],
        f"maas init {mode}",
        hidden=(db["password"], database_uri),
    )
    _drop_cache()
    return True


def user_exists(username):
    """Whether a MAAS user exists (``maas apikey --username`` exits 1 if not).

    username
        The MAAS user name.

    CLI Example:

    .. code-block:: bash

        salt 'region*' maas.user_exists admin
    """
    if not username or not isinstance(username, str):
        raise SaltInvocationError("username: a MAAS user name is required")
    res = _run(
        [_cli(), "apikey", f"--username={username}"], "checking the MAAS user", ok_codes=(0, 1)
    )
    if res["retcode"] == 0:
        return True
    if "User does not exist" in (res.get("stderr") or "") + (res.get("stdout") or ""):
        return False
    raise CommandExecutionError(
        f"checking the MAAS user {username} failed: {(res.get('stderr') or '').strip()}"
    )


def create_admin(username, password, email, ssh_import=None):
    """Create a MAAS admin without the password ever reaching argv or the logs.

    ``createadmin`` needs ``--password`` to stay non-interactive, so it gets a throw-away
    random one; the real password then goes through ``changepasswords`` on stdin.

    username
        The MAAS user name.
    password
        The user's password (never logged nor put in argv).
    email
        The admin's e-mail address.
    ssh_import
        Import the admin's SSH keys from ``lp:<user>`` or ``gh:<user>``. Defaults to none.

    CLI Example:

    .. code-block:: bash

        salt 'region*' maas.create_admin admin 's3cret' admin@example.com
    """
    for name, value in (("username", username), ("password", password), ("email", email)):
        if not value or not isinstance(value, str):
            raise SaltInvocationError(f"{name}: required (a non-empty string)")
    if ":" in username or "\n" in password:
        raise SaltInvocationError("username must not contain ':' and password no newline")
    throwaway = secrets.token_urlsafe(24)
    argv = [
        _cli(),
        "createadmin",
        f"--username={username}",
        f"--password={throwaway}",
        f"--email={email}",
    ]
    if ssh_import:
        argv.append(f"--ssh-import={ssh_import}")
    _run(argv, f"creating the MAAS admin {username}", hidden=(throwaway, password))
    set_password(username, password)
    _drop_cache()
    return True


def set_password(username, password):
    """Set a MAAS user's password (``changepasswords``, password on stdin).

    username
        The MAAS user name.
    password
        The user's password (never logged nor put in argv).

    CLI Example:

    .. code-block:: bash

        salt 'region*' maas.set_password admin 's3cret'
    """
    if not username or not password:
        raise SaltInvocationError("username and password are required")
    _run(
        [_cli(), "changepasswords"],
        f"setting the password of {username}",
        stdin=f"{username}:{password}\n",
        hidden=(password,),
    )
    return True


def check_password(username, password, url=None):
    """Whether ``password`` is the user's password, asked to the region's login endpoint.

    Returns None when the region does not offer ``authenticate-api``.

    username
        The MAAS user name.
    password
        The user's password (never logged nor put in argv).
    url
        The region URL, e.g. ``http://10.0.0.5:5240/MAAS``. Defaults to the minion option
        ``maas.url``, else pillar ``maas:region:maas_url``.

    CLI Example:

    .. code-block:: bash

        salt 'region*' maas.check_password admin 's3cret' url=http://10.0.0.5:5240/MAAS
    """
    if "authenticate-api" not in version(url=url).get("capabilities", []):
        return None
    login_url = _client.api_root(_resolve_url(url))[: -len(_client.API_PATH)]
    try:
        status = _client.post_form(
            login_url + "accounts/authenticate/", {"username": username, "password": password}
        )
    except _client.MaasConnectionError as err:
        raise _api_error(err) from None
    if status in (401, 403):
        return False
    if status != 200:
        raise CommandExecutionError(f"the MAAS login endpoint answered HTTP {status}")
    return True


def api_key(username="admin", reveal=False):
    """The first API key of a user (``maas apikey``), the secret part masked unless ``reveal``.

    username
        The MAAS user name. Defaults to ``admin``.
    reveal
        Return the value itself instead of a masked one. Defaults to ``False``.

    CLI Example:

    .. code-block:: bash

        salt 'region*' maas.api_key admin
    """
    res = _run([_cli(), "apikey", f"--username={username}"], f"reading the API key of {username}")
    keys = _parse.parse_apikey_output(res["stdout"])
    if not keys:
        raise CommandExecutionError(f"{username} has no API key: run `maas apikey --generate`")
    if reveal:
        return keys[0]
    consumer, token, _ = keys[0].split(":")
    return f"{consumer}:{token}:{_redact.MASK}"


def shared_secret_file():
    """Path of the shared secret file on this host (snap first, then deb).

    CLI Example:

    .. code-block:: bash

        salt 'region*' maas.shared_secret_file
    """
    configured = _opt("secret_file")
    if configured:
        return configured
    for path in SECRET_FILES:
        if os.path.exists(path):
            return path
    return SECRET_FILES[0]


def shared_secret(reveal=False):
    """The region's shared secret: a fingerprint (``sha256:...``), or the secret if ``reveal``.

    reveal
        Return the value itself instead of a masked one. Defaults to ``False``.

    CLI Example:

    .. code-block:: bash

        salt 'region*' maas.shared_secret
    """
    path = shared_secret_file()
    try:
        with open(path, encoding="ascii") as handle:
            value = handle.read().strip()
    except OSError as err:
        raise CommandExecutionError(
            f"cannot read the shared secret {path}: {err.strerror}; is the region initialised?"
        ) from None
    if not _parse.is_hex_secret(value):
        raise CommandExecutionError(f"{path} does not hold a hex secret")
    return value if reveal else _fingerprint(value)


def register_rack(url, secret, method="deb"):
    """Point this rack at a region and hand it the shared secret.

    ``method=deb`` (default): ``maas-rack install-shared-secret`` (secret on stdin) then
    ``maas-rack register --url``: the secret never reaches argv. ``method=snap``: ``maas
    init rack --maas-url --secret --force`` (the snap has no stdin form). Exit 0 proves
    nothing: use ``maas.wait_for_rack`` (or the ``maas.rack_registered`` state).

    url
        The region URL, e.g. ``http://10.0.0.5:5240/MAAS``. Defaults to the minion option
        ``maas.url``, else pillar ``maas:region:maas_url``.
    secret
        The region's shared secret (hex), from the region's secret file.
    method
        How the rack is installed: ``deb`` or ``snap``. Defaults to ``deb``.

    CLI Example:

    .. code-block:: bash

        salt 'rack*' maas.register_rack http://10.0.0.5:5240/MAAS <secret>
    """
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise SaltInvocationError("url: the region URL must be http(s)://...")
    if not _parse.is_hex_secret(secret):
        raise SaltInvocationError(
            "secret: the shared secret must be hex (as in /var/lib/maas/secret on the region)"
        )
    secret = secret.strip()
    if method == "snap":
        _run(
            [_cli(), "init", "rack", f"--maas-url={url}", f"--secret={secret}", "--force"],
            "maas init rack",
            hidden=(secret,),
        )
    elif method == "deb":
        _run(
            [_rack_cli(), "install-shared-secret"],
            "installing the shared secret",
            stdin=secret + "\n",
            hidden=(secret,),
        )
        _run([_rack_cli(), "register", f"--url={url}"], "maas-rack register", hidden=(secret,))
    else:
        raise SaltInvocationError("method: must be 'deb' or 'snap'")
    _drop_cache()
    return True


# --- handing the shared secret and the API key to the master ---------------------------------


def _handoff_document(username):
    """The bytes the region pushes to the master: its shared secret and the API key."""
    document = {"api_key": api_key_value(username), "shared_secret": shared_secret(reveal=True)}
    return (json.dumps(document, sort_keys=True) + "\n").encode()


def handoff_digest(username="admin"):
    """SHA-256 (hex) of what this region hands to the master: its shared secret and the
    API key of ``username``. The master's pillar gives the region the digest of the copy it
    holds, so the region pushes only when they differ. Neither value is returned.

    username
        The MAAS user name. Defaults to ``admin``.

    CLI Example:

    .. code-block:: bash

        salt 'region*' maas.handoff_digest
    """
    return hashlib.sha256(_handoff_document(username)).hexdigest()


def push_handoff(upload_path, username="admin"):
    """Push this region's shared secret and the API key of ``username`` to the master
    (``cp.push``, one way, over the minion's encrypted channel), where the master's pillar
    gives them to the rack controllers and the first MicroK8s control plane.

    The document is written 0600 into a private temporary directory, pushed and removed;
    the master keeps it in its cache, ``<cachedir>/minions/<this id>/files/<upload_path>``
    (see docs/maas.md). Needs ``file_recv: True`` in the master's configuration. Returns
    True; neither value is returned or logged.

    upload_path
        Relative path under the master's per-minion file cache, e.g.
        ``kubesalt/maas-handoff.json`` (what pillar ``kubesalt:maas:handoff:path`` says).

    username
        The MAAS user name. Defaults to ``admin``.

    CLI Example:

    .. code-block:: bash

        salt 'region*' maas.push_handoff kubesalt/maas-handoff.json
    """
    if (
        not isinstance(upload_path, str)
        or not upload_path.strip("/")
        or ".." in upload_path.split("/")
    ):
        raise SaltInvocationError(
            "upload_path: a relative path under the master's file cache, without '..'"
        )
    document = _handoff_document(username)
    workdir = tempfile.mkdtemp(prefix="kubesalt-maas-")  # 0700
    path = os.path.join(workdir, "handoff.json")
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(document)
        pushed = __salt__["cp.push"](
            path, upload_path="/" + upload_path.strip("/"), remove_source=True
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if not pushed:
        raise CommandExecutionError(
            "the master refused the pushed file: its configuration needs `file_recv: True` "
            "(the salt_master state and the Terraform user-data set it)"
        )
    return True


# --- API: version, settings ---------------------------------------------------------------------


def version(url=None):
    """The region's ``version/`` document (anonymous).

    url
        The region URL, e.g. ``http://10.0.0.5:5240/MAAS``. Defaults to the minion option
        ``maas.url``, else pillar ``maas:region:maas_url``.

    CLI Example:

    .. code-block:: bash

        salt '*' maas.version url=http://10.0.0.5:5240/MAAS
    """
    key = f"maas.version.{_resolve_url(url)}"
    if key not in __context__:
        __context__[key] = _call("GET", "version/", url=url, anonymous=True)
    return __context__[key]


def get_config(name, url=None, api_key=None):
    """One MAAS setting, JSON-decoded (``get_config``).

    name
        The setting, e.g. ``upstream_dns``.
    url
        The region URL, e.g. ``http://10.0.0.5:5240/MAAS``. Defaults to the minion option
        ``maas.url``, else pillar ``maas:region:maas_url``.
    api_key
        The API key (``consumer:token:secret``). Defaults to the minion option ``maas.api_key``,
        else pillar ``maas:api_key``, else (on a region host) the admin's key read with
        ``maas apikey``.

    CLI Example:

    .. code-block:: bash

        salt '*' maas.get_config upstream_dns
    """
    try:
        name = _config.validate_name(name)
    except ValueError as err:
        raise SaltInvocationError(str(err)) from None
    return _call("GET", "maas/", url, api_key, op="get_config", name=name, json_text=True)


def set_config(name, value, url=None, api_key=None):
    """Set one MAAS setting (``set_config``); the value is normalised first.

    Booleans are sent as ``true``/``false`` (MAAS reads any other string as true), lists
    space-separated, ``remote_syslog`` with its port.

    name
        The setting, e.g. ``upstream_dns``.
    value
        The value: lists as YAML lists or comma/space separated strings, booleans as
        booleans.
    url
        The region URL, e.g. ``http://10.0.0.5:5240/MAAS``. Defaults to the minion option
        ``maas.url``, else pillar ``maas:region:maas_url``.
    api_key
        The API key (``consumer:token:secret``). Defaults to the minion option ``maas.api_key``,
        else pillar ``maas:api_key``, else (on a region host) the admin's key read with
        ``maas apikey``.

    CLI Example:

    .. code-block:: bash

        salt '*' maas.set_config upstream_dns '[8.8.8.8, 1.1.1.1]'
    """
    try:
        name = _config.validate_name(name)
        wire = _config.to_wire(name, value)
    except ValueError as err:
        raise SaltInvocationError(str(err)) from None
    _call("POST", "maas/", url, api_key, op="set_config", name=name, value=wire)
    _drop_cache()
    return True


# --- API: boot sources, selections, resources --------------------------------------------


def boot_sources(url=None, api_key=None):
    """List the boot sources.

    url
        The region URL, e.g. ``http://10.0.0.5:5240/MAAS``. Defaults to the minion option
        ``maas.url``, else pillar ``maas:region:maas_url``.
    api_key
        The API key (``consumer:token:secret``). Defaults to the minion option ``maas.api_key``,
        else pillar ``maas:api_key``, else (on a region host) the admin's key read with
        ``maas apikey``.

    CLI Example:

    .. code-block:: bash

        salt '*' maas.boot_sources
    """
    return _call("GET", "boot-sources/", url, api_key)


def update_boot_source(
    boot_source_id=1, source_url=None, keyring_filename=None, url=None, api_key=None
):
    """Change a boot source's URL and/or keyring file (source 1 is the default one).

    boot_source_id
        The boot source's id (1 is MAAS's default source). Defaults to ``1``.
    source_url
        The new URL of the boot source's simplestreams mirror. Defaults to none.
    keyring_filename
        The keyring file on the region that signs the mirror. Defaults to none.
    url
        The region URL, e.g. ``http://10.0.0.5:5240/MAAS``. Defaults to the minion option
        ``maas.url``, else pillar ``maas:region:maas_url``.
    api_key
        The API key (``consumer:token:secret``). Defaults to the minion option ``maas.api_key``,
        else pillar ``maas:api_key``, else (on a region host) the admin's key read with
        ``maas apikey``.

    CLI Example:

    .. code-block:: bash

        salt '*' maas.update_boot_source 1 source_url=http://mirror/maas/images/ephemeral-v3/stable/
    """
    params = {}
    if source_url:
        params["url"] = source_url
    if keyring_filename:
        params["keyring_filename"] = keyring_filename
    if not params:
        raise SaltInvocationError("give source_url and/or keyring_filename")
    result = _call("PUT", f"boot-sources/{int(boot_source_id)}/", url, api_key, params=params)
    _drop_cache()
    return result


def boot_source_selections(boot_source_id=1, url=None, api_key=None):
    """The selections of a boot source.

    boot_source_id
        The boot source's id (1 is MAAS's default source). Defaults to ``1``.
    url
        The region URL, e.g. ``http://10.0.0.5:5240/MAAS``. Defaults to the minion option
        ``maas.url``, else pillar ``maas:region:maas_url``.
    api_key
        The API key (``consumer:token:secret``). Defaults to the minion option ``maas.api_key``,
        else pillar ``maas:api_key``, else (on a region host) the admin's key read with
        ``maas apikey``.

    CLI Example:

    .. code-block:: bash

        salt '*' maas.boot_source_selections 1
    """
    return _call("GET", f"boot-sources/{int(boot_source_id)}/selections/", url, api_key)


def create_boot_source_selection(  # noqa: PLR0917
    release,
    os="ubuntu",
    arches=None,
    subarches=None,
    labels=None,
    boot_source_id=1,
    url=None,
    api_key=None,
):
    """Create a selection (what to download). Lists default to ``amd64`` / ``*`` / ``*``.

    release
        The release to download, e.g. ``noble``.
    os
        The operating system. Defaults to ``ubuntu``.
    arches
        Architectures (list or comma string), e.g. ``[amd64]``. Defaults to none.
    subarches
        Sub-architectures (list or comma string); ``*`` for all. Defaults to none.
    labels
        Image labels (list or comma string); ``*`` for all. Defaults to none.
    boot_source_id
        The boot source's id (1 is MAAS's default source). Defaults to ``1``.
    url
        The region URL, e.g. ``http://10.0.0.5:5240/MAAS``. Defaults to the minion option
        ``maas.url``, else pillar ``maas:region:maas_url``.
    api_key
        The API key (``consumer:token:secret``). Defaults to the minion option ``maas.api_key``,
        else pillar ``maas:api_key``, else (on a region host) the admin's key read with
        ``maas apikey``.

    CLI Example:

    .. code-block:: bash

        salt '*' maas.create_boot_source_selection jammy arches='[amd64, arm64]'
    """
    params = _selection_params(release, os, arches, subarches, labels)
    result = _call(
        "POST", f"boot-sources/{int(boot_source_id)}/selections/", url, api_key, **params
    )
    _drop_cache()
    return result


def update_boot_source_selection(  # noqa: PLR0917
    selection_id,
    release,
    os="ubuntu",
    arches=None,
    subarches=None,
    labels=None,
    boot_source_id=1,
    url=None,
    api_key=None,
):
    """Update a selection (MAAS allows one per os/release, so arches change in place).

    selection_id
        The selection's id (see ``maas.boot_source_selections``).
    release
        The release to download, e.g. ``noble``.
    os
        The operating system. Defaults to ``ubuntu``.
    arches
        Architectures (list or comma string), e.g. ``[amd64]``. Defaults to none.
    subarches
        Sub-architectures (list or comma string); ``*`` for all. Defaults to none.
    labels
        Image labels (list or comma string); ``*`` for all. Defaults to none.
    boot_source_id
        The boot source's id (1 is MAAS's default source). Defaults to ``1``.
    url
        The region URL, e.g. ``http://10.0.0.5:5240/MAAS``. Defaults to the minion option
        ``maas.url``, else pillar ``maas:region:maas_url``.
    api_key
        The API key (``consumer:token:secret``). Defaults to the minion option ``maas.api_key``,
        else pillar ``maas:api_key``, else (on a region host) the admin's key read with
        ``maas apikey``.

    CLI Example:

    .. code-block:: bash

        salt '*' maas.update_boot_source_selection 1 noble arches='[amd64, arm64]'
    """
    params = _selection_params(release, os, arches, subarches, labels)
    result = _call(
        "PUT",
        f"boot-sources/{int(boot_source_id)}/selections/{int(selection_id)}/",
        url,
        api_key,
        **params,
    )
    _drop_cache()
    return result


def _selection_params(release, os_name, arches, subarches, labels):
    if not release or not isinstance(release, str):
        raise SaltInvocationError("release: required, e.g. 'noble'")
    if not os_name or not isinstance(os_name, str):
        raise SaltInvocationError("os: required, e.g. 'ubuntu'")
    return {
        "os": os_name,
        "release": release,
        "arches": _check_list("arches", arches) or ["amd64"],
        "subarches": _check_list("subarches", subarches) or ["*"],
        "labels": _check_list("labels", labels) or ["*"],
    }


def import_boot_resources(url=None, api_key=None):
    """Start an import of the selected images (asynchronous; a no-op while one runs).

    url
        The region URL, e.g. ``http://10.0.0.5:5240/MAAS``. Defaults to the minion option
        ``maas.url``, else pillar ``maas:region:maas_url``.
    api_key
        The API key (``consumer:token:secret``). Defaults to the minion option ``maas.api_key``,
        else pillar ``maas:api_key``, else (on a region host) the admin's key read with
        ``maas apikey``.

    CLI Example:

    .. code-block:: bash

        salt '*' maas.import_boot_resources
    """
    result = _call("POST", "boot-resources/", url, api_key, op="import")
    _drop_cache()
    return result


def stop_import(url=None, api_key=None):
    """Stop a running import.

    url
        The region URL, e.g. ``http://10.0.0.5:5240/MAAS``. Defaults to the minion option
        ``maas.url``, else pillar ``maas:region:maas_url``.
    api_key
        The API key (``consumer:token:secret``). Defaults to the minion option ``maas.api_key``,
        else pillar ``maas:api_key``, else (on a region host) the admin's key read with
        ``maas apikey``.

    CLI Example:

    .. code-block:: bash

        salt '*' maas.stop_import
    """
    return _call("POST", "boot-resources/", url, api_key, op="stop_import")


def is_importing(url=None, api_key=None):
    """Whether the region is importing images (it may still say false right after import).

    url
        The region URL, e.g. ``http://10.0.0.5:5240/MAAS``. Defaults to the minion option
        ``maas.url``, else pillar ``maas:region:maas_url``.
    api_key
        The API key (``consumer:token:secret``). Defaults to the minion option ``maas.api_key``,
        else pillar ``maas:api_key``, else (on a region host) the admin's key read with
        ``maas apikey``.

    CLI Example:

    .. code-block:: bash

        salt '*' maas.is_importing
    """
    value = _call("GET", "boot-resources/", url, api_key, op="is_importing", json_text=True)
    if not isinstance(value, bool):
        raise CommandExecutionError(f"MAAS API: is_importing answered {value!r}, not true/false")
    return value


def boot_resources(rtype="all", with_sets=False, url=None, api_key=None):
    """List boot resources (``rtype``: all, synced, uploaded); ``with_sets`` reads each one.

    rtype
        Which resources: ``all``, ``synced`` or ``uploaded``. Defaults to ``all``.
    with_sets
        Read each resource for its sets (one more request each). Defaults to ``False``.
    url
        The region URL, e.g. ``http://10.0.0.5:5240/MAAS``. Defaults to the minion option
        ``maas.url``, else pillar ``maas:region:maas_url``.
    api_key
        The API key (``consumer:token:secret``). Defaults to the minion option ``maas.api_key``,
        else pillar ``maas:api_key``, else (on a region host) the admin's key read with
        ``maas apikey``.

    CLI Example:

    .. code-block:: bash

        salt '*' maas.boot_resources synced
    """
    if rtype not in ("all", "synced", "uploaded", "generated"):
        raise SaltInvocationError("rtype: one of all, synced, uploaded")
    items = _call("GET", "boot-resources/", url, api_key, type=rtype)
    if with_sets:
        items = [_call("GET", f"boot-resources/{int(r['id'])}/", url, api_key) for r in items]
    return items


def images_status(images, url=None, api_key=None):
    """Which wanted images are complete: ``{"complete": [...], "incomplete": {name: why}}``.

    ``images``: a list of ``{os, release, arches}``.

    images
        The wanted images: a list of ``{os, release, arches}``.
    url
        The region URL, e.g. ``http://10.0.0.5:5240/MAAS``. Defaults to the minion option
        ``maas.url``, else pillar ``maas:region:maas_url``.
    api_key
        The API key (``consumer:token:secret``). Defaults to the minion option ``maas.api_key``,
        else pillar ``maas:api_key``, else (on a region host) the admin's key read with
        ``maas apikey``.

    CLI Example:

    .. code-block:: bash

        salt '*' maas.images_status '[{os: ubuntu, release: noble, arches: [amd64]}]'
    """
    wanted = _check_images(images)
    names = {_parse.image_key(i["os"], i["release"]) for i in wanted}
    listing = _call("GET", "boot-resources/", url, api_key, type="synced")
    detailed = [
        _call("GET", f"boot-resources/{int(r['id'])}/", url, api_key)
        for r in listing
        if r.get("name") in names
    ]
    return _parse.images_status(wanted, detailed)


def _check_images(images):
    try:
        return _parse.wanted_images(images)
    except ValueError as err:
        raise SaltInvocationError(str(err)) from None


# --- API: controllers ---------------------------------------------------------------------------


def rack_controllers(url=None, api_key=None):
    """List rack controllers (region+rack ones included).

    url
        The region URL, e.g. ``http://10.0.0.5:5240/MAAS``. Defaults to the minion option
        ``maas.url``, else pillar ``maas:region:maas_url``.
    api_key
        The API key (``consumer:token:secret``). Defaults to the minion option ``maas.api_key``,
        else pillar ``maas:api_key``, else (on a region host) the admin's key read with
        ``maas apikey``.

    CLI Example:

    .. code-block:: bash

        salt '*' maas.rack_controllers
    """
    return _call("GET", "rackcontrollers/", url, api_key)


def rack_controller(hostname, url=None, api_key=None):
    """One rack controller by hostname, or None.

    hostname
        The rack controller's hostname.
    url
        The region URL, e.g. ``http://10.0.0.5:5240/MAAS``. Defaults to the minion option
        ``maas.url``, else pillar ``maas:region:maas_url``.
    api_key
        The API key (``consumer:token:secret``). Defaults to the minion option ``maas.api_key``,
        else pillar ``maas:api_key``, else (on a region host) the admin's key read with
        ``maas apikey``.

    CLI Example:

    .. code-block:: bash

        salt '*' maas.rack_controller rack1
    """
    return _parse.find_controller(rack_controllers(url, api_key), hostname)


def rack_boot_images(system_id, url=None, api_key=None):
    """A rack's ``list_boot_images``: ``{images, connected, status}``.

    system_id
        A rack controller's system_id; None: every rack.
    url
        The region URL, e.g. ``http://10.0.0.5:5240/MAAS``. Defaults to the minion option
        ``maas.url``, else pillar ``maas:region:maas_url``.
    api_key
        The API key (``consumer:token:secret``). Defaults to the minion option ``maas.api_key``,
        else pillar ``maas:api_key``, else (on a region host) the admin's key read with
        ``maas apikey``.

    CLI Example:

    .. code-block:: bash

        salt '*' maas.rack_boot_images 4y3h7n
    """
    return _call("GET", f"rackcontrollers/{system_id}/", url, api_key, op="list_boot_images")


def rack_import_boot_images(system_id=None, url=None, api_key=None):
    """Ask one rack (or all) to sync images from the region (a no-op stub on MAAS 3.5+).

    system_id
        A rack controller's system_id; None: every rack.
    url
        The region URL, e.g. ``http://10.0.0.5:5240/MAAS``. Defaults to the minion option
        ``maas.url``, else pillar ``maas:region:maas_url``.
    api_key
        The API key (``consumer:token:secret``). Defaults to the minion option ``maas.api_key``,
        else pillar ``maas:api_key``, else (on a region host) the admin's key read with
        ``maas apikey``.

    CLI Example:

    .. code-block:: bash

        salt '*' maas.rack_import_boot_images 4y3h7n
    """
    path = f"rackcontrollers/{system_id}/" if system_id else "rackcontrollers/"
    return _call("POST", path, url, api_key, op="import_boot_images")


def wait_for_rack(hostname, timeout=60, url=None, api_key=None):
    """Poll the region until the rack ``hostname`` is listed with ``rackd`` running.

    Returns the controller; raises CommandExecutionError at the timeout, saying whether the
    region is reachable (if so, the shared secret is the likely culprit).

    hostname
        The rack controller's hostname.
    timeout
        Seconds to wait at most. Defaults to ``60``.
    url
        The region URL, e.g. ``http://10.0.0.5:5240/MAAS``. Defaults to the minion option
        ``maas.url``, else pillar ``maas:region:maas_url``.
    api_key
        The API key (``consumer:token:secret``). Defaults to the minion option ``maas.api_key``,
        else pillar ``maas:api_key``, else (on a region host) the admin's key read with
        ``maas apikey``.

    CLI Example:

    .. code-block:: bash

        salt 'rack*' maas.wait_for_rack rack1 timeout=120
    """
    deadline = time.monotonic() + float(timeout)
    delay = 0.25
    while True:
        found = rack_controller(hostname, url, api_key)
        if found and _parse.rack_is_alive(found):
            return found
        if time.monotonic() + delay > deadline:
            break
        time.sleep(delay)
        delay = min(delay * 1.5, 5.0)
    state = "listed but rackd is not running" if found else "not listed by the region"
    raise CommandExecutionError(
        f"rack {hostname} is {state} after {float(timeout):.0f} s: the region at "
        f"{_resolve_url(url)} answers its API, so it most likely rejected the rack's shared "
        "secret (wrong secret: compare with the region's secret file) or the rack cannot "
        "reach that URL itself (see the rack's rackd log)"
    )


# --- API: machines -----------------------------------------------------------------------------


def machines(hostname=None, url=None, api_key=None):
    """List machines (MAAS's machine objects), all or those with the given hostname(s).

    hostname
        Only the machine with this hostname. Defaults to every machine.
    url
        The region URL, e.g. ``http://10.0.0.5:5240/MAAS``. Defaults to the minion option
        ``maas.url``, else pillar ``maas:region:maas_url``.
    api_key
        The API key (``consumer:token:secret``). Defaults to the minion option ``maas.api_key``,
        else pillar ``maas:api_key``, else (on a region host) the admin's key read with
        ``maas apikey``.

    CLI Example:

    .. code-block:: bash

        salt '*' maas.machines
        salt '*' maas.machines hostname=worker-a
    """
    params = {}
    if hostname:
        params["hostname"] = _check_list("hostname", hostname)
    cache_key = f"{CONTEXT_PREFIX}machines"
    if not params and cache_key in __context__:
        return __context__[cache_key]
    listing = _call("GET", "machines/", url, api_key, params=params)
    if not params:
        __context__[cache_key] = listing
    return listing


def machine(name, url=None, api_key=None):
    """One machine by system_id, hostname or FQDN, or None.

    name
        The machine's hostname or system_id.
    url
        The region URL, e.g. ``http://10.0.0.5:5240/MAAS``. Defaults to the minion option
        ``maas.url``, else pillar ``maas:region:maas_url``.
    api_key
        The API key (``consumer:token:secret``). Defaults to the minion option ``maas.api_key``,
        else pillar ``maas:api_key``, else (on a region host) the admin's key read with
        ``maas apikey``.

    CLI Example:

    .. code-block:: bash

        salt '*' maas.machine worker-a
    """
    if not name or not isinstance(name, str):
        raise SaltInvocationError("name: a machine's system_id, hostname or FQDN is needed")
    return _machines.find(machines(url=url, api_key=api_key), name)


def _machine_or_fail(name, url, api_key):
    found = machine(name, url, api_key)
    if found is None:
        raise CommandExecutionError(
            f"MAAS has no machine {name!r} (by system_id, hostname or FQDN): enlist it first "
            "(`maas PROFILE machines create`, or let it PXE-boot)"
        )
    return found


def machine_status(name, url=None, api_key=None):
    """A machine's status summary: system_id, hostname, status and its name, message,
    owner, OS and series, architecture, power type, tags, pool, addresses.

    name
        The machine's hostname or system_id.
    url
        The region URL, e.g. ``http://10.0.0.5:5240/MAAS``. Defaults to the minion option
        ``maas.url``, else pillar ``maas:region:maas_url``.
    api_key
        The API key (``consumer:token:secret``). Defaults to the minion option ``maas.api_key``,
        else pillar ``maas:api_key``, else (on a region host) the admin's key read with
        ``maas apikey``.

    CLI Example:

    .. code-block:: bash

        salt '*' maas.machine_status worker-a
    """
    __context__.pop(f"{CONTEXT_PREFIX}machines", None)  # a status is always read fresh
    return _machines.summary(_machine_or_fail(name, url, api_key))


def allocate_machine(  # noqa: PLR0917
    hostname=None,
    tags=None,
    pool=None,
    zone=None,
    system_id=None,
    agent_name=None,
    comment=None,
    url=None,
    api_key=None,
):
    """Allocate a Ready machine to the API key's user, by hostname, tags, pool or zone.

    Returns the machine's summary. When nothing matches MAAS answers 409 and this raises
    with MAAS's text (``No available machine matches constraints: ...``).

    hostname
        Allocate the machine with this hostname. Defaults to none.
    tags
        Tags the machine must have (list or comma string). Defaults to none.
    pool
        The resource pool the machine must be in. Defaults to none.
    zone
        The availability zone the machine must be in. Defaults to none.
    system_id
        A rack controller's system_id; None: every rack.
    agent_name
        An agent name recorded with the allocation. Defaults to none.
    comment
        A comment recorded in the machine's event log. Defaults to none.
    url
        The region URL, e.g. ``http://10.0.0.5:5240/MAAS``. Defaults to the minion option
        ``maas.url``, else pillar ``maas:region:maas_url``.
    api_key
        The API key (``consumer:token:secret``). Defaults to the minion option ``maas.api_key``,
        else pillar ``maas:api_key``, else (on a region host) the admin's key read with
        ``maas apikey``.

    CLI Example:

    .. code-block:: bash

        salt '*' maas.allocate_machine tags=k8s-worker pool=lab
        salt '*' maas.allocate_machine hostname=worker-a
    """
    params = {
        "name": hostname,
        "system_id": system_id,
        "tags": _check_machine_list("tags", tags),
        "pool": pool,
        "zone": zone,
        "agent_name": agent_name,
        "comment": comment,
    }
    params = {k: v for k, v in params.items() if v not in (None, "", [])}
    result = _call("POST", "machines/", url, api_key, op="allocate", params=params)
    _drop_cache()
    return _machines.summary(result)


def _check_machine_list(name, value):
    try:
        return _machines.as_list(name, value)
    except ValueError as err:
        raise SaltInvocationError(str(err)) from None


def deploy_machine(name, distro_series=None, user_data=None, url=None, api_key=None):
    """Deploy a machine (MAAS allocates it first when it is Ready).

    name
        system_id, hostname or FQDN.
    distro_series
        ``jammy`` or ``ubuntu/jammy``; default: MAAS's ``default_distro_series``.
    user_data
        The user-data text (cloud-config or script): sent base64-encoded as MAAS takes it,
        never logged or returned (it may carry keys).

    Returns the machine's summary (status Deploying); see ``maas.wait_for_machine``.

    url
        The region URL, e.g. ``http://10.0.0.5:5240/MAAS``. Defaults to the minion option
        ``maas.url``, else pillar ``maas:region:maas_url``.
    api_key
        The API key (``consumer:token:secret``). Defaults to the minion option ``maas.api_key``,
        else pillar ``maas:api_key``, else (on a region host) the admin's key read with
        ``maas apikey``.

    CLI Example:

    .. code-block:: bash

        salt '*' maas.deploy_machine worker-a distro_series=jammy
    """
    found = _machine_or_fail(name, url, api_key)
    params = {}
    if distro_series:
        params["distro_series"] = distro_series
    if user_data is not None:
        try:
            params["user_data"] = _machines.encode_user_data(user_data)
        except ValueError as err:
            raise SaltInvocationError(str(err)) from None
    result = _call(
        "POST", f"machines/{found['system_id']}/", url, api_key, op="deploy", params=params
    )
    _drop_cache()
    log.info("maas: deploying %s (%s)", found["hostname"], found["system_id"])
    return _machines.summary(result)


def release_machine(name, comment=None, url=None, api_key=None):
    """Release a machine (MAAS powers it off and makes it Ready again; a Ready one is left).

    name
        The machine's hostname or system_id.
    comment
        A comment recorded in the machine's event log. Defaults to none.
    url
        The region URL, e.g. ``http://10.0.0.5:5240/MAAS``. Defaults to the minion option
        ``maas.url``, else pillar ``maas:region:maas_url``.
    api_key
        The API key (``consumer:token:secret``). Defaults to the minion option ``maas.api_key``,
        else pillar ``maas:api_key``, else (on a region host) the admin's key read with
        ``maas apikey``.

    CLI Example:

    .. code-block:: bash

        salt '*' maas.release_machine worker-a comment='scaled down'
    """
    found = _machine_or_fail(name, url, api_key)
    params = {"comment": comment} if comment else {}
    result = _call(
        "POST", f"machines/{found['system_id']}/", url, api_key, op="release", params=params
    )
    _drop_cache()
    return _machines.summary(result)


def wait_for_machine(  # noqa: PLR0917
    name, statuses="Deployed", timeout=1800, poll=2.0, poll_max=15.0, url=None, api_key=None
):
    """Poll a machine until its status name is one of ``statuses`` (list or comma string).

    Polls back off from ``poll`` to ``poll_max`` seconds (a deployment takes minutes: a
    tight loop only loads the region). A failed status (``Failed deployment``, ...) that is
    not wanted ends the wait at once with MAAS's status message; so does the timeout.

    name
        The machine's hostname or system_id.
    statuses
        Wanted status names (list or comma string), e.g. ``Deployed``. Defaults to ``Deployed``.
    timeout
        Seconds to wait at most. Defaults to ``1800``.
    poll
        Seconds between the first polls. Defaults to ``2.0``.
    poll_max
        Longest pause between two polls (the pauses grow up to it). Defaults to ``15.0``.
    url
        The region URL, e.g. ``http://10.0.0.5:5240/MAAS``. Defaults to the minion option
        ``maas.url``, else pillar ``maas:region:maas_url``.
    api_key
        The API key (``consumer:token:secret``). Defaults to the minion option ``maas.api_key``,
        else pillar ``maas:api_key``, else (on a region host) the admin's key read with
        ``maas apikey``.

    CLI Example:

    .. code-block:: bash

        salt '*' maas.wait_for_machine worker-a statuses=Deployed timeout=1200
    """
    wanted = set(_check_machine_list("statuses", statuses))
    unknown = wanted - set(_machines.STATUS_NAMES.values())
    if not wanted or unknown:
        raise SaltInvocationError(
            f"statuses: MAAS status names are needed (unknown: {sorted(unknown)}); e.g. "
            "Deployed, Ready, Allocated"
        )
    deadline = time.monotonic() + float(timeout)
    delay = float(poll)
    while True:
        current = machine_status(name, url, api_key)
        if current["status_name"] in wanted:
            return current
        if current["status"] in _machines.FAILED:
            raise CommandExecutionError(
                f"machine {current['hostname']} is {current['status_name']}: "
                f"{current.get('status_message') or 'see its events in MAAS'}"
            )
        if time.monotonic() + delay > deadline:
            raise CommandExecutionError(
                f"machine {current['hostname']} is still {current['status_name']} after "
                f"{float(timeout):.0f} s (wanted {', '.join(sorted(wanted))})"
            )
        time.sleep(delay)
        delay = min(delay * 1.5, float(poll_max))


# --- the API key as a Kubernetes secret ---------------------------------------------------------


def _kubectl_argv(kubectl):
    if isinstance(kubectl, str):
        kubectl = kubectl.split()
    if not kubectl:
        raise SaltInvocationError("kubectl: e.g. 'microk8s kubectl'")
    argv = list(kubectl)
    # Snaps live in /snap/bin, which a daemon's PATH may lack (Debian init scripts set
    # their own PATH); the microk8s module looks there too.
    if "/" not in argv[0] and not salt.utils.path.which(argv[0]):
        snap_command = os.path.join(SNAP_BIN, argv[0])
        if os.access(snap_command, os.X_OK):
            argv[0] = snap_command
    return argv


def _key_for_export(username, api_key):
    api_key = api_key or _opt("api_key") or _pillar_maas().get("api_key")
    if api_key:
        try:
            _client.split_api_key(api_key)
        except ValueError as err:
            raise SaltInvocationError(str(err)) from None
        return api_key
    return api_key_value(username)


def api_key_value(username="admin"):
    """Internal: the full API key of ``username`` (from ``maas apikey``), never logged.

    Prefer ``maas.api_key`` (masked) on the command line.

    username
        The MAAS user name. Defaults to ``admin``.

    CLI Example:

    .. code-block:: bash

        salt 'region*' maas.api_key_value admin
    """
    return api_key(username, reveal=True)


def api_key_secret_status(  # noqa: PLR0917
    name="maas-api-key",
    namespace="maas",
    username="admin",
    data_key="token",
    kubectl="microk8s kubectl",
    api_key=None,
):
    """Whether the Kubernetes secret holds the current API key: ``missing``, ``different``
    or ``current``. Compares digests; the key is never returned.

    name
        The Kubernetes secret's name. Defaults to ``maas-api-key``.
    namespace
        The Kubernetes namespace (created when missing). Defaults to ``maas``.
    username
        The MAAS user name. Defaults to ``admin``.
    data_key
        The key of the secret's data that holds the API key. Defaults to ``token``.
    kubectl
        The kubectl command, split on spaces. Defaults to ``microk8s kubectl``.
    api_key
        The API key (``consumer:token:secret``). Defaults to the minion option ``maas.api_key``,
        else pillar ``maas:api_key``, else (on a region host) the admin's key read with
        ``maas apikey``.

    CLI Example:

    .. code-block:: bash

        salt 'cp*' maas.api_key_secret_status maas-api-key maas
    """
    key = _key_for_export(username, api_key)
    res = _run(
        [*_kubectl_argv(kubectl), "get", "secret", name, "-n", namespace, "-o", "json"],
        f"reading the secret {namespace}/{name}",
        ok_codes=(0, 1),
        hidden=(key,),
    )
    if res["retcode"] != 0:
        if "NotFound" in res.get("stderr", "") or "not found" in res.get("stderr", ""):
            return "missing"
        raise CommandExecutionError(
            f"reading the secret {namespace}/{name} failed: {res.get('stderr', '').strip()}"
        )
    try:
        data = json.loads(res["stdout"]).get("data") or {}
        current = base64.b64decode(data.get(data_key, "")).decode()
    except (ValueError, TypeError):
        return "different"
    return "current" if secrets.compare_digest(current, key) else "different"


def export_api_key(  # noqa: PLR0917
    name="maas-api-key",
    namespace="maas",
    username="admin",
    data_key="token",
    kubectl="microk8s kubectl",
    api_key=None,
):
    """Write the API key into a Kubernetes secret (``kubectl apply -f -``, manifest on stdin).

    The namespace is created if missing. Returns True; the key is never returned or logged.

    name
        The Kubernetes secret's name. Defaults to ``maas-api-key``.
    namespace
        The Kubernetes namespace (created when missing). Defaults to ``maas``.
    username
        The MAAS user name. Defaults to ``admin``.
    data_key
        The key of the secret's data that holds the API key. Defaults to ``token``.
    kubectl
        The kubectl command, split on spaces. Defaults to ``microk8s kubectl``.
    api_key
        The API key (``consumer:token:secret``). Defaults to the minion option ``maas.api_key``,
        else pillar ``maas:api_key``, else (on a region host) the admin's key read with
        ``maas apikey``.

    CLI Example:

    .. code-block:: bash

        salt 'cp*' maas.export_api_key maas-api-key maas username=admin
    """
    key = _key_for_export(username, api_key)
    argv = _kubectl_argv(kubectl)
    res = _run([*argv, "get", "namespace", namespace], "reading the namespace", ok_codes=(0, 1))
    if res["retcode"] != 0:
        _run([*argv, "create", "namespace", namespace], f"creating the namespace {namespace}")
    manifest = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "kubesalt"},
        },
        "data": {data_key: base64.b64encode(key.encode()).decode()},
    }
    _run(
        [*argv, "apply", "-f", "-"],
        f"writing the secret {namespace}/{name}",
        stdin=json.dumps(manifest),
        hidden=(key, manifest["data"][data_key]),
    )
    return True
