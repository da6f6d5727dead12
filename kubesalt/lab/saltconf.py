"""Salt in the lab: configuration files and Debian init scripts written into the hosts.

The hosts run the project's own Salt (the virtualenv this package runs from, visible in
every host through the copy-on-write root). Services are started like on a Debian machine
without systemd: an LSB script in ``/etc/init.d`` driven by ``start-stop-daemon`` and
``service``, so Salt's ``debian_service`` provider (``service.running``, ``service.status``)
works in a host exactly as on a VM.
"""

from __future__ import annotations

import yaml

from kubesalt.lab.topology import Host

# Where the master host sees the work tree (bind-mounted read-only) and the lab's pillar.
SRV = "/srv/kubesalt"
STATES_DIR = f"{SRV}/states"
SALT_DIR = f"{SRV}/salt"
PILLAR_DIR = f"{SRV}/pillar"
LAB_PILLAR_DIR = f"{SRV}/lab-pillar"

# The master runs as this user, as Salt's official Linux packages run it (since 3006).
SALT_USER = "salt"

# What installing Salt's official Debian packages does on a master host (saltstack/salt
# pkg/debian): salt-common.preinst creates the system group and user (no home created, no
# login shell), salt-master.dirs the directories, salt-master.postinst the log files (0640)
# and the ownership of the master's own directories. The lab's "image" has Salt installed
# like that, in both boot modes; the master then starts as root, checks its directories and
# drops to `user` (the `user: salt` the package's /etc/salt/master sets).
MASTER_PACKAGE_LAYOUT = f"""set -e
getent group {SALT_USER} >/dev/null || groupadd --system {SALT_USER}
getent passwd {SALT_USER} >/dev/null || useradd --system --no-create-home \\
    --shell /usr/sbin/nologin --gid {SALT_USER} --home-dir /opt/saltstack/salt \\
    --comment Salt {SALT_USER}
for dir in /etc/salt/master.d /etc/salt/pki/master/minions \\
    /etc/salt/pki/master/minions_autosign /etc/salt/pki/master/minions_denied \\
    /etc/salt/pki/master/minions_pre /etc/salt/pki/master/minions_rejected \\
    /var/cache/salt/master/jobs /var/cache/salt/master/proc /var/cache/salt/master/queues \\
    /var/cache/salt/master/roots /var/cache/salt/master/syndics \\
    /var/cache/salt/master/tokens /var/cache/salt/minion /var/log/salt /run/salt/master; do
    mkdir -p "$dir"
done
for log in /var/log/salt/master /var/log/salt/key; do
    [ -e "$log" ] || {{ touch "$log"; chmod 640 "$log"; }}
done
chown -R {SALT_USER}:{SALT_USER} /etc/salt/pki/master /etc/salt/master.d \\
    /var/log/salt/master /var/log/salt/key /var/cache/salt/master /run/salt/master
"""

# /etc/salt/master as the packages ship it, in the cloud-init boot (cloud-init's own master
# configuration goes to master.d/): only the setting that differs from Salt's defaults.
PACKAGED_MASTER_CONFIG = (
    "# As Salt's official packages ship it (pkg/common/conf/master): the master drops to this\n"
    f"# user once it has checked its directories.\nuser: {SALT_USER}\n"
)

SALT_COMMANDS = (
    "salt",
    "salt-call",
    "salt-key",
    "salt-run",
    "salt-cp",
    "salt-master",
    "salt-minion",
)

_INIT_SCRIPT = """#!/bin/sh
### BEGIN INIT INFO
# Provides:          {name}
# Required-Start:    $remote_fs $network
# Required-Stop:     $remote_fs $network
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: {description}
### END INIT INFO
# Written by `kubesalt lab up`: the project's Salt, started the Debian way (no systemd).

PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
NAME={name}
DAEMON={daemon}
PIDFILE=/run/$NAME.pid

. /lib/lsb/init-functions

# A daemon that drops to a user chowns its pid file to it: start-stop-daemon refuses to
# match on a non-root pid file alone, so match that user too.
MATCH="--pidfile $PIDFILE{user_match}"

is_running() {{
    start-stop-daemon --status $MATCH
}}

do_start() {{
    is_running && return 0
    start-stop-daemon --start --quiet --pidfile "$PIDFILE" --startas "$DAEMON" \\
        -- -d --pid-file "$PIDFILE" || return 2
    # Salt daemonises itself and writes its pid file a moment later: wait for it, bounded.
    i=0
    while [ "$i" -lt 150 ]; do
        is_running && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}}

do_stop() {{
    start-stop-daemon --stop --quiet --retry=TERM/15/KILL/5 $MATCH
    rc=$?
    rm -f "$PIDFILE"
    # 1 means "was not running": stopping a stopped service succeeds (LSB).
    [ "$rc" -eq 1 ] && return 0
    return "$rc"
}}

case "$1" in
    start)
        log_daemon_msg "Starting {description}" "$NAME"
        do_start
        log_end_msg $?
        ;;
    stop)
        log_daemon_msg "Stopping {description}" "$NAME"
        do_stop
        log_end_msg $?
        ;;
    restart|force-reload)
        log_daemon_msg "Restarting {description}" "$NAME"
        do_stop && do_start
        log_end_msg $?
        ;;
    status)
        start-stop-daemon --status $MATCH
        rc=$?
        if [ "$rc" -eq 0 ]; then
            log_success_msg "$NAME is running"
        else
            log_failure_msg "$NAME is not running"
        fi
        exit "$rc"
        ;;
    *)
        echo "Usage: /etc/init.d/$NAME {{start|stop|restart|force-reload|status}}" >&2
        exit 3
        ;;
esac
exit 0
"""


def init_script(name: str, daemon: str, description: str, user: str | None = None) -> str:
    """An LSB init script running ``daemon`` (a Salt daemon that accepts ``-d``); ``user``:
    the user the daemon drops to (its pid file is that user's)."""
    user_match = f" --user {user}" if user else ""
    return _INIT_SCRIPT.format(
        name=name, daemon=daemon, description=description, user_match=user_match
    )


def rc_links(name: str) -> list[tuple[str, str]]:
    """``(target, link)`` pairs enabling ``name`` in runlevels 2-5, as update-rc.d would."""
    links = [(f"../init.d/{name}", f"/etc/rc{level}.d/S01{name}") for level in "2345"]
    links += [(f"../init.d/{name}", f"/etc/rc{level}.d/K01{name}") for level in "016"]
    return links


def minion_config(host: Host, master: Host) -> str:
    config = {
        "id": host.minion_id,
        "master": master.fqdn,
        # Keys are accepted by `lab up` right after the minion asks: retry every second.
        "acceptance_wait_time": 1,
        "acceptance_wait_time_max": 1,
        "random_reauth_delay": 0,
        # As Terraform's minion configuration: back on the publisher 1-2 s after a master
        # restart (Salt's defaults: up to ~20 s, during which published jobs are lost).
        "recon_default": 1000,
        "recon_max": 1000,
        # No DNS server answers in the lab: the fqdns grain would wait for reverse look-ups.
        "enable_fqdns_grains": False,
        "ipv6": False,
        # systemctl is installed but systemd is not PID 1: Salt would load systemd_service in
        # "offline" mode, where every service state is a no-op ("providers" would not help:
        # its service.offline stays). Without it, debian_service drives the init scripts.
        "disable_modules": ["systemd_service"],
        # So the first service.running of every highstate asks for service.offline, which
        # debian_service lacks, and Salt's loader then imports every execution module (~270,
        # 3-9 s) before answering "no". A systemd host never misses: systemd_service has it.
        # Strict matching (salt/loader/lazy.py) tries only the modules named like the one
        # asked for; every Salt and kubesalt module is named like its __virtualname__.
        "lazy_loader_strict_matching": True,
        # As Terraform's minion configuration: a highstate does not sync our modules (a
        # sync_all per run cost most of a converged highstate); `saltutil.sync_all` does.
        "autoload_dynamic_modules": False,
        "pidfile": "/run/salt-minion.pid",
        "log_file": "/var/log/salt/minion",
        "log_level_logfile": "info",
    }
    return "# Written by `kubesalt lab up`.\n" + yaml.safe_dump(config, sort_keys=False)


# The keys the salt_master state's master.d/kubesalt.conf writes too: the lab starts the
# master with the values the state writes under the lab pillar
# (tests/unit/lab/test_lab_master_config.py holds them equal); the rest is the lab's.
SHARED_MASTER_KEYS = (
    "auto_accept",
    "open_mode",
    "file_roots",
    "pillar_roots",
    "file_recv",
    "log_level_logfile",
    "worker_threads",
)


def master_config(master: Host) -> str:
    config = {
        # As the packages run it (PACKAGED_MASTER_CONFIG): not root.
        "user": SALT_USER,
        "interface": master.private_ip,
        # Keys are accepted one by one with `salt-key -a ID -y`: never automatically.
        "auto_accept": False,
        "open_mode": False,
        "file_roots": {"base": [STATES_DIR, SALT_DIR]},
        "pillar_roots": {"base": [LAB_PILLAR_DIR, PILLAR_DIR]},
        # The project's runners (orch.upgrade plans with microk8s_upgrade), as Terraform's
        # master configuration has them.
        "runner_dirs": [f"{SALT_DIR}/_runners"],
        # The work tree changes under a running lab: list new files at once.
        "fileserver_list_cache_time": 0,
        # As the salt_master state writes it (kubesalt:master:worker_threads).
        "worker_threads": 1,
        # Each worker loads the master's grains several times while starting; caching them
        # cuts the master's start from ~10 s to ~2 s on two cores.
        "grains_cache": True,
        # No reverse DNS look-ups for the fqdns grain: no DNS server answers in the lab.
        "enable_fqdns_grains": False,
        # The first MAAS region hands its shared secret and API key to the master (cp.push;
        # pillar/maas.sls), as the salt_master state and the Terraform user-data configure.
        "file_recv": True,
        "timeout": 10,
        "gather_job_timeout": 15,
        "pidfile": "/run/salt-master.pid",
        "log_file": "/var/log/salt/master",
        # As the lab pillar has it for the salt_master state, which writes it afterwards.
        "log_level_logfile": "info",
    }
    return "# Written by `kubesalt lab up`.\n" + yaml.safe_dump(config, sort_keys=False)
