"""``kubesalt cloud demo`` (``make demo``): ``terraform apply`` of the unchanged root module
against a backed lab cloud, then wait for the cluster and print its summary.

The cloud lives in ``$KUBESALT_LAB_DIR/cloud`` (``kubesalt lab down`` removes it), the
Terraform working directory in ``$KUBESALT_LAB_DIR/terraform`` (the root module copied as it
is, ``lab.tfvars.json``, the state). The waiting and the summary are the lab demo's own
(:mod:`kubesalt.lab.demo`), run against the instances' hosts through :class:`CloudHosts`.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import time

from kubesalt.cloud import install
from kubesalt.cloud import instances
from kubesalt.cloud.store import Store
from kubesalt.cloud.workspace import Workspace
from kubesalt.cloud.workspace import deploy_key
from kubesalt.cloud.workspace import lab_tfvars
from kubesalt.lab import demo as lab_demo
from kubesalt.lab import lab
from kubesalt.lab import minions

COMMAND_TIMEOUT = 120.0


class CloudHosts:
    """The instances of a backed cloud, with the ``exec`` of :class:`kubesalt.lab.Lab`."""

    def __init__(self, directory: str | pathlib.Path):
        self.directory = pathlib.Path(directory)

    def exec(
        self, host: str, argv: list[str], *, timeout: float | None = COMMAND_TIMEOUT, **_
    ) -> subprocess.CompletedProcess:
        """Run ``argv`` as root in the instance named ``host`` (short or full name)."""
        command = lab.host_command(instances.host_pid(self.directory, host), list(argv))
        return subprocess.run(command, check=False, capture_output=True, text=True, timeout=timeout)

    def nodes(self, control_plane: str = "k8s-master") -> dict[str, dict]:
        """The cluster's nodes as ``control_plane`` lists them (``microk8s.nodes``: name,
        ready, roles, address), by name; {} while it cannot answer."""
        run = self.exec(control_plane, ["salt-call", "--local", "--out=json", "microk8s.nodes"])
        try:
            nodes = json.loads(run.stdout or "{}").get("local")
        except ValueError:
            return {}
        return {n["name"]: n for n in nodes} if isinstance(nodes, list) else {}

    def answering(self, master: str = "salt", timeout: int = 30) -> set[str]:
        """The minions that answer ``salt '*' test.ping`` on ``master`` (within ``timeout``
        seconds); an empty set while the master cannot answer."""
        argv = ["salt", "--out=json", "--static", "-t", str(timeout), "*", "test.ping"]
        return minions.answered(self.exec(master, argv, timeout=timeout + COMMAND_TIMEOUT).stdout)

    def has_volume_disk(self, host: str) -> bool:
        """Whether ``host`` has a volume as a block device under udev's by-id name
        (``/dev/disk/by-id/virtio-<volume id>``): what the master's /srv is mounted from."""
        script = 'for d in /dev/disk/by-id/virtio-*; do [ -b "$d" ] && exit 0; done; exit 1'
        return self.exec(host, ["sh", "-c", script]).returncode == 0

    def info(self) -> dict:
        """The lab demo's host table: name, FQDN, roles (the ``kubesalt_roles`` metadata),
        the private address."""
        cloud = Store(self.directory).read()
        hosts = []
        for server in sorted(cloud["servers"].values(), key=lambda s: s["name"]):
            roles = (server.get("metadata") or {}).get("kubesalt_roles", "")
            hosts.append(
                {
                    "name": server["name"].split(".")[0],
                    "fqdn": server["name"],
                    "roles": [r for r in roles.split(",") if r],
                    "private_ip": instances.node_address(cloud, server["id"]),
                    "runs_salt": True,
                }
            )
        return {"hosts": hosts}


def run(workers: int = 2) -> int:
    """Apply, wait, summarise; the cloud stays up (``kubesalt lab down`` removes it)."""
    started = time.monotonic()

    def report(message: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {message}", flush=True)

    problem = lab.requirements_problem()
    if problem:
        print(f"kubesalt cloud demo: {problem}")
        return 1
    state_dir = pathlib.Path(lab.state_dir_default())
    cloud_dir = install.default_dir()
    if (cloud_dir / "cloud.json").is_file():
        report(f"a lab cloud exists in {cloud_dir}: removing it first")
        install.remove(cloud_dir)
    report(f"kubesalt cloud up --hosts ({cloud_dir})")
    install.install(cloud_dir, hosts=True)
    workspace = Workspace(state_dir / "terraform", cloud_dir)
    for stale in ("terraform.tfstate", "terraform.tfstate.backup"):
        (workspace.workdir / stale).unlink(missing_ok=True)
    # A backed cloud has the operator's network: a removed worker's removal runs over ssh
    # from there (KUBESALT_SSH from `kubesalt cloud operator-ssh`, terraform/membership.tf).
    variables = lab_tfvars(deploy_key(cloud_dir), workers=workers, remove_nodes_over_ssh=True)
    workspace.prepare(variables)
    report("terraform init (the lab's providers, from the cloud's filesystem mirror)")
    workspace.init()
    report(f"terraform apply -var-file=lab.tfvars.json in {workspace.workdir}")
    apply = workspace.apply()
    summary = [line for line in apply.stdout.splitlines() if line.startswith("Apply complete")]
    if apply.returncode != 0:
        print(workspace.redacted(apply)[-4000:])
        report("terraform apply failed; the cloud stays up (kubesalt lab down removes it)")
        return 1
    report(summary[0] if summary else "terraform apply done")
    hosts = CloudHosts(cloud_dir)
    report("the instances boot through cloud-init; the master orchestrates once all answer")
    failures = lab_demo.wait_bootstrap(hosts, report)
    if failures:
        print("\n".join(failures[:30]))
    info = hosts.info()
    control_plane = next(h for h in info["hosts"] if "microk8s_control_plane" in h["roles"])
    code = lab_demo.summary(hosts, info, control_plane, failures, report)
    print(
        f"\nssh through the bastion:\n  cd {workspace.workdir} && "
        "terraform output -raw ssh_config > ssh_config\n"
        f"  ssh -F ssh_config -i {cloud_dir}/ssh/id_ed25519 k8s-master\n"
        "Scale (Terraform runs a removed worker's removal over the operator's ssh):\n"
        '  eval "$(.venv/bin/kubesalt cloud operator-ssh)"\n'
        f"  cd {workspace.workdir} && terraform apply -var-file=lab.tfvars.json "
        f"-var num_kube_nodes={workers + 1}\n"
        "Tear it down: .venv/bin/kubesalt lab down (or terraform destroy, after the eval)"
    )
    return code
