"""The simulated MAAS region: the API 2.0 server on port 5240 of its host's address.

Run as a daemon by ``maas init region|region+rack`` (``python -m kubesalt.sim.maas.regiond
ROOT``). Its state is in the PostgreSQL database named in ``regiond.conf``.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import urllib.parse
from http.server import ThreadingHTTPServer

from kubesalt.sim.maas.api import ADMIN_ACTIONS
from kubesalt.sim.maas.api import DISPATCH
from kubesalt.sim.maas.api import Handler
from kubesalt.sim.maas.host import Host
from kubesalt.sim.maas.region import Region

__all__ = ["ADMIN_ACTIONS", "DISPATCH", "Handler", "Region", "serve"]
log = logging.getLogger("regiond")


def serve(root: str) -> None:
    host = Host(root)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s regiond[%(process)d] %(levelname)s %(message)s"
    )
    region = Region(host)
    region.startup()
    settings = host.settings()
    conf_url = urllib.parse.urlsplit(region.conf.get("maas_url", ""))
    port = conf_url.port or int(settings["port"])
    Handler.region = region
    server = ThreadingHTTPServer((settings["address"], port), Handler)
    server.daemon_threads = True
    # Every write is committed at once: a terminated region has nothing left to flush.
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    log.info("MAAS %s region listening on %s:%s", region.version, settings["address"], port)
    server.serve_forever(poll_interval=0.2)


if __name__ == "__main__":
    serve(sys.argv[1])
