"""The simulated ``maas`` (snap) and ``maas-rack`` commands of one host.

The generated launchers call ``main(entry, root, argv)``. Behaviour follows the snap: ``maas
init region|rack|region+rack``, ``createadmin``, ``apikey``, ``changepasswords``,
``config``, ``status``, and the API client (``login``, ``logout``, ``list``, ``<profile>
<handler> <action>``); and ``maas-rack register|install-shared-secret|config``. Like the
real commands, a missing value is prompted for and the prompt loops while stdin is at EOF:
automation must pass every flag.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sqlite3
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import yaml

from kubesalt.sim.maas.host import Host
from kubesalt.sim.maas.host import write_file
from kubesalt.sim.maas.store import Store

PROMPT_LIMIT = float(os.environ.get("KUBESALT_SIM_PROMPT_LIMIT", "3600"))


class CommandError(Exception):
    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def prompt(text: str) -> str:
    """Ask on stdout, read a line; at EOF keep asking (as the real prompt readers do)."""
    deadline = time.monotonic() + PROMPT_LIMIT
    while time.monotonic() < deadline:
        sys.stdout.write(text)
        sys.stdout.flush()
        line = sys.stdin.readline()
        if line:
            return line.rstrip("\n")
        time.sleep(0.1)
    raise CommandError("gave up waiting for an answer on stdin", 1)


def main(entry: str, root: str, argv: list[str]) -> int:
    host = Host(root)
    try:
        if entry == "maas-rack":
            return rack_main(host, argv)
        return maas_main(host, argv)
    except CommandError as err:
        print(str(err), file=sys.stderr)
        return err.code


# -- maas ---------------------------------------------------------------------------------------
def maas_main(host: Host, argv: list[str]) -> int:
    commands = {
        "init": cmd_init,
        "createadmin": cmd_createadmin,
        "apikey": cmd_apikey,
        "changepasswords": cmd_changepasswords,
        "config": cmd_config,
        "status": cmd_status,
        "migrate": cmd_migrate,
        "login": cmd_login,
        "logout": cmd_logout,
        "list": cmd_list,
    }
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: maas [-h] COMMAND ...\n\ncommands: " + ", ".join(commands) + ", <profile>")
        return 0 if argv else 2
    if argv[0] in commands:
        if argv[0] in ("init", "createadmin", "apikey", "changepasswords", "config", "migrate"):
            if os.geteuid() != 0:
                raise CommandError(f"You can only '{argv[0]}' as root.")
        if argv[0] in (
            "createadmin",
            "apikey",
            "changepasswords",
            "migrate",
        ) and host.snap_mode() not in ("region", "region+rack"):
            print(
                "usage: maas [-h] COMMAND ...\n"
                f"maas: error: argument COMMAND: invalid choice: '{argv[0]}'",
                file=sys.stderr,
            )
            return 2
        return commands[argv[0]](host, argv[1:])
    return cmd_profile(host, argv)


def _region_store(host: Host) -> Store:
    conf = yaml.safe_load(host.regiond_conf.read_text())
    try:
        return Store.from_conf(conf)
    except Exception as err:  # pylint: disable=broad-except
        raise CommandError(
            f"CommandError: cannot connect to the database: {type(err).__name__}"
        ) from None


def parse_database_uri(uri: str) -> dict:
    if uri == "maas-test-db:///":
        raise CommandError("maas-test-db is not available in the simulator")
    if not uri.startswith("postgres://"):
        raise CommandError(
            "Database URI needs to be either 'maas-test-db:///' or start with 'postgres://'"
        )
    parts = urllib.parse.urlsplit(uri)
    extra = set(urllib.parse.parse_qs(parts.query)) - {"user", "password", "host", "dbname", "port"}
    if extra:
        raise CommandError(
            f"Error parsing database URI: Unsupported parameters: {', '.join(sorted(extra))}"
        )
    if not parts.username:
        raise CommandError(f"No user found in URI: {parts.hostname}")
    user = urllib.parse.unquote(parts.username)
    return {
        "database_host": parts.hostname or "localhost",
        "database_port": parts.port or 5432,
        "database_name": parts.path.lstrip("/") or user,
        "database_user": user,
        "database_pass": urllib.parse.unquote(parts.password or ""),
    }


def _wait_for_region(host: Host, maas_url: str, timeout: float = 15.0) -> None:
    url = maas_url.rstrip("/") + "/api/2.0/version/"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 (http URL)
                if host.daemon_pid("regiond"):
                    return
        except OSError:
            if not host.daemon_pid("regiond"):
                log = host.logfile("regiond")
                tail = log.read_text().strip().splitlines()[-1:] if log.exists() else []
                raise CommandError("the region failed to start: " + " ".join(tail)) from None
            time.sleep(0.1)
    raise CommandError(f"the region did not answer on {url} within {timeout:.0f} s")


def cmd_init(host: Host, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="maas init")
    sub = parser.add_subparsers(dest="mode", required=True)
    for mode in ("region+rack", "region", "rack"):
        p = sub.add_parser(mode)
        p.add_argument("--maas-url")
        p.add_argument("--force", action="store_true")
        if mode == "rack":
            p.add_argument("--secret")
            continue
        p.add_argument("--database-uri")
        for flag in (
            "--vault-uri",
            "--vault-approle-id",
            "--vault-wrapped-token",
            "--vault-secrets-path",
            "--vault-secrets-mount",
            "--num-workers",
            "--admin-username",
            "--admin-password",
            "--admin-email",
            "--admin-ssh-import",
        ):
            p.add_argument(flag)
        for flag in (
            "--enable-debug",
            "--disable-debug",
            "--enable-debug-queries",
            "--disable-debug-queries",
            "--skip-admin",
        ):
            p.add_argument(flag, action="store_true")
    args = parser.parse_args(argv)
    settings = host.settings()
    if host.snap_mode() != "none" and not args.force:
        print("Controller has already been initialized.")
        answer = prompt("Are you sure you want to initialize again (yes/no) [default=no]? ")
        if answer.strip().lower() not in ("y", "yes"):
            return 0
    maas_url = (
        args.maas_url
        or prompt(f"MAAS URL [default=http://{settings['address']}:5240/MAAS]: ").strip()
        or f"http://{settings['address']}:5240/MAAS"
    )
    host.stop_all()
    certs = host.snap_data / "certificates"
    certs.mkdir(parents=True, exist_ok=True)
    for item in certs.iterdir():
        item.unlink()
    if args.mode == "rack":
        secret = args.secret or prompt("Secret: ").strip()
        write_file(host.rackd_conf, yaml.safe_dump({"maas_url": [maas_url]}), 0o644)
        write_file(host.secret_file, secret, 0o600)
        write_file(host.snap_mode_file, "rack", 0o644)
        host.start_daemon("rackd")
        return 0
    if not args.database_uri:
        args.database_uri = prompt("Database URI: ").strip()
    conf = {"maas_url": maas_url, **parse_database_uri(args.database_uri)}
    store = None
    try:
        store = Store.from_conf(conf)
        fresh = not store.has_tables()
        if fresh:
            store.migrate(host.version)
    except CommandError:
        raise
    except Exception as err:  # pylint: disable=broad-except
        detail = str(err)
        if conf["database_pass"]:
            detail = detail.replace(conf["database_pass"], "****")
        raise CommandError(
            f"Failed to connect to the database: {type(err).__name__}: {detail}"
        ) from None
    finally:
        if store:
            store.close()
    write_file(host.regiond_conf, yaml.safe_dump(conf), 0o600)
    write_file(host.rackd_conf, yaml.safe_dump({"maas_url": [maas_url]}), 0o644)
    host.secret_file.unlink(missing_ok=True)
    write_file(host.snap_mode_file, args.mode, 0o644)
    host.start_daemon("regiond")
    _wait_for_region(host, maas_url)
    if args.mode == "region+rack":
        host.start_daemon("rackd")
    if fresh:
        print(
            "MAAS has been set up.\n\nIf you want to configure external authentication or use "
            "MAAS with Canonical RBAC, please run\n\n  sudo maas configauth\n\nTo create "
            "admins when not using external authentication, run\n\n  sudo maas createadmin"
        )
    return 0


def cmd_migrate(host: Host, argv: list[str]) -> int:
    store = _region_store(host)
    if not store.has_tables():
        store.migrate(host.version)
    return 0


def cmd_createadmin(host: Host, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="maas createadmin")
    for flag in ("--username", "--password", "--email", "--ssh-import"):
        parser.add_argument(flag)
    args = parser.parse_args(argv)
    missing = [k for k in ("username", "password", "email") if not getattr(args, k)]
    if missing:  # prompts for the missing ones and the ssh import: loops on EOF
        for key in missing:
            setattr(args, key, prompt(f"{key.capitalize()}: "))
        prompt("Import SSH keys [] (lp:user-id or gh:user-id): ")
    store = _region_store(host)
    try:
        store.create_user(args.username, args.email, args.password)
    except ValueError as err:
        raise CommandError(f"CommandError: {err}") from None
    return 0


def cmd_apikey(host: Host, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="maas apikey")
    parser.add_argument("--username")
    parser.add_argument("--generate", action="store_true")
    parser.add_argument("--delete")
    parser.add_argument("--update")
    parser.add_argument("--name")
    parser.add_argument("--with-names", action="store_true")
    args = parser.parse_args(argv)
    if not args.username:
        raise CommandError("You must provide a username with --username.")
    store = _region_store(host)
    user = store.user(args.username)
    if not user:
        raise CommandError("User does not exist.")
    if args.generate:
        token = store.create_token(user["id"], args.name or "MAAS consumer")
        print(f"{token['consumer_key']}:{token['token_key']}:{token['token_secret']}")
        return 0
    if args.delete:
        token_key = args.delete.split(":")[1] if args.delete.count(":") == 2 else ""
        if not store.delete_token(user["id"], token_key):
            raise CommandError("No matching api key found.")
        return 0
    for token in store.tokens(user["id"]):
        key = f"{token['consumer_key']}:{token['token_key']}:{token['token_secret']}"
        print(f"{key} {token['name']}" if args.with_names else key)
    return 0


def cmd_changepasswords(host: Host, argv: list[str]) -> int:
    store = _region_store(host)
    lines = [line.strip() for line in sys.stdin.read().splitlines() if line.strip()]
    for line in lines:
        username, _, password = line.partition(":")
        if not store.user(username):
            raise CommandError(f"CommandError: User '{username}' does not exist.")
    for line in lines:
        username, _, password = line.partition(":")
        store.set_password(username, password)
    print(f"{len(lines)} password(s) successfully changed.")
    return 0


def cmd_config(host: Host, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="maas config")
    for flag in ("--show", "--parsable", "--show-secret", "--show-database-password"):
        parser.add_argument(flag, action="store_true")
    parser.add_argument("--maas-url")
    parser.add_argument("--secret")
    args = parser.parse_args(argv)
    mode = host.snap_mode()
    if args.secret and mode != "rack":
        raise CommandError(f"Following flags are not supported in '{mode}' mode: --secret")
    if args.maas_url or args.secret:
        if args.maas_url:
            if mode in ("region", "region+rack"):
                conf = yaml.safe_load(host.regiond_conf.read_text())
                conf["maas_url"] = args.maas_url
                write_file(host.regiond_conf, yaml.safe_dump(conf), 0o600)
            write_file(host.rackd_conf, yaml.safe_dump({"maas_url": [args.maas_url]}), 0o644)
        if args.secret:
            write_file(host.secret_file, args.secret, 0o600)
        for daemon in ("regiond", "rackd"):  # changing a value restarts the services
            if host.daemon_pid(daemon):
                host.start_daemon(daemon)
        return 0
    values = {"mode": mode}
    if mode in ("region", "region+rack"):
        conf = yaml.safe_load(host.regiond_conf.read_text())
        values["maas_url"] = conf["maas_url"]
        for key in ("database_host", "database_port", "database_name", "database_user"):
            values[key] = conf[key]
        values["database_pass"] = (
            conf["database_pass"] if args.show_database_password else "(hidden)"
        )
    elif mode == "rack":
        urls = yaml.safe_load(host.rackd_conf.read_text())["maas_url"]
        values["maas_url"] = urls[0] if isinstance(urls, list) else urls
        values["secret"] = host.read_secret() if args.show_secret else "(hidden)"
    for key, value in values.items():
        print(
            f"{key}={value}" if args.parsable else f"{key.replace('_', ' ').capitalize()}: {value}"
        )
    return 0


def cmd_status(host: Host, argv: list[str]) -> int:
    if host.snap_mode() == "none":
        raise CommandError("MAAS is not configured")
    for daemon in ("regiond", "rackd"):
        state = "RUNNING" if host.daemon_pid(daemon) else "STOPPED"
        print(f"{daemon:<24}{state}")
    return 0


# -- API client ---------------------------------------------------------------------------------
CLI_TABLE = {
    ("maas", "get-config"): ("GET", "maas/", "get_config"),
    ("maas", "set-config"): ("POST", "maas/", "set_config"),
    ("boot-sources", "read"): ("GET", "boot-sources/", None),
    ("boot-sources", "create"): ("POST", "boot-sources/", None),
    ("boot-source", "read"): ("GET", "boot-sources/{0}/", None),
    ("boot-source", "update"): ("PUT", "boot-sources/{0}/", None),
    ("boot-source", "delete"): ("DELETE", "boot-sources/{0}/", None),
    ("boot-source-selections", "read"): ("GET", "boot-sources/{0}/selections/", None),
    ("boot-source-selections", "create"): ("POST", "boot-sources/{0}/selections/", None),
    ("boot-source-selection", "read"): ("GET", "boot-sources/{0}/selections/{1}/", None),
    ("boot-source-selection", "update"): ("PUT", "boot-sources/{0}/selections/{1}/", None),
    ("boot-source-selection", "delete"): ("DELETE", "boot-sources/{0}/selections/{1}/", None),
    ("boot-resources", "read"): ("GET", "boot-resources/", None),
    ("boot-resources", "import"): ("POST", "boot-resources/", "import"),
    ("boot-resources", "stop-import"): ("POST", "boot-resources/", "stop_import"),
    ("boot-resources", "is-importing"): ("GET", "boot-resources/", "is_importing"),
    ("boot-resource", "read"): ("GET", "boot-resources/{0}/", None),
    ("rack-controllers", "read"): ("GET", "rackcontrollers/", None),
    ("rack-controllers", "import-boot-images"): ("POST", "rackcontrollers/", "import_boot_images"),
    ("rack-controller", "read"): ("GET", "rackcontrollers/{0}/", None),
    ("rack-controller", "delete"): ("DELETE", "rackcontrollers/{0}/", None),
    ("rack-controller", "import-boot-images"): (
        "POST",
        "rackcontrollers/{0}/",
        "import_boot_images",
    ),
    ("rack-controller", "list-boot-images"): ("GET", "rackcontrollers/{0}/", "list_boot_images"),
    ("region-controllers", "read"): ("GET", "regioncontrollers/", None),
    ("machines", "read"): ("GET", "machines/", None),
    ("machines", "create"): ("POST", "machines/", None),
    ("machines", "allocate"): ("POST", "machines/", "allocate"),
    ("machine", "read"): ("GET", "machines/{0}/", None),
    ("machine", "update"): ("PUT", "machines/{0}/", None),
    ("machine", "delete"): ("DELETE", "machines/{0}/", None),
    ("machine", "commission"): ("POST", "machines/{0}/", "commission"),
    ("machine", "deploy"): ("POST", "machines/{0}/", "deploy"),
    ("machine", "release"): ("POST", "machines/{0}/", "release"),
    ("machine", "abort"): ("POST", "machines/{0}/", "abort"),
    ("machine", "mark-broken"): ("POST", "machines/{0}/", "mark_broken"),
    ("machine", "mark-fixed"): ("POST", "machines/{0}/", "mark_fixed"),
    ("events", "query"): ("GET", "events/", "query"),
    ("tags", "read"): ("GET", "tags/", None),
    ("tags", "create"): ("POST", "tags/", None),
    ("tag", "read"): ("GET", "tags/{0}/", None),
    ("tag", "update-nodes"): ("POST", "tags/{0}/", "update_nodes"),
    ("resource-pools", "read"): ("GET", "resourcepools/", None),
    ("resource-pools", "create"): ("POST", "resourcepools/", None),
    ("region-controller", "read"): ("GET", "regioncontrollers/{0}/", None),
    ("users", "read"): ("GET", "users/", None),
    ("users", "whoami"): ("GET", "users/", "whoami"),
    ("version", "read"): ("GET", "version/", None),
}


def _profiles(host: Host) -> sqlite3.Connection:
    host.profiles_file.parent.mkdir(parents=True, exist_ok=True)
    fresh = not host.profiles_file.exists()
    conn = sqlite3.connect(host.profiles_file)
    if fresh:
        os.chmod(host.profiles_file, 0o600)
    conn.execute(
        "CREATE TABLE IF NOT EXISTS profiles (id INTEGER PRIMARY KEY, name TEXT UNIQUE, data BLOB)"
    )
    return conn


def _sign(credentials: str | None) -> dict:
    if not credentials:
        return {}
    consumer, token, secret = credentials.split(":")
    params = {
        "oauth_version": "1.0",
        "oauth_signature_method": "PLAINTEXT",
        "oauth_consumer_key": consumer,
        "oauth_token": token,
        "oauth_signature": "&" + secret,
        "oauth_nonce": secrets.token_hex(8),
        "oauth_timestamp": str(int(time.time())),
    }
    return {
        "Authorization": "OAuth "
        + ", ".join(f'{k}="{urllib.parse.quote(v, safe="")}"' for k, v in params.items())
    }


def _http(method: str, url: str, credentials: str | None, params: list | None = None):
    body = None
    headers = _sign(credentials)
    if params and method in ("GET", "DELETE"):
        url += ("&" if "?" in url else "?") + urllib.parse.urlencode(params)
    elif params is not None and method in ("POST", "PUT"):
        body = urllib.parse.urlencode(params).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    req = urllib.request.Request(url, data=body, method=method, headers=headers)  # noqa: S310 (http URL)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 (http URL)
            return resp.status, resp.headers.get("Content-Type", ""), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Content-Type", ""), err.read()


def cmd_login(host: Host, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="maas login")
    parser.add_argument("profile")
    parser.add_argument("url")
    parser.add_argument("credentials", nargs="?")
    parser.add_argument("-k", "--insecure", action="store_true")
    parser.add_argument("--cacerts")
    args = parser.parse_args(argv)
    url = args.url if args.url.endswith("/") else args.url + "/"
    if not url.rstrip("/").endswith("/api/2.0"):
        url += "api/2.0/"
    credentials = args.credentials
    if credentials == "-":
        credentials = sys.stdin.readline().strip()
    elif credentials is None:
        credentials = prompt("API key (leave empty for anonymous access): ").strip()
    if credentials:
        if credentials.count(":") != 2:
            raise CommandError("Invalid API key provided", 1)
        status, _, _ = _http("GET", url + "users/?op=whoami", credentials)
        if status == 401:
            raise CommandError("The MAAS server rejected your API key.")
        if status != 200:
            raise CommandError(f"The MAAS server gave an unexpected response: {status}")
    status, ctype, body = _http("GET", url + "describe/", None)
    if status != 200:
        raise CommandError(f"{status}:\n{body.decode()}")
    if ctype != "application/json":
        raise CommandError(f"Expected application/json, got: {ctype}")
    data = {
        "name": args.profile,
        "url": url,
        "credentials": credentials or None,
        "description": json.loads(body),
        "cacerts": None,
    }
    with _profiles(host) as conn:
        conn.execute(
            "INSERT OR REPLACE INTO profiles (name, data) VALUES (?, ?)",
            (args.profile, json.dumps(data)),
        )
    print(
        f"\nYou are now logged in to the MAAS server at {url} with the profile name "
        f"'{args.profile}'.\n\nFor help with the available commands, try:\n\n"
        f"  maas {args.profile} --help\n"
    )
    return 0


def cmd_logout(host: Host, argv: list[str]) -> int:
    with _profiles(host) as conn:
        conn.execute("DELETE FROM profiles WHERE name = ?", (argv[0] if argv else "",))
    return 0


def cmd_list(host: Host, argv: list[str]) -> int:
    with _profiles(host) as conn:
        for (data,) in conn.execute("SELECT data FROM profiles ORDER BY name"):
            profile = json.loads(data)
            print(f"{profile['name']} {profile['url']}")
    return 0


def cmd_profile(host: Host, argv: list[str]) -> int:
    with _profiles(host) as conn:
        row = conn.execute("SELECT data FROM profiles WHERE name = ?", (argv[0],)).fetchone()
    if not row:
        print(f"maas: error: argument COMMAND: invalid choice: '{argv[0]}'", file=sys.stderr)
        return 2
    profile = json.loads(row[0])
    if len(argv) < 3 or (argv[1], argv[2]) not in CLI_TABLE:
        print(
            f"usage: maas {argv[0]} COMMAND ...\nmaas {argv[0]}: error: invalid command "
            f"{' '.join(argv[1:3])}",
            file=sys.stderr,
        )
        return 2
    method, template, op = CLI_TABLE[(argv[1], argv[2])]
    positional = [a for a in argv[3:] if "=" not in a]
    params = [tuple(a.split("=", 1)) for a in argv[3:] if "=" in a]
    try:
        path = template.format(*positional)
    except IndexError:
        print(
            f"maas {argv[0]} {argv[1]} {argv[2]}: error: missing positional arguments",
            file=sys.stderr,
        )
        return 2
    url = profile["url"] + path + (f"?op={op}" if op else "")
    status, _ctype, body = _http(method, url, profile["credentials"], params)
    if sys.stdout.isatty() and 200 <= status < 300:
        sys.stdout.write("Success.\nMachine-readable output follows:\n")
        sys.stdout.write(body.decode() + "\n")
    else:
        sys.stdout.write(body.decode())
    sys.stdout.flush()
    return 0 if 200 <= status < 300 else 2


# -- maas-rack ------------------------------------------------------------------------------------
def rack_main(host: Host, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="maas-rack")
    sub = parser.add_subparsers(dest="command", required=True)
    register = sub.add_parser("register")
    register.add_argument("--url", action="append")
    register.add_argument("--secret")
    sub.add_parser("install-shared-secret")
    config = sub.add_parser("config")
    config.add_argument("--region-url", action="append")
    args = parser.parse_args(argv)
    if args.command == "install-shared-secret":
        secret = (
            sys.stdin.readline().strip()
            if not sys.stdin.isatty()
            else prompt("Secret (hex/base16 encoded): ")
        )
        try:
            bytes.fromhex(secret)
        except ValueError:
            raise CommandError("Secret could not be decoded: Non-hexadecimal digit found") from None
        if not secret:
            raise CommandError("No secret received.")
        write_file(host.secret_file, secret, 0o600)
        print(f"Secret installed to {host.secret_file}.")
        return 0
    if args.command == "config":
        if args.region_url:
            write_file(host.rackd_conf, yaml.safe_dump({"maas_url": args.region_url}), 0o644)
            if host.daemon_pid("rackd"):
                host.start_daemon("rackd")
        else:
            print(yaml.safe_dump(yaml.safe_load(host.rackd_conf.read_text())), end="")
        return 0
    if not args.url and not sys.stdin.isatty():
        raise CommandError(
            "MAAS region controller URL must be given when not running interactively."
        )
    urls = args.url or [prompt("MAAS region controller URL: ").strip()]
    host.stop_daemon("rackd")
    host.maas_id_file.unlink(missing_ok=True)
    write_file(host.rackd_conf, yaml.safe_dump({"maas_url": urls}), 0o644)
    if args.secret:
        write_file(host.secret_file, args.secret, 0o600)
    elif not host.read_secret():  # only the secret may come from stdin
        secret = (
            sys.stdin.readline().strip()
            if not sys.stdin.isatty()
            else prompt("Secret (hex/base16 encoded): ")
        )
        if not secret:
            raise CommandError("No secret received.")
        write_file(host.secret_file, secret, 0o600)
    if host.snap_mode() == "none":
        write_file(host.snap_mode_file, "rack", 0o644)
    host.start_daemon("rackd")
    return 0
