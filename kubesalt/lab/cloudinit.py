"""Booting lab hosts like VMs: real cloud-init's stages from a NoCloud seed (hosts of
``--boot cloud-init``, bare-metal machines MAAS deploys).

Each function takes the :class:`kubesalt.lab.lab.Lab` it acts on (``lab``); not imported
here, so the package imports one way.
"""

from __future__ import annotations

import concurrent.futures

from kubesalt.lab import minions
from kubesalt.lab.machine import LabError
from kubesalt.lab.topology import Host
from kubesalt.tf import nocloud

CLOUD_INIT_TIMEOUT = 600.0


def boot_all(lab, hosts: list[Host], report) -> None:
    """Run cloud-init's boot stages in every Salt host, like a booting VM, then wait for
    every minion (their keys are accepted in advance by the user-data)."""
    booting = [h for h in hosts if h.runs_salt]
    report(
        f"booting {len(booting)} hosts with cloud-init "
        f"({', '.join(' '.join(stage[1:]) for stage in nocloud.CLOUD_INIT_STAGES)})"
    )

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        for future in [pool.submit(boot_cloud_init, lab, host.name) for host in booting]:
            future.result()
    report("waiting for every minion to answer test.ping")
    minions.wait_ping(lab, [h.minion_id for h in booting], CLOUD_INIT_TIMEOUT)


def boot_cloud_init(
    lab,
    host: str,
    user_data: str | None = None,
    *,
    instance_id: str | None = None,
    hostname: str | None = None,
) -> None:
    """Boot ``host`` like a VM: real cloud-init's stages, from the NoCloud seed its root
    holds, or from ``user_data`` (with ``instance_id`` and ``hostname`` for the
    meta-data: a new instance id runs the per-instance modules again), written first.
    The one way the lab boots user-data (hosts of ``--boot cloud-init``, bare-metal
    machines MAAS deploys); on failure the host's cloud-init logs are kept in
    ``<state dir>/logs`` and the error says where."""
    if user_data is not None:
        seed = nocloud.seed_files(user_data, instance_id or host, hostname or host)
        script = "set -e; umask 077; mkdir -p " + nocloud.SEED_DIR
        lab.exec(host, ["sh", "-c", script], check=True)
        for path, text in seed.items():
            mode = "0600" if path.endswith("/user-data") else "0644"
            write = f"set -e; umask 077; cat > {path}.tmp; chmod {mode} {path}.tmp; "
            write += f"mv {path}.tmp {path}"
            lab.exec(host, ["sh", "-c", write], check=True, input=text)
    for stage in nocloud.CLOUD_INIT_STAGES:
        run = lab.exec(host, list(stage), timeout=CLOUD_INIT_TIMEOUT)
        if run.returncode != 0:
            keep_cloud_init_log(lab, host)
            output = (run.stderr + run.stdout).strip()[-1500:]
            raise LabError(
                f"{host}: {' '.join(stage)} failed (exit {run.returncode}); "
                f"its cloud-init logs are in {lab.state_dir / 'logs'}:\n{output}"
            )


def keep_cloud_init_log(lab, host: str) -> None:
    """Copy a host's cloud-init logs out of it before the lab is torn down."""
    logs = lab.state_dir / "logs"
    logs.mkdir(exist_ok=True)
    for name in ("cloud-init.log", "cloud-init-output.log"):
        run = lab.exec(host, ["cat", f"/var/log/{name}"])
        (logs / f"{host}-{name}").write_text(run.stdout or "")
