"""Launch configurations (MicroK8s 1.27+): YAML files that configure a node declaratively.

As upstream (cluster-agent ``pkg/k8sinit``, ``cmd/cluster-agent.go``): at install the first of
``/etc/microk8s.yaml``, ``/root/snap/microk8s/common/.microk8s.yaml``,
``$SNAP_COMMON/.microk8s.yaml`` is copied to ``$SNAP_COMMON/etc/launcher/install.yaml`` and
its "pre-init" subset applied (tokens, config files, service arguments, SANs); the cluster
agent then applies every ``$SNAP_COMMON/etc/launcher/*.yaml`` in full (addon repositories are
not modelled, addons, join) every 5 s and renames each applied file ``<file>.applied``.
Addons and joins run the node's own ``microk8s`` command in a child process, as the agent runs
the snap's ``microk8s-enable.wrapper``/``microk8s-join.wrapper`` (``pkg/snap/snap.go``).
"""

from __future__ import annotations

import ipaddress
import subprocess
import sys

import yaml

from kubesalt.sim.microk8s.host import Host
from kubesalt.sim.microk8s.host import write_file

INSTALL_SOURCES = (
    "etc/microk8s.yaml",
    "root/snap/microk8s/common/.microk8s.yaml",
    "var/snap/microk8s/common/.microk8s.yaml",
)
ARG_FILES = {
    "extraKubeAPIServerArgs": "kube-apiserver",
    "extraKubeletArgs": "kubelet",
    "extraKubeProxyArgs": "kube-proxy",
    "extraKubeControllerManagerArgs": "kube-controller-manager",
    "extraKubeSchedulerArgs": "kube-scheduler",
    "extraKubeliteEnv": "kubelite-env",
    "extraContainerdArgs": "containerd",
    "extraContainerdEnv": "containerd-env",
    "extraDqliteArgs": "k8s-dqlite",
    "extraDqliteEnv": "k8s-dqlite-env",
    "extraMicroK8sClusterAgentArgs": "cluster-agent",
    "extraMicroK8sClusterAgentEnv": "cluster-agent-env",
    "extraMicroK8sAPIServerProxyArgs": "apiserver-proxy",
    "extraMicroK8sAPIServerProxyEnv": "apiserver-proxy-env",
    "extraEtcdArgs": "etcd",
    "extraEtcdEnv": "etcd-env",
    "extraFlanneldArgs": "flanneld",
    "extraFlanneldEnv": "flanneld-env",
    "extraCNIEnv": "cni-env",
    "extraFIPSEnv": "fips-env",
}
KNOWN_KEYS = {
    "version",
    "persistentClusterToken",
    "join",
    "addons",
    "addonRepositories",
    "extraSANs",
    "extraConfigFiles",
    "containerdRegistryConfigs",
    *ARG_FILES,
}


class LaunchConfigError(Exception):
    pass


def parse(text: str) -> list[dict]:
    """The parts of a (multi-document) launch configuration; raises LaunchConfigError."""
    try:
        parts = [part for part in yaml.safe_load_all(text) if part is not None]
    except yaml.YAMLError as exc:
        raise LaunchConfigError(f"failed to parse configuration: {exc}") from None
    for part in parts:
        if not isinstance(part, dict):
            raise LaunchConfigError("configuration must be a mapping")
        version = str(part.get("version", ""))
        if version not in ("0.1.0", "0.2.0"):
            raise LaunchConfigError(f"unsupported configuration version {version!r}")
        for key in sorted(set(part) - KNOWN_KEYS):
            print(f"WARNING: ignoring unknown configuration key {key!r}", file=sys.stderr)
    return parts


def csr_template(extra_sans: list) -> str:
    """``util.GenerateCSRConf``: the whole template, entries numbered from 0."""
    ips = ["127.0.0.1", "10.152.183.1"]
    dns = [
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster",
        "kubernetes.default.svc.cluster.local",
    ]
    for value in extra_sans:
        try:
            ipaddress.ip_address(str(value))
            ips.append(str(value))
        except ValueError:
            dns.append(str(value))
    dns_lines = "".join(f"DNS.{i} = {name}\n" for i, name in enumerate(dns))
    ip_lines = "".join(f"IP.{i} = {ip}\n" for i, ip in enumerate(ips))
    return (
        "\n[ req ]\ndefault_bits = 2048\nprompt = no\ndefault_md = sha256\n"
        "req_extensions = req_ext\ndistinguished_name = dn\n\n"
        "[ dn ]\nC = GB\nST = Canonical\nL = Canonical\nO = Canonical\nOU = Canonical\n"
        "CN = 127.0.0.1\n\n[ req_ext ]\nsubjectAltName = @alt_names\n\n[ alt_names ]\n"
        f"{dns_lines}\n\n{ip_lines}\n#MOREIPS\n\n"
        "[ v3_ext ]\nauthorityKeyIdentifier=keyid,issuer:always\nbasicConstraints=CA:FALSE\n"
        "keyUsage=keyEncipherment,dataEncipherment,digitalSignature\n"
        "extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=@alt_names\n"
    )


def _arg_text(value) -> str:
    """A value as Go's YAML reads it into a string (``true``, not Python's ``True``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def set_args(host: Host, name: str, changes: dict) -> None:
    """Set (or, for null, remove) ``--flag=value`` lines in ``args/<name>``."""
    path = host.data / "args" / name
    try:
        lines = path.read_text().splitlines()
    except OSError:
        lines = []
    for flag, value in changes.items():
        lines = [line for line in lines if line.split("=", 1)[0].split(" ", 1)[0] != flag]
        if value is not None:
            lines.append(f"{flag}={_arg_text(value)}")
    write_file(path, "\n".join(lines) + "\n")


def apply(host: Host, parts: list[dict], *, pre_init: bool) -> None:
    """Apply the parts in order; ``pre_init`` skips addons and join (install time)."""
    for part in parts:
        if not pre_init:
            for addon in part.get("addons") or []:
                action = "disable" if addon.get("disable") else "enable"
                args = [str(a) for a in addon.get("args") or []]
                code = _microk8s(host, [action, str(addon["name"]), *args])
                if code:
                    raise LaunchConfigError(f"failed to {action} addon {addon['name']!r} ({code})")
        token = part.get("persistentClusterToken")
        if token:
            path = host.credentials / "persistent-cluster-tokens.txt"
            with open(path, "a", encoding="utf-8") as tokens:
                tokens.write(f"{token}\n")
        for name, contents in (part.get("extraConfigFiles") or {}).items():
            if "/" in name:
                raise LaunchConfigError(f"file name {name!r} must not contain any slashes")
            write_file(host.data / "args" / name, str(contents))
        for key, name in ARG_FILES.items():
            if part.get(key):
                set_args(host, name, part[key])
        if part.get("extraSANs") is not None:
            write_file(host.certs / "csr.conf.template", csr_template(part["extraSANs"]))
        join = part.get("join") or {}
        if not pre_init and join.get("url"):
            argv = ["join", str(join["url"])] + (["--worker"] if join.get("worker") else [])
            code = _microk8s(host, argv)
            if code:
                raise LaunchConfigError(f"failed to join cluster ({code})")


def _microk8s(host: Host, argv: list) -> int:
    """Run the node's ``microk8s`` command; its output goes to our stderr (the agent's log)."""
    result = subprocess.run(
        [str(host.snap_bin / "microk8s"), *argv],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    sys.stderr.write(result.stdout)
    return result.returncode


def install_time(host: Host) -> None:
    """The install hook's part: copy the first user launch configuration and pre-apply it.

    (The snap's default configuration, DNS on, is what a fresh simulated node already has.)
    """
    for rel in INSTALL_SOURCES:
        source = host.path(rel)
        if source.is_file():
            text = source.read_text()
            parts = parse(text)
            write_file(host.common / "etc/launcher/install.yaml", text)
            apply(host, parts, pre_init=True)
            return


def apply_pending(host: Host) -> None:
    """One tick of the agent: apply every pending ``etc/launcher/*.yaml``, rename it
    ``.applied``; a file that fails stays and is retried next tick."""
    directory = host.common / "etc/launcher"
    if not directory.is_dir():
        return
    for path in sorted(directory.glob("*.yaml")):
        print(f"Applying {path}", file=sys.stderr, flush=True)
        try:
            apply(host, parse(path.read_text()), pre_init=False)
        except (LaunchConfigError, OSError, KeyError) as exc:
            print(f"Failed to apply configuration file {path}: {exc}", file=sys.stderr)
            continue
        path.rename(path.with_name(path.name + ".applied"))
        print(f"Successfully applied {path}", file=sys.stderr, flush=True)
