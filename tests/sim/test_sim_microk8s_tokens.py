"""add-node tokens, join validation, fingerprints and faults."""

import json
import re
import time

import pytest
import yaml

from tests.support.cases import load_cases


def token_lines(node):
    return (node.root / "var/snap/microk8s/current/credentials/cluster-tokens.txt").read_text()


def test_add_node_formats(microk8s_sim):
    node = microk8s_sim(install="1.32/stable")
    token = "a" * 32
    pretty = node.run(["microk8s", "add-node", "--token", token])
    check = node.run(["microk8s", "add-node", "--format", "token-check", "-t", token])
    fingerprint = check.stdout.strip().split("/")[1]
    assert re.fullmatch(r"[0-9a-f]{12}", fingerprint)
    url = f"{node.address}:25000/{token}/{fingerprint}"
    assert pretty.stdout == (
        "From the node you wish to join to this cluster, run the following:\n"
        f"microk8s join {url}\n\n"
        "Use the '--worker' flag to join a node as a worker not running the control plane, eg:\n"
        f"microk8s join {url} --worker\n\n"
        "If the node you are adding is not reachable through the default interface you can use "
        "one of the following:\n"
        f"microk8s join {url}\n"
    )
    as_yaml = node.run(["microk8s", "add-node", "--format", "yaml", "-t", token]).stdout
    assert as_yaml == f"token: {token}/{fingerprint}\nurls:\n- {url}\n\n"
    as_json = json.loads(node.run(["microk8s", "add-node", "--format", "json", "-t", token]).stdout)
    assert as_json == {"token": f"{token}/{fingerprint}", "urls": [url]}
    short = node.run(["microk8s", "add-node", "--format", "short", "-t", token]).stdout
    assert short == f"microk8s join {url}\n"
    generated = node.run(["microk8s", "add-node", "--format", "token"]).stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    too_short = node.run(["microk8s", "add-node", "--token", "short"])
    assert (too_short.returncode, too_short.stdout) == (
        1,
        "Invalid token size.  It must be 32 characters long.\n",
    )
    before = int(time.time())
    ttl = node.run(["microk8s", "add-node", "-t", "b" * 32, "-l", "60", "--format", "token"])
    after = int(time.time()) + 1
    assert ttl.returncode == 0
    lines = token_lines(node).splitlines()
    assert lines[:5] == [token] * 5
    assert lines[5] == generated
    expiry = int(lines[6].split("|")[1])
    # 60 s from when the command ran (bracketed: the machine may be slow to run it).
    assert lines[6].startswith("b" * 32 + "|") and before + 60 <= expiry <= after + 60


@pytest.fixture(scope="module")
def validator(microk8s_sim_module):
    return microk8s_sim_module(install="1.32/stable")


@pytest.mark.parametrize("case", load_cases(__file__, "join_connections"))
def test_join_connection_validation(validator, case):
    node = validator
    result = node.run(["microk8s", "join", *case["args"]])
    assert result.returncode == case["exit"]
    assert result.stdout == case.get("stdout", "")
    assert result.stderr == case.get("stderr", "")


def test_single_use_and_ttl_tokens(microk8s_sim):
    cp = microk8s_sim(install="1.32/stable")
    workers = [microk8s_sim(install="1.32/stable") for _ in range(2)]
    for node in (cp, *workers):
        node.set_knobs(join_seconds=0)
    once = cp.run(["microk8s", "add-node", "--format", "token"]).stdout.strip()
    first = workers[0].run(["microk8s", "join", f"{cp.address}:25000/{once}", "--worker"])
    assert first.returncode == 0, first.stdout + first.stderr
    second = workers[1].run(["microk8s", "join", f"{cp.address}:25000/{once}", "--worker"])
    assert second.returncode == 6
    assert second.stdout == (
        f"Contacting cluster at {cp.address}\nConnection failed. Invalid token (500).\n"
    )
    assert once not in token_lines(cp)

    shared = "c" * 32
    cp.run(["microk8s", "add-node", "-t", shared, "-l", "3600"])
    for worker in workers:
        worker.run(["microk8s", "leave"])
        joined = worker.run(["microk8s", "join", f"{cp.address}:25000/{shared}", "--worker"])
        assert joined.returncode == 0, joined.stdout
    assert shared in token_lines(cp)  # reusable until expiry: never removed

    # An expired line for a token stays first and decides: re-issuing with a TTL is refused.
    stale = "d" * 32
    cp.run(["microk8s", "add-node", "-t", stale, "-l", "-5"])
    cp.run(["microk8s", "add-node", "-t", stale, "-l", "3600"])
    workers[0].run(["microk8s", "leave"])
    refused = workers[0].run(["microk8s", "join", f"{cp.address}:25000/{stale}", "--worker"])
    assert refused.stdout.endswith("Connection failed. Invalid token (500).\n")


def test_fingerprint_mismatch_and_refresh_certs(microk8s_sim):
    cp = microk8s_sim(install="1.32/stable")
    joiner = microk8s_sim(install="1.32/stable")
    joiner.set_knobs(join_seconds=0)
    token = "e" * 32
    cp.run(["microk8s", "add-node", "-t", token])
    old = cp.run(["microk8s", "add-node", "-t", "f" * 32, "--format", "token-check"])
    old_check = old.stdout.strip().split("/")[1]

    refresh = cp.run(["microk8s", "refresh-certs", "--cert", "server.crt"])
    assert refresh.returncode == 0
    assert refresh.stdout == (
        "Taking a backup of the current certificates under "
        f"{cp.root}/var/snap/microk8s/7964/certs-backup/\n"
        "Creating new certificates\n"
        "Restarting service kubelite.\n"
        "Restarting service cluster-agent.\n"
    )
    new = cp.run(["microk8s", "add-node", "-t", "f" * 32, "--format", "token-check"])
    new_check = new.stdout.strip().split("/")[1]
    assert new_check != old_check

    stale = joiner.run(["microk8s", "join", f"{cp.address}:25000/{token}/{old_check}", "--worker"])
    assert stale.returncode == 4
    assert stale.stdout == (
        f"Contacting cluster at {cp.address}\n"
        f"Joining cluster failed. Could not verify the identity of {cp.address}. "
        "Use '--skip-verify' to skip server certificate check.\n"
    )
    # The check happens before the request: the token was not consumed.
    fresh = joiner.run(["microk8s", "join", f"{cp.address}:25000/{token}/{new_check}", "--worker"])
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr


def test_template_edit_reaches_the_server_certificate(microk8s_sim):
    node = microk8s_sim(install="1.32/stable")
    template = node.root / "var/snap/microk8s/current/certs/csr.conf.template"
    template.write_text(template.read_text().replace("#MOREIPS", "IP.3 = 10.9.9.9\n#MOREIPS"))
    assert node.run(["microk8s", "refresh-certs", "-e", "server.crt"]).returncode == 0
    rendered = (node.root / "var/snap/microk8s/current/certs/csr.conf").read_text()
    assert f"IP.3 = 10.9.9.9\nIP.4 = {node.address}\n" in rendered
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(
        (node.root / "var/snap/microk8s/current/certs/server.crt").read_bytes()
    )
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)} == {
        "127.0.0.1",
        "10.152.183.1",
        "10.9.9.9",
        node.address,
    }


def test_refresh_certs_option_rules(microk8s_sim):
    node = microk8s_sim(install="1.32/stable")
    none = node.run(["microk8s", "refresh-certs"])
    assert none.returncode == 3
    assert none.stdout.startswith(
        "Please use the '--cert' flag to select the certificate you need refreshed.\n"
    )
    both = node.run(["microk8s", "refresh-certs", "-c", "-u"])
    assert (both.returncode, both.stdout) == (
        2,
        "Please select only one of the options -c, -u or -e.\n",
    )
    check = node.run(["microk8s", "refresh-certs", "--check"])
    assert check.stdout == (
        "The CA certificate will expire in 3649 days.\n"
        "The server certificate will expire in 364 days.\n"
        "The front proxy client certificate will expire in 364 days.\n"
    )
    assert node.run(["microk8s", "refresh-certs", "-u"]).stdout == "No previous backup found\n"


def test_fault_knobs(microk8s_sim):
    cp = microk8s_sim(install="1.32/stable")
    joiner = microk8s_sim(install="1.32/stable")
    joiner.set_knobs(join_seconds=0)
    cp.set_knobs(fail_joins=1)
    token = cp.run(["microk8s", "add-node", "--format", "token"]).stdout.strip()
    failed = joiner.run(["microk8s", "join", f"{cp.address}:25000/{token}", "--worker"])
    assert failed.returncode == 6
    assert failed.stdout.endswith(
        "Connection failed. Failed to join the dqlite cluster: simulated fault "
        "(knob fail_joins) (500).\n"
    )
    burnt = joiner.run(["microk8s", "join", f"{cp.address}:25000/{token}", "--worker"])
    assert burnt.stdout.endswith("Connection failed. Invalid token (500).\n")
    assert cp.knobs()["fail_joins"] == 0

    cp.set_knobs(agent_unreachable=True)
    assert not cp.agent_running()
    token = cp.run(["microk8s", "add-node", "--format", "token"]).stdout.strip()
    refused = joiner.run(["microk8s", "join", f"{cp.address}:25000/{token}", "--worker"])
    assert refused.returncode == 1
    assert refused.stdout == f"Contacting cluster at {cp.address}\n"
    assert refused.stderr.startswith("Traceback (most recent call last):\n")
    assert refused.stderr.endswith("ConnectionRefusedError: [Errno 111] Connection refused\n")
    cp.set_knobs(agent_unreachable=False)
    assert cp.agent_running()
    joined = joiner.run(["microk8s", "join", f"{cp.address}:25000/{token}", "--worker"])
    assert joined.returncode == 0

    joiner.set_knobs(join_seconds=1.5)
    token = cp.run(["microk8s", "add-node", "--format", "token"]).stdout.strip()
    joiner.run(["microk8s", "leave"])
    joined = joiner.run(["microk8s", "join", f"{cp.address}:25000/{token}", "--worker"])
    assert joined.returncode == 0
    timing = [c for c in joiner.invocations() if c["argv"][:2] == ["microk8s", "join"]][-1]
    assert timing["duration"] >= 1.5 and timing["exit_code"] == 0

    with pytest.raises(KeyError, match="unknown knob"):
        cp.set_knobs(no_such_knob=1)
    assert yaml.safe_load(cp.run(["microk8s", "status", "--format", "yaml"]).stdout)
