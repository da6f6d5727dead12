"""A rolling MicroK8s upgrade in the lab (one control plane, two workers), as an operator runs
it: change the channel in the inventory, ``salt-run state.orchestrate orch.upgrade test=True``
(the plan, nothing changes), then the upgrade, with its failure paths: a refresh that fails
(the run stops at that node, the next worker is untouched, a rerun resumes), a skipped minor
and a downgrade (refused before anything changes), a node that never comes back (the wait
gives up after node_timeout and says so). A PodDisruptionBudget stands throughout. Then,
on the same lab, the operator's kubeconfig (never in a job return, the job cache or a log)
and backup/restore (a restore without a backup fails clearly; objects created before
orch.backup are back after the control plane was replaced and orch.restore ran).
"""

from __future__ import annotations

import json
import time

import pytest
import yaml

from tests.support.lab import lab_up
from tests.support.lab_salt import DOMAIN
from tests.support.lab_salt import MASTER
from tests.support.lab_salt import WORKERS
from tests.support.lab_salt import cluster_nodes
from tests.support.lab_salt import inventory
from tests.support.lab_salt import orchestrate
from tests.support.lab_salt import salt_json
from tests.support.lab_salt import write_inventory

WORKLOAD = """apiVersion: v1
kind: Pod
metadata:
  name: web-5d4f8c7b9-{suffix}
  labels: {{app: web}}
  ownerReferences:
  - {{apiVersion: apps/v1, kind: ReplicaSet, name: web-5d4f8c7b9, controller: true, uid: u}}
spec: {{nodeName: {node}}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {{name: web}}
spec:
  minAvailable: 1
  selector: {{matchLabels: {{app: web}}}}
"""


def upgrade(lab, *extra):
    """``salt-run state.orchestrate orch.upgrade``: {step id: step result}."""
    doc = salt_json(lab, ["salt-run", "--out=json", "state.orchestrate", "orch.upgrade", *extra])
    (steps,) = doc["data"].values()
    assert isinstance(steps, dict), steps
    return {step["__id__"]: step for step in steps.values()}


def set_channel(lab, channel, **settings):
    data = inventory(lab)
    data["kubesalt"]["microk8s"]["channel"] = channel
    data["kubesalt"]["microk8s"]["upgrade"] = {"batch_size": 1, **settings}
    write_inventory(lab, data)
    salt_json(lab, ["salt", "--out=json", "--static", "*", "saltutil.refresh_pillar"])


def knob(lab, minion, *settings):
    host = minion.split(".")[0]
    lab.exec(host, ["kubesalt", "sim", "microk8s", "knob", "--root", "/", *settings], check=True)


def channels(lab):
    doc = salt_json(lab, ["salt", "--out=json", "--static", "k8s-*", "microk8s.installed"])
    return {minion: found["channel"] for minion, found in doc.items()}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    started = time.monotonic()
    with lab_up(tmp_path_factory, workers=2, control_planes=1) as lab:
        salt_json(lab, ["salt", "--out=json", "--static", "*", "saltutil.sync_all"])
        run = orchestrate(lab)
        assert all(s["result"] for s in run.steps.values()), run.steps
        lab.exec(
            "k8s-master",
            ["microk8s", "kubectl", "apply", "-f", "-"],
            input=WORKLOAD.format(suffix="aaaaa", node="k8s-worker-0")
            + "---\n"
            + WORKLOAD.format(suffix="bbbbb", node="k8s-worker-1").split("---")[0],
            check=True,
        )
        yield lab
        print(f"\nlab upgrade module: {time.monotonic() - started:.0f} s")


@pytest.mark.lab
def test_plan_then_a_failed_refresh_then_resume(cluster):
    lab = cluster
    set_channel(lab, "1.33/stable")
    planned = upgrade(lab, "test=True")
    assert planned["upgrade-plan"]["name"] == (
        "to 1.33/stable: k8s-master, then k8s-worker-0, then k8s-worker-1"
    )
    assert set(channels(lab).values()) == {"1.32/stable"}
    assert not any(n["unschedulable"] for n in cluster_nodes(lab).values())

    knob(lab, WORKERS[0], "fail_refreshes=1")
    failed = upgrade(lab)
    assert failed[f"upgrade-uncordon-{MASTER}"]["result"] is True
    refresh = failed[f"upgrade-refresh-{WORKERS[0]}"]
    assert refresh["result"] is False
    assert WORKERS[0] in refresh["comment"] or WORKERS[0] in str(refresh["changes"])
    assert "Download snap" in str(refresh["changes"]) + refresh["comment"]
    assert failed[f"upgrade-drain-{WORKERS[1]}"]["result"] is False  # never ran
    assert "requisite" in failed[f"upgrade-drain-{WORKERS[1]}"]["comment"].lower()
    found = channels(lab)
    assert found[MASTER] == "1.33/stable"
    assert found[WORKERS[0]] == found[WORKERS[1]] == "1.32/stable"
    nodes = cluster_nodes(lab)
    assert nodes["k8s-worker-0"]["unschedulable"] is True  # left for the operator to see
    assert nodes["k8s-worker-1"]["unschedulable"] is False  # untouched

    resumed = upgrade(lab)
    failures = {k: s["comment"] for k, s in resumed.items() if not s["result"]}
    assert not failures
    assert f"upgrade-drain-{MASTER}" not in resumed  # already there: not touched again
    assert set(channels(lab).values()) == {"1.33/stable"}
    nodes = cluster_nodes(lab)
    assert all(n["ready"] and not n["unschedulable"] for n in nodes.values())
    assert {n["version"] for n in nodes.values()} == {"v1.33.4"}
    again = upgrade(lab)
    assert list(again) == ["upgrade-plan"] and "nothing to do" in again["upgrade-plan"]["name"]


@pytest.mark.lab
def test_skipped_minor_and_downgrade_are_refused(cluster):
    lab = cluster
    for channel, reason in (("1.35/stable", "skips a minor"), ("1.32/stable", "downgrade")):
        set_channel(lab, channel)
        refused = upgrade(lab)
        assert list(refused) == ["upgrade-refused"]
        assert refused["upgrade-refused"]["result"] is False
        assert reason in refused["upgrade-refused"]["name"]
    assert set(channels(lab).values()) == {"1.33/stable"}


@pytest.mark.lab
def test_a_node_that_never_comes_back(cluster):
    lab = cluster
    set_channel(lab, "1.34/stable", node_timeout=20)
    knob(lab, WORKERS[1], "lost_after_refresh=true")
    started = time.monotonic()
    run = upgrade(lab)
    assert time.monotonic() - started < 300
    wait = run[f"upgrade-wait-{WORKERS[1]}"]
    assert wait["result"] is False
    assert "node k8s-worker-1 is not back after 20 s" in str(wait["changes"]) + wait["comment"]
    assert run[f"upgrade-uncordon-{WORKERS[0]}"]["result"] is True
    nodes = cluster_nodes(lab)
    assert nodes["k8s-worker-1"]["unschedulable"] is True
    assert nodes["k8s-worker-1"]["ready"] is False
    # The operator repairs the node; a rerun finishes it (uncordons it once it is back).
    knob(lab, WORKERS[1], "lost_after_refresh=false")
    lab.exec("k8s-worker-1", ["snap", "start", "microk8s"], check=True)
    finished = upgrade(lab)
    assert not {k: s["comment"] for k, s in finished.items() if not s["result"]}
    nodes = cluster_nodes(lab)
    assert all(n["ready"] and not n["unschedulable"] for n in nodes.values())
    assert {n["version"] for n in nodes.values()} == {"v1.34.1"}
    assert DOMAIN in MASTER


@pytest.mark.lab
def test_operator_kubeconfig_stays_out_of_salt(cluster):
    """One command writes the operator's kubeconfig on a control plane; the credential is
    in no job return, not in the job cache (jobs.lookup_jid) and in no Salt log."""
    lab = cluster
    floating_ip = inventory(lab)["kubesalt"]["microk8s"]["floating_ip"]
    run = lab.exec(
        "salt",
        [
            "salt",
            "--out=json",
            "--static",
            MASTER,
            "microk8s.write_kubeconfig",
            "/root/kubesalt.kubeconfig",
            "name=kubesalt",
        ],
        timeout=120,
        check=True,
    )
    written = json.loads(run.stdout[run.stdout.index("{") :])[MASTER]
    jobs = salt_json(
        lab,
        ["salt-run", "--out=json", "jobs.list_jobs", "search_function=microk8s.write_kubeconfig"],
    )
    jid = max(jobs)
    assert written["server"] == f"https://{floating_ip}:16443"
    assert written["credential"] == "client certificate"
    mode = lab.exec("k8s-master", ["stat", "-c", "%a", "/root/kubesalt.kubeconfig"], check=True)
    assert mode.stdout.strip() == "600"
    text = lab.exec("k8s-master", ["cat", "/root/kubesalt.kubeconfig"], check=True).stdout
    config = yaml.safe_load(text)
    assert config["clusters"][0]["cluster"]["server"] == f"https://{floating_ip}:16443"
    key = config["users"][0]["user"]["client-key-data"]
    cached = lab.exec("salt", ["salt-run", "--out=json", "jobs.lookup_jid", jid], timeout=120)
    assert cached.returncode == 0 and "kubesalt.kubeconfig" in cached.stdout
    logs = lab.exec("salt", ["sh", "-c", "cat /var/log/salt/* 2>/dev/null"]).stdout
    logs += lab.exec("k8s-master", ["sh", "-c", "cat /var/log/salt/* 2>/dev/null"]).stdout
    for where in (run.stdout, cached.stdout, logs):
        assert key not in where


def orchestration(lab, name):
    """``salt-run state.orchestrate orch.<name>``: ({step id: step result}, seconds)."""
    started = time.monotonic()
    doc = salt_json(lab, ["salt-run", "--out=json", "state.orchestrate", f"orch.{name}"])
    (steps,) = doc["data"].values()
    assert isinstance(steps, dict), steps
    return {step["__id__"]: step for step in steps.values()}, time.monotonic() - started


@pytest.mark.lab
def test_backup_then_restore_into_a_replaced_control_plane(cluster):
    lab = cluster
    refused, _ = orchestration(lab, "restore")
    assert list(refused) == ["restore-refused"]
    assert refused["restore-refused"]["result"] is False
    assert (
        "no datastore backup in /srv/kubesalt/backups/dqlite" in refused["restore-refused"]["name"]
    )

    kubectl = ["microk8s", "kubectl"]
    lab.exec("k8s-master", [*kubectl, "create", "namespace", "before-backup"], check=True)
    backed_up, backup_seconds = orchestration(lab, "backup")
    assert all(s["result"] for s in backed_up.values()), backed_up
    listing = lab.exec(
        "salt", ["sh", "-c", "cd /srv/kubesalt/backups && stat -c '%a %s %n' dqlite/* master/*"]
    ).stdout.split("\n")
    archives = [line.split() for line in listing if "dqlite/backup-" in line]
    assert len(archives) == 1 and archives[0][0] == "600", listing
    assert any("master/master-" in line for line in listing), listing
    master_files = lab.exec(
        "salt", ["sh", "-c", "tar tzf /srv/kubesalt/backups/master/master-*.tar.gz"], check=True
    ).stdout
    assert "pki/master.pem" in master_files and "pki/kubesalt/join.secret" in master_files
    assert "_from_terraform.sls" in master_files

    # The control plane is replaced: a new MicroK8s (new CA, empty datastore).
    lab.exec("k8s-master", ["snap", "remove", "microk8s", "--purge"], check=True)
    fresh = salt_json(
        lab, ["salt", "--out=json", "--static", MASTER, "state.apply", "microk8s.master"]
    )
    assert all(s["result"] for s in fresh[MASTER].values()), fresh
    gone = lab.exec("k8s-master", [*kubectl, "get", "namespace", "before-backup"])
    assert gone.returncode == 1

    restored, restore_seconds = orchestration(lab, "restore")
    assert all(s["result"] for s in restored.values()), restored
    lab.exec("k8s-master", [*kubectl, "get", "namespace", "before-backup"], check=True)
    pillar = salt_json(
        lab, ["salt", "--out=json", "--static", MASTER, "pillar.item", "kubesalt_restore"]
    )
    assert not pillar[MASTER].get("kubesalt_restore")  # withdrawn after the restore
    print(
        f"\nbackup: {archives[0][1]} bytes, orch.backup {backup_seconds:.1f} s; "
        f"orch.restore {restore_seconds:.1f} s; load {open('/proc/loadavg').read().split()[:3]}"
    )
