"""Cost of the MicroK8s simulator itself: what a simulated command or join costs.

Run: .venv/bin/python -m pytest tests/bench/bench_sim_microk8s.py -o python_files='bench_*.py' -s
"""

import resource
import statistics
import time

from tests.support.microk8s_sim import sim_nodes

REPEAT = 10


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(node, argv):
    """(wall seconds, CPU seconds of the command process, stdout)."""
    cpu, started = children_cpu(), time.perf_counter()
    result = node.run(argv)
    elapsed = time.perf_counter() - started
    assert result.returncode == 0, (argv, result.stdout, result.stderr)
    return (elapsed, children_cpu() - cpu), result.stdout


def median_of(node, argv):
    samples = [timed(node, argv)[0] for _ in range(REPEAT)]
    return statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)


def test_bench_simulator(tmp_path):
    rows = []
    with sim_nodes(tmp_path) as make:
        cp1, cp2, worker = (make(f"127.0.1.{n}") for n in (200, 201, 202))
        install = ["snap", "install", "microk8s", "--classic", "--channel=1.32/stable"]
        rows.append(("snap install microk8s (certificates, agent start)", timed(cp1, install)[0]))
        cp2.install("1.32/stable")
        worker.install("1.32/stable")
        rows.append(("microk8s version (median)", median_of(cp1, ["microk8s", "version"])))
        rows.append(
            (
                "microk8s status --format yaml (median)",
                median_of(cp1, ["microk8s", "status", "--format", "yaml"]),
            )
        )
        rows.append(
            (
                "microk8s add-node --format json (median)",
                median_of(cp1, ["microk8s", "add-node", "--format", "json"]),
            )
        )
        for node in (cp2, worker):
            node.set_knobs(join_seconds=0)
        token = timed(cp1, ["microk8s", "add-node", "--format", "token"])[1].strip()
        rows.append(
            (
                "join as control plane (join_seconds=0)",
                timed(cp2, ["microk8s", "join", f"127.0.1.200:25000/{token}"])[0],
            )
        )
        token = timed(cp1, ["microk8s", "add-node", "--format", "token"])[1].strip()
        rows.append(
            (
                "join as worker (join_seconds=0)",
                timed(worker, ["microk8s", "join", f"127.0.1.200:25000/{token}", "--worker"])[0],
            )
        )
        rows.append(
            (
                "kubectl get nodes -o json, 3 nodes (median)",
                median_of(cp1, ["microk8s", "kubectl", "get", "nodes", "-o", "json"]),
            )
        )
        worker.set_knobs(stopped=True)
        rows.append(
            (
                "kubectl get nodes -o json, one node down (median)",
                median_of(cp1, ["microk8s", "kubectl", "get", "nodes", "-o", "json"]),
            )
        )
    print("\n| operation | wall s | CPU s (command process) |\n| --- | --- | --- |")
    for label, (wall, cpu) in rows:
        print(f"| {label} | {wall:.2f} | {cpu:.2f} |")
