"""The simulated ``snap`` command (the part of snapd that concerns microk8s)."""

from __future__ import annotations

import json
import os
import shutil
import sys
import textwrap
import time

import yaml

from kubesalt.sim.microk8s import agent
from kubesalt.sim.microk8s import agentd
from kubesalt.sim.microk8s import catalog
from kubesalt.sim.microk8s import certs
from kubesalt.sim.microk8s import cni
from kubesalt.sim.microk8s import launchconf
from kubesalt.sim.microk8s.host import Host
from kubesalt.sim.microk8s.host import write_file
from kubesalt.sim.microk8s.launcher import write_launcher

SERVICES = (
    "daemon-apiserver-kicker",
    "daemon-apiserver-proxy",
    "daemon-cluster-agent",
    "daemon-containerd",
    "daemon-etcd",
    "daemon-flanneld",
    "daemon-k8s-dqlite",
    "daemon-kubelite",
)
ALIASES = (
    "status",
    "add-node",
    "join",
    "leave",
    "remove-node",
    "enable",
    "disable",
    "start",
    "stop",
    "config",
    "kubectl",
    "refresh-certs",
    "version",
    "addons",
    "dbctl",
)


# Aliases share the check of the addon they stand for (same check_status upstream).
ALIAS_CHECKS = {"storage": "hostpath-storage", "gpu": "nvidia"}


class SnapError(Exception):
    """An ``error: ...`` of the snap client (exit 1), reflowed like snapd's ``fill``."""


class SnapChangeError(SnapError):
    """A change that failed while snapd ran it: printed as is (no reflow)."""


def fill(message: str) -> str:
    """snapd's ``fill``: paragraphs (and "- " list items) wrapped and indented under the
    ``error: `` prefix."""
    out = []
    for paragraph in message.strip("\n").split("\n\n"):
        blocks: list[list[str]] = []
        for line in paragraph.split("\n"):
            if line.startswith("- ") or not blocks:
                blocks.append([])
            blocks[-1].append(line.strip())
        wrapped = [
            "\n".join(textwrap.wrap(" ".join(block), width=92, break_on_hyphens=False))
            for block in blocks
        ]
        out.append("\n".join(wrapped))
    return "\n\n".join(out).replace("\n", "\n       ").replace("\n       \n", "\n\n")


def tabulate(rows: list) -> str:
    """Go's tabwriter (minwidth 5, padding 2), the last column left as is."""
    widths = [max(5, max(len(row[i]) for row in rows) + 2) for i in range(len(rows[0]) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)] + [row[-1]]
        lines.append("".join(cells))
    return "\n".join(lines)


def parse_channel(channel: str) -> tuple[str, str]:
    """snap's channel parser; returns (track, risk) or raises SnapError."""
    if not channel:
        raise SnapError("channel name cannot be empty")
    parts = channel.split("/")
    if len(parts) > 3:
        raise SnapError(f"channel name has too many components: {channel}")
    if len(parts) == 3:
        track, risk, branch = parts
        if not branch:
            raise SnapError(f"invalid branch in channel name: {channel}")
    elif len(parts) == 2:
        if parts[0] in catalog.RISKS:
            risk, branch = parts
            track = "latest"
            if not branch:
                raise SnapError(f"invalid branch in channel name: {channel}")
        else:
            track, risk = parts
    else:
        track, risk = ("latest", parts[0]) if parts[0] in catalog.RISKS else (parts[0], "stable")
    if risk not in catalog.RISKS:
        raise SnapError(f"invalid risk in channel name: {channel}")
    if not track:
        raise SnapError(f"invalid track in channel name: {channel}")
    return track, risk


def resolve(track: str) -> tuple[str, str, bool]:
    """(version, revision, strict) for TRACK, or SnapError when the store has no such track."""
    base = catalog.DEFAULT_TRACK if track == "latest" else track
    strict = base.endswith("-strict")
    base = base.removesuffix("-strict")
    if base not in catalog.RELEASES:
        raise SnapError(
            f'snap "microk8s" is not available on {track}/stable but other tracks exist.\n\n'
            "Please be mindful that different tracks may include different features.\n"
            "Get more information with 'snap info microk8s'."
        )
    version, revision = catalog.RELEASES[base]
    return version, revision, strict


def _options(args: list) -> tuple[list, dict]:
    positional, options = [], {}
    iterator = iter(args)
    for arg in iterator:
        if arg.startswith("--channel"):
            if "=" in arg:
                options["channel"] = arg.split("=", 1)[1]
            else:
                options["channel"] = next(iterator, "")
        elif arg.lstrip("-") in catalog.RISKS and arg.startswith("--"):
            options["channel"] = arg[2:]
        elif arg in ("--classic", "--purge", "--devmode", "--jailmode", "--dangerous"):
            options[arg[2:]] = True
        elif arg.startswith("-"):
            raise SnapError(f"unknown flag `{arg.lstrip('-')}'")
        else:
            positional.append(arg)
    return positional, options


def channel_label(track: str, risk: str) -> str:
    return f"{track}/{risk}"


def main(host: Host, argv: list, hostname: str | None) -> int:
    if not argv:
        print("The snap command lets you install, configure, refresh and remove snaps.")
        return 0
    command, rest = argv[0], argv[1:]
    handlers = {
        "install": install,
        "refresh": refresh,
        "list": list_snaps,
        "remove": remove,
        "services": services,
        "start": start,
        "stop": stop,
        "info": info,
    }
    handler = handlers.get(command)
    if handler is None:
        print(f"error: unknown command \"{command}\", see 'snap help'.", file=sys.stderr)
        return 1
    try:
        return handler(host, rest, hostname)
    except SnapChangeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except SnapError as err:
        print(f"error: {fill(str(err))}", file=sys.stderr)
        return 1


def _only_microk8s(names: list, verb: str) -> None:
    if not names:
        raise SnapError("the required argument `<snap> (at least 1 argument)` was not provided")
    for name in names:
        if name != "microk8s":
            raise SnapError(f'snap "{name}" not found')


def install(host: Host, args: list, hostname: str | None) -> int:
    names, options = _options(args)
    _only_microk8s(names, "install")
    track, risk = parse_channel(options.get("channel", "latest/stable"))
    version, revision, strict = resolve(track)
    if host.installed():
        print("snap \"microk8s\" is already installed, see 'snap help refresh'", file=sys.stderr)
        return 0
    if not strict and not options.get("classic"):
        raise SnapError(
            'This revision of snap "microk8s" was published using classic confinement and thus '
            "may perform arbitrary system changes outside of the security sandbox that snaps "
            "are usually confined to, which may put your system at risk.\n\n"
            "If you understand and want to proceed repeat the command including --classic."
        )
    install_snap(
        host,
        track=track,
        risk=risk,
        version=version,
        revision=revision,
        strict=strict,
        hostname=hostname,
    )
    label = "" if (track, risk) == ("latest", "stable") else f" ({channel_label(track, risk)})"
    print(f"microk8s{label} {version} from Canonical\u2713 installed")
    return 0


def install_snap(host, *, track, risk, version, revision, strict, hostname) -> None:
    """Lay the snap out and run the equivalent of its install hook, then start services."""
    base_track = catalog.DEFAULT_TRACK if track == "latest" else track.removesuffix("-strict")
    meta = {
        "channel": channel_label(track, risk),
        "track": base_track,
        "version": version,
        "revision": revision,
        "confinement": "strict" if strict else "classic",
        "active": True,
    }
    write_file(host.snap_meta_file, json.dumps(meta, indent=1) + "\n")
    _link_revision(host, revision)
    for helm in ("helm", "helm3"):
        write_file(host.snap / "bin" / helm, "#!/bin/sh\necho simulated helm\n", 0o755)
    _write_community_catalogue(host.snap / "addons/community/addons.yaml")
    data = host.data
    for rel in ("var/lock", "args", "credentials", "certs", "var/kubernetes/backend"):
        (data / rel).mkdir(parents=True, exist_ok=True)
    host.common.mkdir(parents=True, exist_ok=True)
    host.set_lock("ha-cluster")
    # No --node-ip (upstream default-args): the kubelet takes the default-route address.
    write_file(
        data / "args/kubelet",
        "--cluster-domain=cluster.local\n--cluster-dns=10.152.183.10\n",
    )
    write_file(
        data / "args/kube-apiserver",
        "--kubelet-preferred-address-types=InternalIP,Hostname,InternalDNS,ExternalDNS,ExternalIP\n--secure-port=16443\n--service-cluster-ip-range=10.152.183.0/24\n",
    )
    write_file(data / "args/kube-proxy", "--cluster-cidr=10.1.0.0/16\n")
    write_file(
        data / "args/kube-controller-manager",
        "--service-cluster-ip-range=10.152.183.0/24\n--cluster-cidr=10.1.0.0/16\n",
    )
    write_file(data / "args/cni-env", cni.DEFAULT_CNI_ENV)
    write_file(
        data / "args/cluster-agent",
        "--bind=0.0.0.0:25000\n--keyfile=${SNAP_DATA}/certs/server.key\n--certfile=${SNAP_DATA}/certs/server.crt\n--timeout=240\n",
    )
    write_file(
        data / "args/k8s-dqlite",
        "--storage-dir=${SNAP_DATA}/var/kubernetes/backend/\n--listen=unix://${SNAP_DATA}/var/kubernetes/backend/kine.sock:12379\n",
    )
    write_file(data / "certs/csr.conf.template", catalog.CSR_TEMPLATE)
    try:
        launchconf.install_time(host)
        cni.generate(host)
    except (launchconf.LaunchConfigError, cni.CniError, OSError) as exc:
        host.purge()  # snapd undoes a failed install
        raise SnapChangeError(
            "cannot perform the following tasks:\n"
            f'- Run install hook of "microk8s" snap if present (run hook "install": {exc})'
        ) from None
    certs.generate_ca(host)
    certs.generate_server_cert(host)
    certs.generate_front_proxy_cert(host)
    certs.generate_dqlite_cert(host)
    certs.generate_service_account_key(host)
    certs.write_client_config(host)
    write_file(data / "credentials/callback-tokens.txt", "", 0o600)
    _write_core_catalogue(host.common / "addons/core/addons.yaml")
    host.save_state(host.fresh_state())
    host.mark_started()
    host.snap_bin.mkdir(parents=True, exist_ok=True)
    write_launcher(host.snap_bin / "microk8s", "microk8s", host, hostname)
    for alias in ALIASES:
        write_launcher(host.snap_bin / f"microk8s.{alias}", "microk8s", host, hostname)
    agentd.start_agent(host)


def _link_revision(host: Host, revision: str) -> None:
    for parent in (host.path("snap/microk8s"), host.path("var/snap/microk8s")):
        (parent / revision).mkdir(parents=True, exist_ok=True)
        current = parent / "current"
        if current.is_symlink() or current.exists():
            current.unlink()
        current.symlink_to(revision)


def _write_core_catalogue(path) -> None:
    entries = []
    for name, (description, version, kind) in catalog.CORE_ADDONS.items():
        check = {
            "lock": "${SNAP_DATA}/var/lock/" + name,
            "bin": "${SNAP}/bin/helm",
            "repo": "${SNAP_COMMON}/addons/community/addons.yaml",
        }.get(kind, f"simulated/{ALIAS_CHECKS.get(name, name)}")
        entries.append(
            {
                "name": name,
                "description": description,
                "version": version,
                "check_status": check,
                "supported_architectures": ["amd64", "arm64", "s390x"],
            }
        )
    write_file(path, yaml.safe_dump({"microk8s-addons": {"addons": entries}}, sort_keys=False))


def _write_community_catalogue(path) -> None:
    entries = [
        {
            "name": name,
            "description": description,
            "version": version,
            "check_status": f"simulated/{name}",
            "supported_architectures": ["amd64", "arm64"],
        }
        for name, (description, version) in catalog.COMMUNITY_ADDONS.items()
    ]
    write_file(path, yaml.safe_dump({"microk8s-addons": {"addons": entries}}, sort_keys=False))


def refresh(host: Host, args: list, hostname: str | None) -> int:
    names, options = _options(args)
    _only_microk8s(names, "refresh")
    meta = host.snap_meta()
    if not host.installed() or meta is None:
        print('snap "microk8s" is not installed', file=sys.stderr)
        return 0
    channel = options.get("channel", meta["channel"])
    track, risk = parse_channel(channel)
    version, revision, _ = resolve(track)
    label = channel_label(track, risk)
    if label == meta["channel"]:
        print('snap "microk8s" has no updates available', file=sys.stderr)
        return 0
    knobs = host.knobs()
    if host.take_refresh_failure():
        time.sleep(float(knobs["refresh_seconds"]))
        raise SnapChangeError(
            "cannot perform the following tasks:\n"
            f'- Download snap "microk8s" ({revision}) from channel "{label}" '
            "(simulated fault (knob fail_refreshes))"
        )
    # snapd stops the services, swaps the revision, runs the hooks and starts them again.
    agent.stop_agent(host)
    time.sleep(float(knobs["refresh_seconds"]))
    old_revision = meta["revision"]
    meta.update(
        channel=label,
        track=catalog.DEFAULT_TRACK if track == "latest" else track.removesuffix("-strict"),
        version=version,
        revision=revision,
    )
    if revision != old_revision:
        # snapd copies $SNAP_DATA to the new revision and repoints `current`.
        old_data = host.path(f"var/snap/microk8s/{old_revision}")
        new_data = host.path(f"var/snap/microk8s/{revision}")
        if old_data.exists() and not new_data.exists():
            shutil.copytree(old_data, new_data, symlinks=True)
        old_snap = host.path(f"snap/microk8s/{old_revision}")
        new_snap = host.path(f"snap/microk8s/{revision}")
        if old_snap.exists() and not new_snap.exists():
            shutil.copytree(old_snap, new_snap, symlinks=True)
        _link_revision(host, revision)
    meta["lost"] = bool(knobs["lost_after_refresh"])
    write_file(host.snap_meta_file, json.dumps(meta, indent=1) + "\n")
    host.mark_started()
    if meta.get("active", True) and not meta["lost"]:
        agentd.start_agent(host)
        # Catch up on what changed while this member was down before writing to the state.
        agent.pull_state(host)
        _update_node_version(host, version)
    print(f"microk8s ({label}) {version} from Canonical\u2713 refreshed")
    return 0


def _update_node_version(host: Host, version: str) -> None:
    def change(state):
        for node in state.get("nodes", []):
            if node["name"] == host.hostname:
                node["version"] = version

    if host.load_state() is not None and not host.is_worker():
        agent.mutate(host, change)


def list_snaps(host: Host, args: list, hostname: str | None) -> int:
    names, _ = _options(args)
    meta = host.snap_meta()
    if not names and (not host.installed() or meta is None):
        print("No snaps are installed yet. Try 'snap install hello-world'.", file=sys.stderr)
        return 0
    if not host.installed() or meta is None or any(n != "microk8s" for n in names):
        print("error: no matching snaps installed", file=sys.stderr)
        return 1
    notes = "classic" if meta.get("confinement") == "classic" else "-"
    if not meta.get("active", True):
        notes = notes + ",disabled" if notes != "-" else "disabled"
    print(
        tabulate(
            [
                ["Name", "Version", "Rev", "Tracking", "Publisher", "Notes"],
                [
                    "microk8s",
                    meta["version"],
                    meta["revision"],
                    meta["channel"],
                    "canonical\u2713",
                    notes,
                ],
            ]
        )
    )
    return 0


def info(host: Host, args: list, hostname: str | None) -> int:
    _only_microk8s(_options(args)[0], "info")
    meta = host.snap_meta()
    print("name:      microk8s")
    print("summary:   Kubernetes for workstations and appliances")
    print("publisher: Canonical\u2713")
    if meta and host.installed():
        print(f"tracking:     {meta['channel']}")
        print(f"installed:    {meta['version']}            ({meta['revision']}) 180MB classic")
    return 0


def remove(host: Host, args: list, hostname: str | None) -> int:
    names, _ = _options(args)
    _only_microk8s(names, "remove")
    if not host.installed():
        print('snap "microk8s" is not installed', file=sys.stderr)
        return 0
    agent.stop_agent(host)
    host.purge()
    print("microk8s removed")
    return 0


def services(host: Host, args: list, hostname: str | None) -> int:
    names, _ = _options(args)
    if names and any(n != "microk8s" and not n.startswith("microk8s.") for n in names):
        raise SnapError(f'snap "{names[0]}" not found')
    if not host.installed():
        print('error: snap "microk8s" not found', file=sys.stderr)
        return 1
    meta = host.snap_meta() or {}
    active = meta.get("active", True) and not host.is_stopped()
    worker = host.is_worker()
    rows = [["Service", "Startup", "Current", "Notes"]]
    for service in SERVICES:
        enabled = active
        if service in ("daemon-etcd", "daemon-flanneld"):
            enabled = False
        elif service == "daemon-apiserver-proxy":
            enabled = active and worker
        elif service == "daemon-k8s-dqlite":
            enabled = active and not worker
        elif service == "daemon-cluster-agent":
            enabled = active and agent.agent_pid(host) is not None
        rows.append(
            [
                f"microk8s.{service}",
                "enabled" if enabled else "disabled",
                "active" if enabled else "inactive",
                "-",
            ]
        )
    print(tabulate(rows))
    return 0


def start(host: Host, args: list, hostname: str | None) -> int:
    names, _ = _options(args)
    _only_microk8s([n.split(".")[0] for n in names], "start")
    if not host.installed():
        raise SnapError('snap "microk8s" not found')
    host.set_active(True)
    if not host.knobs()["lost_after_refresh"]:
        meta = host.snap_meta() or {}
        meta.pop("lost", None)
        write_file(host.snap_meta_file, json.dumps(meta, indent=1) + "\n")
    host.mark_started()
    if (host.snap_meta() or {}).get("lost"):
        print("Started.")
        return 0
    agentd.start_agent(host)
    agent.pull_state(host)
    print("Started.")
    return 0


def stop(host: Host, args: list, hostname: str | None) -> int:
    names, _ = _options(args)
    _only_microk8s([n.split(".")[0] for n in names], "stop")
    if not host.installed():
        raise SnapError('snap "microk8s" not found')
    host.set_active(False)
    agent.stop_agent(host)
    print("Stopped.")
    return 0


def launcher_path(host: Host):
    """Where a host's ``snap`` launcher lives: ROOT/bin/snap, or /usr/local/bin/snap on /."""
    return host.path("usr/local/bin/snap") if str(host.root) == "/" else host.path("bin/snap")


def install_launcher(host: Host, hostname: str | None, bind_from_args: bool = False) -> os.PathLike:
    """Write the ``snap`` launcher for HOST: ROOT/bin/snap, or /usr/local/bin/snap on ROOT=/.
    ``bind_from_args``: see :meth:`Host.save_identity`."""
    path = launcher_path(host)
    write_launcher(path, "snap", host, hostname)
    host.save_identity(hostname, bind_from_args)
    return path
