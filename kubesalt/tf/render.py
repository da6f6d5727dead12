"""Render every host's user-data through the real Terraform engine.

The provider-free module ``terraform/modules/cloudinit`` is copied to a private temporary
directory and applied there (no resources: apply only evaluates), then its outputs are read
back. The variables (which hold private keys) and the state never touch the work tree and
are deleted afterwards; Terraform's errors reach the caller with the values of the module's
sensitive variables and any PEM private key redacted.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import os
import pathlib
import shutil
import tempfile

from kubesalt.tf import keys as salt_keys
from kubesalt.tf import nocloud
from kubesalt.tf.engine import Engine
from kubesalt.tf.engine import TerraformError
from kubesalt.tf.engine import find_engine
from kubesalt.tf.engine import sensitive_values

ENV_MODULE = "KUBESALT_CLOUDINIT_MODULE"
_MODULE_SUBDIR = pathlib.PurePosixPath("terraform/modules/cloudinit")

# The lab's fixed addresses (the same plan Terraform uses on OpenStack).
LAB_DOMAIN = "lab.kubesalt.test"
SALT_MASTER_IP = "10.1.0.5"
BASTION_PRIVATE_IP = "10.1.0.1"
BASTION_PUBLIC_IP = "10.0.0.10"
FIRST_CONTROL_PLANE_PRIVATE_IP = "10.1.0.10"
FIRST_CONTROL_PLANE_PUBLIC_IP = "10.0.0.20"
FIRST_WORKER_HOST = 100


def module_dir() -> pathlib.Path:
    """The cloudinit module: ``$KUBESALT_CLOUDINIT_MODULE``, the work tree, or the install."""
    candidates = []
    if os.environ.get(ENV_MODULE):
        candidates.append(pathlib.Path(os.environ[ENV_MODULE]))
    candidates.append(pathlib.Path(__file__).resolve().parents[2] / _MODULE_SUBDIR)
    try:
        dist = importlib.metadata.distribution("kubesalt")
    except importlib.metadata.PackageNotFoundError:
        dist = None
    for path in (dist.files or ()) if dist else ():
        if str(path).endswith("terraform/modules/cloudinit/main.tf"):
            candidates.append(pathlib.Path(dist.locate_file(path)).resolve().parent)
    for candidate in candidates:
        if (candidate / "main.tf").is_file():
            return candidate
    raise TerraformError(
        f"the Terraform module {_MODULE_SUBDIR} was not found (looked in "
        f"{', '.join(map(str, candidates))}); set {ENV_MODULE}"
    )


def control_plane_name(index: int) -> str:
    return "k8s-master" if index == 0 else f"k8s-master-{index}"


def lab_variables(
    control_planes: int = 1,
    workers: int = 2,
    domain: str = LAB_DOMAIN,
    *,
    key_bits: int = 2048,
    floating_ip: str | None = FIRST_CONTROL_PLANE_PUBLIC_IP,
    minion_config: dict | None = None,
    master_config: dict | None = None,
    extra_nodes: list[dict] | None = None,
) -> dict:
    """Module variables for the lab's hosts and addresses, with freshly generated Salt keys.

    No volume (the lab's master keeps /srv in its own root), no resolv.conf (the lab writes
    one per host), the state tree at /srv/kubesalt (the lab mounts the work tree there).
    ``minion_config``/``master_config``: extra Salt options for the lab's hosts, merged into
    the minion.d/master.d files (identity and trust options are refused by the module).
    ``extra_nodes``: further private hosts ``{hostname, private_ip, roles}`` (the lab's MAAS
    hosts), in the inventory with their roles.
    """
    if control_planes < 1 or workers < 1:
        raise ValueError("the lab needs at least one control plane and one worker")
    if control_planes > 80 or workers > 150:
        raise ValueError("too many hosts for the lab's address plan")
    cp_nodes = [
        {
            "hostname": control_plane_name(i),
            "private_ip": f"10.1.0.{10 + i}",
            "public_ip": FIRST_CONTROL_PLANE_PUBLIC_IP if i == 0 else None,
        }
        for i in range(control_planes)
    ]
    worker_nodes = [
        {"hostname": f"k8s-worker-{i}", "private_ip": f"10.1.0.{FIRST_WORKER_HOST + i}"}
        for i in range(workers)
    ]
    extra_nodes = [dict(node) for node in extra_nodes or []]
    hostnames = ["salt", "bastion"] + [n["hostname"] for n in cp_nodes + worker_nodes + extra_nodes]
    master_key = salt_keys.generate_key_pair(key_bits)
    return {
        "domain": domain,
        "salt_master": {"hostname": "salt", "private_ip": SALT_MASTER_IP},
        "bastion": {
            "hostname": "bastion",
            "private_ip": BASTION_PRIVATE_IP,
            "public_ip": BASTION_PUBLIC_IP,
        },
        "control_planes": cp_nodes,
        "workers": worker_nodes,
        "extra_nodes": extra_nodes,
        "floating_ip": floating_ip,
        "minion_keys": {f"{h}.{domain}": salt_keys.generate_key_pair(key_bits) for h in hostnames},
        "master_key": master_key,
        "master_volume_device": None,
        "manage_resolv_conf": False,
        "state_tree": {"path": "/srv/kubesalt"},
        "master_wait_seconds": 120,
        "extra_minion_config": minion_config or {},
        "extra_master_config": master_config or {},
    }


@dataclasses.dataclass
class Rendered:
    """What the module produced: user-data by minion id, the inventory, the hosts."""

    user_data: dict[str, str]
    inventory: dict
    inventory_yaml: str
    hosts: dict[str, dict]
    engine: str

    def write(self, out_dir: str | os.PathLike) -> dict[str, pathlib.Path]:
        """Write ``<out>/<id>/user-data`` + ``meta-data`` (0600) and ``<out>/inventory.sls``."""
        out = pathlib.Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        seeds = {}
        for minion_id, user_data in sorted(self.user_data.items()):
            seeds[minion_id] = nocloud.write_seed(
                out / minion_id,
                user_data,
                instance_id=f"kubesalt-{minion_id}",
                hostname=self.hosts[minion_id]["hostname"],
            )
        (out / "_from_terraform.sls").write_text(self.inventory_yaml, encoding="utf-8")
        return seeds


def render(variables: dict, engine: Engine | None = None) -> Rendered:
    """Apply the cloudinit module with ``variables`` and return its outputs."""
    engine = engine or find_engine()
    source = module_dir()
    with tempfile.TemporaryDirectory(prefix="kubesalt-tf-") as tmp:
        work = pathlib.Path(tmp) / "cloudinit"
        shutil.copytree(source, work, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
        var_file = work / "kubesalt.auto.tfvars.json"
        fd = os.open(var_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            # One value per line: Terraform's excerpt of an offending value shows that line only.
            json.dump(variables, handle, indent=1)
        secrets = sensitive_values(variables, work)
        engine.check(["apply", "-auto-approve", "-input=false", "-no-color"], work, None, secrets)
        outputs = json.loads(engine.check(["output", "-json", "-no-color"], work).stdout)
    try:
        return Rendered(
            user_data=outputs["user_data"]["value"],
            inventory=outputs["inventory"]["value"],
            inventory_yaml=outputs["inventory_yaml"]["value"],
            hosts=outputs["hosts"]["value"],
            engine=engine.name,
        )
    except KeyError as exc:
        raise TerraformError(f"the cloudinit module did not output {exc}") from exc


def render_lab(
    out_dir: str | os.PathLike | None = None,
    control_planes: int = 1,
    workers: int = 2,
    domain: str = LAB_DOMAIN,
    *,
    engine: Engine | None = None,
    minion_config: dict | None = None,
    master_config: dict | None = None,
    extra_nodes: list[dict] | None = None,
) -> Rendered:
    """Render the lab's hosts (see :func:`lab_variables`) and write them to ``out_dir``."""
    variables = lab_variables(
        control_planes,
        workers,
        domain,
        minion_config=minion_config,
        master_config=master_config,
        extra_nodes=extra_nodes,
    )
    rendered = render(variables, engine)
    if out_dir is not None:
        rendered.write(out_dir)
    return rendered
