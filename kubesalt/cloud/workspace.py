"""Run the root module (``terraform/``, unchanged) against a lab cloud.

A :class:`Workspace` is a working directory holding a copy of the root module exactly as it is
in the repository (``.tf`` files and ``modules/``; no state, no ``.terraform``), the lab's
tfvars file, and the cloud's client environment; ``terraform init``/``plan``/``apply``/
``destroy`` run there with the real Terraform engine, as an operator runs them.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil

from kubesalt.cloud import catalogue
from kubesalt.cloud import install
from kubesalt.tf import engine as tf_engine

ROOT_MODULE = pathlib.Path(__file__).resolve().parents[2] / "terraform"
LAB_DOMAIN = "lab.kubesalt.test"
# The lab's operator network: the external network (the "internet" side of the floating IPs).
LAB_OPERATOR_CIDR = catalogue.EXTERNAL_NETWORK["cidr"]


def lab_tfvars(deploy_ssh_public_key: str, workers: int = 2, control_planes: int = 1) -> dict:
    """The variables ``make demo`` and the tests apply the root module with."""
    return {
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
        # the bastion is the private network's gateway and resolver in the lab
        "dns_nameservers": ["10.1.0.1"],
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
        return install.client_env(self.cloud_dir)

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
