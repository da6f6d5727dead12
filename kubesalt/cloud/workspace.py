"""Run the root module (``terraform/``, unchanged) against a lab cloud.

A :class:`Workspace` is a working directory holding a copy of the root module exactly as it is
in the repository (``.tf`` files and ``modules/``; no state, no ``.terraform``), the lab's
tfvars file, and the cloud's client environment; ``terraform init``/``plan``/``apply``/
``destroy`` run there with the real Terraform engine, as an operator runs them.
"""

from __future__ import annotations

import ipaddress
import json
import os
import pathlib
import shlex
import shutil
import subprocess

from kubesalt.cloud import catalogue
from kubesalt.cloud import install
from kubesalt.tf import engine as tf_engine

ROOT_MODULE = pathlib.Path(__file__).resolve().parents[2] / "terraform"
LAB_DOMAIN = "lab.kubesalt.test"
# The lab's operator network: the external network (the "internet" side of the floating IPs).
LAB_OPERATOR_CIDR = catalogue.EXTERNAL_NETWORK["cidr"]
# The first address of the root module's private DHCP pool (network.tf: cidrhost(private_cidr,
# 200 * 256) with the default private_cidr): the private subnet's DHCP port (its resolver).
LAB_RESOLVER = str(ipaddress.ip_network("10.1.0.0/16")[200 * 256])


def lab_tfvars(
    deploy_ssh_public_key: str,
    workers: int = 2,
    control_planes: int = 1,
    remove_nodes_over_ssh: bool = False,
) -> dict:
    """The variables ``make demo`` and the tests apply the root module with.
    ``remove_nodes_over_ssh``: a removed worker's removal runs on the master over ``ssh``
    (terraform/membership.tf); that needs ``$KUBESALT_SSH`` reaching the bastion's floating IP
    from the operator's network (:meth:`Workspace.operator_ssh`), so it is off unless asked."""
    return {
        "remove_nodes_over_ssh": remove_nodes_over_ssh,
        "cluster_name": "kubesalt",
        "deploy_domain_name": LAB_DOMAIN,
        "external_network_name": catalogue.EXTERNAL_NETWORK["name"],
        "base_image": catalogue.IMAGES[0]["name"],
        "num_control_planes": control_planes,
        "num_kube_nodes": workers,
        "kube_node_flavor": "m1.large",
        "infra_flavor": "m1.small",
        "operator_cidrs": [LAB_OPERATOR_CIDR],
        "deploy_ssh_public_keys": [deploy_ssh_public_key],
        # the private subnet's DHCP port, where the lab cloud runs its resolver (as Neutron
        # runs dnsmasq): instances' names answer at once, any other name is NXDOMAIN
        "dns_nameservers": [LAB_RESOLVER],
        "state_tree_repository": "https://git.example.com/ops/kubesalt.git",
    }


def deploy_key(cloud_dir: str | os.PathLike) -> str:
    """The public half of the cloud's deploy key (``<dir>/ssh/id_ed25519``, made once, 0600):
    the key ``ssh`` through the bastion uses in the lab."""
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ed25519  # noqa: PLC0415

    directory = pathlib.Path(cloud_dir) / "ssh"
    private, public = directory / "id_ed25519", directory / "id_ed25519.pub"
    if not public.is_file():
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = ed25519.Ed25519PrivateKey.generate()
        fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.OpenSSH,
                    serialization.NoEncryption(),
                )
            )
        openssh = key.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
        public.write_text(openssh.decode() + " kubesalt-lab-deploy\n")
    return public.read_text().strip()


class Workspace:
    def __init__(self, workdir: str | os.PathLike, cloud_dir: str | os.PathLike, engine=None):
        self.workdir = pathlib.Path(workdir)
        self.cloud_dir = pathlib.Path(cloud_dir).resolve()
        self.engine = engine or tf_engine.find_engine()
        self.secrets: list[str] = []
        # Added to every run's environment (e.g. KUBESALT_SSH, see operator_ssh).
        self.extra_env: dict[str, str] = {}

    def prepare(self, variables: dict, module: pathlib.Path = ROOT_MODULE) -> None:
        """Copy the root module (unchanged) and write ``lab.tfvars.json``."""
        if not (module / "versions.tf").is_file():
            raise FileNotFoundError(f"the root module was not found at {module}")
        self.workdir.mkdir(parents=True, exist_ok=True)
        ignore = shutil.ignore_patterns(
            ".terraform", ".terraform.lock.hcl", "*.tfstate*", "*.tfvars", "tests"
        )
        shutil.copytree(module, self.workdir, ignore=ignore, dirs_exist_ok=True)
        (self.workdir / "lab.tfvars.json").write_text(json.dumps(variables, indent=1) + "\n")
        self.secrets = tf_engine.sensitive_values(variables, self.workdir)

    def redacted(self, result: tf_engine.Result) -> str:
        """``result``'s output to show: no sensitive variable's value, no PEM private key."""
        return tf_engine.redact(result.stdout + result.stderr, self.secrets)

    def env(self) -> dict[str, str]:
        return {**install.client_env(self.cloud_dir), **self.extra_env}

    def operator_ssh(self, directory: str | os.PathLike) -> str:
        """Set up the operator's ``ssh`` for a backed cloud as the README does and return it
        as a ``KUBESALT_SSH`` (also put in :attr:`extra_env`, for the destroy-time removal of
        terraform/membership.tf). In ``directory``: the ``ssh_config`` output with the cloud's
        deploy key, a ``known_hosts`` learnt by a first ``ssh salt true`` that accepts new
        host keys (the operator's first login), then a strict config (``StrictHostKeyChecking
        yes``) for what Terraform runs. ``ssh`` runs in the operator's network namespace, the
        internet side of the floating IPs (``nsenter``)."""
        from kubesalt.cloud import instances  # noqa: PLC0415  (backed clouds only)

        directory = pathlib.Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        key = self.cloud_dir / "ssh" / "id_ed25519"
        common = (
            f"Host *\n  IdentityFile {key}\n  UserKnownHostsFile {directory / 'known_hosts'}\n"
            "  ConnectTimeout 30\n"
        )
        output = self.engine.check(["output", "-raw", "ssh_config"], self.workdir, self.env())
        first = directory / "first_config"
        first.write_text(output.stdout + "\n" + common + "  StrictHostKeyChecking accept-new\n")
        prefix = ["nsenter", "-t", str(instances.operator_pid(self.cloud_dir)), "-n", "--"]
        login = subprocess.run(
            [*prefix, "ssh", "-F", str(first), "-o", "BatchMode=yes", "salt", "true"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if login.returncode != 0:
            raise RuntimeError(f"the operator's first `ssh salt` failed: {login.stderr[-2000:]}")
        strict = directory / "ssh_config"
        strict.write_text(common + "  StrictHostKeyChecking yes\n")
        command = shlex.join([*prefix, "ssh", "-F", str(strict)])
        self.extra_env["KUBESALT_SSH"] = command
        return command

    def run(self, *args: str) -> tf_engine.Result:
        return self.engine.run(list(args), self.workdir, self.env())

    def init(self) -> tf_engine.Result:
        return self.engine.check(["init", "-input=false", "-no-color"], self.workdir, self.env())

    def plan(self, *extra: str) -> tf_engine.Result:
        return self.run("plan", "-input=false", "-no-color", "-var-file=lab.tfvars.json", *extra)

    def apply(self, *extra: str) -> tf_engine.Result:
        return self.run(
            "apply",
            "-input=false",
            "-no-color",
            "-auto-approve",
            "-var-file=lab.tfvars.json",
            *extra,
        )

    def destroy(self) -> tf_engine.Result:
        return self.run(
            "destroy", "-input=false", "-no-color", "-auto-approve", "-var-file=lab.tfvars.json"
        )
