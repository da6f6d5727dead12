"""The simulated rack controller daemon (``python -m kubesalt.sim.maas.rackd ROOT``).

It registers with the region named in ``rackd.conf`` by proving it knows the shared secret,
then sends heartbeats. On MAAS <= 3.4 it keeps its own copy of the boot images and syncs
it from the region when asked (``import_boot_images``) or periodically.
"""

from __future__ import annotations

import binascii
import logging
import signal
import sys
import time

import yaml

from kubesalt.sim.maas import rpc
from kubesalt.sim.maas.host import Host
from kubesalt.sim.maas.host import write_file

log = logging.getLogger("rackd")


def region_urls(host: Host) -> list[str]:
    conf = yaml.safe_load(host.rackd_conf.read_text()) or {}
    urls = conf.get("maas_url") or []
    return [urls] if isinstance(urls, str) else list(urls)


def run(root: str) -> None:
    host = Host(root)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s rackd[%(process)d] %(levelname)s %(message)s"
    )
    settings = host.settings()
    hostname = settings["hostname"]
    holds_images = settings["version"] != "3.7"
    running = True

    def stop(*_):
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    system_id = None
    images: list = []
    syncing_since = None
    last_sync = time.monotonic()
    last_error = None
    while running:
        time.sleep(float(settings["rack_heartbeat"]) if system_id else 0.2)
        faults = host.faults()
        if faults.get("rack_silent"):
            continue
        secret = host.read_secret() or ""
        if faults.get("wrong_secret") and secret:  # flip the last hex digit
            secret = secret[:-1] + ("0" if secret[-1] != "0" else "1")
        urls = region_urls(host)
        if not urls:
            continue
        url = urls[0]
        try:
            if system_id is None:
                payload = rpc.sign(secret, {"hostname": hostname, "version": host.version})
                status, body = rpc.call(url, "register", payload)
                if status == 200:
                    system_id = body["system_id"]
                    write_file(host.maas_id_file, system_id, 0o644)
                    log.info("registered with the region at %s as %s", url, system_id)
                    last_error = None
                    continue
                error = body.get("error") or f"HTTP {status}"
            else:
                payload = rpc.sign(
                    secret,
                    {
                        "hostname": hostname,
                        "system_id": system_id,
                        "images": images,
                        "syncing": syncing_since is not None,
                    },
                )
                status, body = rpc.call(url, "heartbeat", payload)
                if status == 404:
                    system_id = None
                    continue
                if status != 200:
                    error = body.get("error") or f"HTTP {status}"
                else:
                    error = None
                    if holds_images:
                        region_images = body.get("region_images") or []
                        now = time.monotonic()
                        due = now - last_sync > float(settings["rack_sync_interval"])
                        if syncing_since is None and (body.get("sync_requested") or due):
                            last_sync = now
                            if sorted(region_images) != sorted(images) and not body.get(
                                "importing"
                            ):
                                syncing_since = now
                        if syncing_since is not None and (
                            now - syncing_since >= float(settings["rack_sync_seconds"])
                        ):
                            images, syncing_since = region_images, None
        except binascii.Error as err:
            error = f"binascii.Error: {err} (the shared secret file must hold only hex)"
        except OSError as err:
            error = f"cannot reach the region at {url}: {err}"
        if error and error != last_error:
            log.error("%s", error)
        last_error = error


if __name__ == "__main__":
    run(sys.argv[1])
