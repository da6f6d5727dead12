"""Set up a lab cloud directory: the API state, the providers installed the way Terraform
supports offline, and the client configuration.

``<dir>/plugins`` is a local filesystem mirror in Terraform's *unpacked* layout
(``registry.terraform.io/<namespace>/<type>/<version>/<os>_<arch>/terraform-provider-<type>_v<version>``),
each holding a small launcher that runs ``python -m kubesalt.cloud serve <type>`` with this
Python. ``<dir>/terraformrc`` (``TF_CLI_CONFIG_FILE``) installs exactly these two providers
from the mirror and nothing from the network, so ``terraform init`` / ``plan`` / ``apply`` run
unchanged. ``<dir>/clouds.yaml`` (``OS_CLIENT_CONFIG_FILE``, ``OS_CLOUD=kubesalt-lab``) names the
cloud as an operator's clouds.yaml would.
"""

from __future__ import annotations

import json
import os
import pathlib
import platform
import shlex
import sys

from kubesalt.cloud import catalogue
from kubesalt.cloud.openstack import AUTH_SCHEME
from kubesalt.cloud.store import Store
from kubesalt.cloud.values import load_schemas

CLOUD_NAME = "kubesalt-lab"
# provider source address -> (our provider name, schema file)
PROVIDERS = {
    "registry.terraform.io/terraform-provider-openstack/openstack": "openstack",
    "registry.terraform.io/hashicorp/tls": "tls",
}


def default_dir() -> pathlib.Path:
    lab_dir = os.environ.get("KUBESALT_LAB_DIR") or "/var/lib/kubesalt/lab"
    return pathlib.Path(os.environ.get("KUBESALT_CLOUD_DIR") or pathlib.Path(lab_dir) / "cloud")


def target_platform() -> str:
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        machine, machine
    )
    return f"{platform.system().lower()}_{arch}"


def provider_version(name: str) -> str:
    return load_schemas(name)["tag"].lstrip("v")


def launcher_text(name: str) -> str:
    return f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m kubesalt.cloud serve {name} "$@"\n'


def install(directory: str | os.PathLike, hosts: bool = False) -> dict[str, str]:
    """Create or refresh the cloud at ``directory``; return the client environment. ``hosts``:
    instances become lab hosts (:mod:`kubesalt.cloud.instances`)."""
    root = pathlib.Path(directory).resolve()
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    if hosts:
        (root / "backed").write_text("instances boot as lab hosts (kubesalt.cloud.instances)\n")
    with Store(root).transaction() as document:
        catalogue.seed(document)
    plugins = root / "plugins"
    for address, name in PROVIDERS.items():
        version = provider_version(name)
        package = plugins / address / version / target_platform()
        package.mkdir(parents=True, exist_ok=True)
        launcher = package / f"terraform-provider-{address.rsplit('/', 1)[1]}_v{version}"
        text = launcher_text(name)
        if not launcher.is_file() or launcher.read_text() != text:
            launcher.write_text(text)
        launcher.chmod(0o755)
    includes = ", ".join(json.dumps(address) for address in PROVIDERS)
    (root / "terraformrc").write_text(
        "# Written by `kubesalt cloud up`: the lab cloud's providers from a local mirror, nothing\n"
        "# from the network.\n"
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f"    path    = {json.dumps(str(plugins))}\n"
        f"    include = [{includes}]\n"
        "  }\n"
        "  direct {\n"
        f"    exclude = [{includes}]\n"
        "  }\n"
        "}\n"
        "disable_checkpoint = true\n"
    )
    (root / "clouds.yaml").write_text(
        "# Written by `kubesalt cloud up`.\n"
        "clouds:\n"
        f"  {CLOUD_NAME}:\n"
        "    auth:\n"
        f"      auth_url: {AUTH_SCHEME}{root}\n"
        f"    region_name: {catalogue.REGION}\n"
    )
    env = client_env(root)
    (root / "env").write_text(
        "".join(f"export {key}={shlex.quote(value)}\n" for key, value in env.items())
    )
    return env


def client_env(root: pathlib.Path) -> dict[str, str]:
    return {
        "TF_CLI_CONFIG_FILE": str(root / "terraformrc"),
        "OS_CLIENT_CONFIG_FILE": str(root / "clouds.yaml"),
        "OS_CLOUD": CLOUD_NAME,
    }


def remove(directory: str | os.PathLike) -> None:
    """Delete a cloud directory this module created (only the files it writes)."""
    import shutil  # noqa: PLC0415

    from kubesalt.cloud import instances  # noqa: PLC0415

    root = pathlib.Path(directory)
    if not (root / "cloud.json").is_file() and not (root / "terraformrc").is_file():
        return
    instances.stop(root)
    shutil.rmtree(root)
