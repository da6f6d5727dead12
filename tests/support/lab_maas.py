"""MAAS in a lab (tests/lab/test_maas*.py and the MAAS lab benchmarks): ``orch.maas`` and
plain highstates on the lab's master, and what their returns say."""

from __future__ import annotations

import json
import time
import types

from tests.support.lab_salt import DOMAIN

RACKS = ["maas-rack-0", "maas-rack-1"]
CONTROL_PLANE = "k8s-master"
# The hosts of a MAAS lab (one control plane, no worker): each returns states in a highstate.
HOSTS = ["salt", "bastion", CONTROL_PLANE, "maas-region", *RACKS]
ORCH_TIMEOUT = 300
HIGHSTATE_TIMEOUT = 420


def orch_maas(lab):
    """``salt-run state.orchestrate orch.maas``: the text and every state of every minion,
    the nested phase (salt.runner) included, as ``{(orch step, minion, state id): state}``
    (a state may run in two steps: maas.sync includes maas.region)."""
    run = lab.exec(
        "salt", ["salt-run", "--out=json", "state.orchestrate", "orch.maas"], timeout=ORCH_TIMEOUT
    )
    text = run.stdout
    start = text.find("{")
    assert start >= 0, f"orch.maas: no JSON (exit {run.returncode}): {run.stderr[-2000:]}"
    (steps,) = json.loads(text[start:])["data"].values()
    assert isinstance(steps, dict), steps
    states = {}
    orch_steps = {}
    _collect(steps, states, orch_steps)
    return types.SimpleNamespace(text=text + run.stderr, states=states, steps=orch_steps)


def _collect(steps: dict, states: dict, orch_steps: dict) -> None:
    for step in steps.values():
        orch_steps[step["__id__"]] = step
        changes = step.get("changes") or {}
        for minion, minion_states in (changes.get("ret") or {}).items():
            if isinstance(minion_states, dict):
                for state in minion_states.values():
                    states[(step["__id__"], minion.split(".")[0], state["__id__"])] = state
            else:  # a rendering error: a list of strings
                states[(step["__id__"], minion.split(".")[0], "render")] = {
                    "result": False,
                    "changes": {},
                    "comment": str(minion_states)[:500],
                }
        nested = (changes.get("return") or {}).get("data")
        if isinstance(nested, dict):
            for nested_steps in nested.values():
                _collect(nested_steps, states, orch_steps)


def failed(run) -> dict:
    bad = {key: s.get("comment") for key, s in run.states.items() if s.get("result") is not True}
    bad.update(
        {sid: s.get("comment") for sid, s in run.steps.items() if s.get("result") is not True}
    )
    return bad


def changed(run) -> set:
    """``(minion, state id)`` of every state that reported changes in any step."""
    return {key[1:] for key, state in run.states.items() if state.get("changes")}


def highstate(lab, timeout=HIGHSTATE_TIMEOUT):
    """One plain ``salt '*' state.highstate``: its return, wall time and text."""
    started = time.monotonic()
    run = lab.exec(
        "salt",
        ["salt", "--out=json", "--static", f"--timeout={timeout}", "*", "state.highstate"],
        timeout=timeout + 60,
    )
    seconds = time.monotonic() - started
    start = run.stdout.find("{")
    doc = json.loads(run.stdout[start:]) if start >= 0 else {}
    return types.SimpleNamespace(
        doc=doc, seconds=seconds, text=run.stdout + run.stderr, returncode=run.returncode
    )


def failures(run, hosts=HOSTS) -> dict:
    """``{host: [failed state ids with comments]}``; a host without a state return counts."""
    bad = {}
    for host in hosts:
        states = run.doc.get(f"{host}.{DOMAIN}")
        if not isinstance(states, dict) or not states:
            bad[host] = [f"no state return: {str(states)[:300]}"]
            continue
        failed = [f"{s['__id__']}: {s.get('comment')}" for s in states.values() if not s["result"]]
        if failed:
            bad[host] = failed
    return bad


def changes(run) -> dict:
    return {
        minion.split(".")[0]: sorted(s["__id__"] for s in states.values() if s.get("changes"))
        for minion, states in run.doc.items()
        if isinstance(states, dict) and any(s.get("changes") for s in states.values())
    }
