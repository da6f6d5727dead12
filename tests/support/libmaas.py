"""Waits on a simulated MAAS region seen through python-libmaas (the MAAS functional tier)."""

from __future__ import annotations

from tests.support.waiting import wait_until


def wait_for_images(client, timeout: float = 60.0, release: str = "ubuntu/jammy") -> list:
    """Wait until no import runs and ``release`` is among the synced boot resources
    (enlisting and deploying machines need complete images); return the synced ones."""

    def synced():
        resources = [
            r for r in client.boot_resources.list() if r.type == "Synced" and "/" in r.name
        ]
        importing = client._origin.session.BootResources.is_importing()
        ready = not importing and any(r.name == release for r in resources)
        return resources if ready else None

    return wait_until(synced, timeout, f"the {release} images to be synced", interval=0.3)
