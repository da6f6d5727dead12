"""orch/backup.sls and orch/restore.sls render from the runners' answers (a test double):
the backup from the first control plane that answers, then the collection on the master;
the restore hands the latest archive to the first control plane through its pillar and
withdraws it; without a backup the restore only fails, saying so."""

from tests.support.state_tree import MASTER
from tests.support.state_tree import args_of
from tests.support.state_tree import render_orch as render

ARCHIVE = "/srv/kubesalt/backups/dqlite/backup-2026-12-06-04-00-00.tar.gz"


def test_backup_from_an_answering_control_plane(node_loaders):
    steps = render(node_loaders, "backup.sls", {"manage.up": [MASTER]})
    assert list(steps) == ["backup-datastore", "backup-collect"]
    backup = args_of(steps["backup-datastore"])
    assert (backup["name"], backup["tgt"]) == ("microk8s.backup", MASTER)
    assert backup["kwarg"]["push"] is True
    collect = args_of(steps["backup-collect"])
    assert collect["name"] == "microk8s_backup.collect"
    assert collect["directory"] == "/srv/kubesalt/backups"
    assert collect["require"] == [{"salt": "backup-datastore"}]


def test_backup_without_a_control_plane_fails(node_loaders):
    steps = render(node_loaders, "backup.sls", {"manage.up": []})
    assert list(steps) == ["backup-no-control-plane"]


def test_restore_hands_the_latest_archive_through_pillar(node_loaders):
    steps = render(node_loaders, "restore.sls", {"microk8s_backup.latest": {"archive": ARCHIVE}})
    assert list(steps) == [
        "restore-request",
        "restore-pillar",
        "restore-datastore",
        "restore-withdraw",
        "restore-pillar-dropped",
    ]
    request = args_of(steps["restore-request"])
    assert (request["minion"], request["archive"]) == (MASTER, ARCHIVE)
    assert args_of(steps["restore-datastore"])["name"] == "microk8s.restore_from_pillar"
    # Withdrawn whatever the restore did: it requires the request only.
    assert args_of(steps["restore-withdraw"])["require"] == [{"salt": "restore-request"}]


def test_restore_without_a_backup_fails_clearly(node_loaders):
    error = "no datastore backup in /srv/kubesalt/backups/dqlite: nothing to restore"
    steps = render(node_loaders, "restore.sls", {"microk8s_backup.latest": {"error": error}})
    assert list(steps) == ["restore-refused"]
    assert args_of(steps["restore-refused"])["name"] == error
