"""User-data rendered by the real Terraform engine: cloud-init schema, allow-list, contract."""

import json
import subprocess

import pytest
import salt.config
import salt.utils.crypt
import yaml
from cryptography.hazmat.primitives import serialization

from kubesalt.tf import render as tf_render
from tests.support.master_config import state_master_config

# Top-level keys our user-data may use. cloud-init 22.4 does not reject unknown top-level keys
# (only 23.4+ does), so a typo such as `salt_minon:` would pass its schema: this list is ours.
ALLOWED_TOP_LEVEL_KEYS = {
    "chpasswd",
    "disable_root",
    "disk_setup",
    "final_message",
    "fqdn",
    "fs_setup",
    "hostname",
    "locale",
    "manage_etc_hosts",
    "mounts",
    "prefer_fqdn_over_hostname",
    "runcmd",
    "ssh_pwauth",
    "timezone",
    "users",
    "write_files",
}
CLOUD_INIT_SCHEMA = (
    "/usr/lib/python3/dist-packages/cloudinit/config/schemas/schema-cloud-config-v1.json"
)


def _documents(rendered):
    return {mid: yaml.safe_load(ud) for mid, ud in rendered.user_data.items()}


def _schema(cloud_init, path):
    return subprocess.run(
        [cloud_init, "schema", "--config-file", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _files(document):
    return {f["path"]: f for f in document["write_files"]}


@pytest.fixture(scope="module", params=["lab", "ha"])
def rendered(request, lab_render, ha_render):
    return {"lab": lab_render, "ha": ha_render}[request.param]


def test_every_user_data_passes_cloud_init_schema(rendered, cloud_init, tmp_path):
    for minion_id, user_data in rendered.user_data.items():
        path = tmp_path / f"{minion_id}.yaml"
        path.write_text(user_data, encoding="utf-8")
        proc = _schema(cloud_init, path)
        assert proc.returncode == 0, f"{minion_id}: {proc.stdout}{proc.stderr}"
        assert "Valid cloud-config" in proc.stdout


def test_cloud_init_schema_rejects_a_broken_document(cloud_init, tmp_path):
    """The schema check above can fail: a string `defer` (a bug we had) is refused."""
    path = tmp_path / "bad.yaml"
    path.write_text(
        "#cloud-config\nwrite_files:\n- {path: /x, content: y, defer: 'true'}\n", encoding="utf-8"
    )
    proc = _schema(cloud_init, path)
    assert proc.returncode != 0
    assert "defer" in proc.stderr + proc.stdout


def test_top_level_keys_are_allow_listed(rendered):
    for minion_id, document in _documents(rendered).items():
        unexpected = set(document) - ALLOWED_TOP_LEVEL_KEYS
        assert not unexpected, f"{minion_id}: unexpected top-level keys {unexpected}"


def test_allow_list_holds_only_keys_cloud_init_knows(cloud_init):
    schema = json.loads(open(CLOUD_INIT_SCHEMA, encoding="utf-8").read())
    known = set()
    for definition in schema["$defs"].values():
        known |= set(definition.get("properties", {}))
    assert ALLOWED_TOP_LEVEL_KEYS <= known, ALLOWED_TOP_LEVEL_KEYS - known


def test_inventory_has_the_contracted_shape(lab_render):
    domain = tf_render.LAB_DOMAIN
    assert lab_render.inventory == {
        "kubesalt": {
            "domain": domain,
            "networks": {
                "public_cidr": "10.0.0.0/16",
                "private_cidr": "10.1.0.0/16",
                "pod_cidr": "10.244.0.0/16",
                "service_cidr": "10.152.183.0/24",
            },
            "salt_master": f"salt.{domain}",
            "microk8s": {
                "control_planes": [f"k8s-master.{domain}"],
                "workers": [f"k8s-worker-0.{domain}", f"k8s-worker-1.{domain}"],
                "floating_ip": "10.0.0.20",
                "channel": "1.32/stable",
            },
            "nodes": {
                f"salt.{domain}": {"roles": ["salt_master"], "private_ip": "10.1.0.5"},
                f"bastion.{domain}": {
                    "roles": ["bastion"],
                    "private_ip": "10.1.0.1",
                    "public_ip": "10.0.0.10",
                },
                f"k8s-master.{domain}": {
                    "roles": ["microk8s_control_plane"],
                    "private_ip": "10.1.0.10",
                    "public_ip": "10.0.0.20",
                },
                f"k8s-worker-0.{domain}": {
                    "roles": ["microk8s_worker"],
                    "private_ip": "10.1.0.100",
                },
                f"k8s-worker-1.{domain}": {
                    "roles": ["microk8s_worker"],
                    "private_ip": "10.1.0.101",
                },
            },
        }
    }
    assert yaml.safe_load(lab_render.inventory_yaml) == lab_render.inventory


def test_ha_addresses_follow_the_lab_plan(ha_render):
    nodes = ha_render.inventory["kubesalt"]["nodes"]
    domain = "ha.example.internal"
    assert ha_render.inventory["kubesalt"]["microk8s"]["control_planes"] == [
        f"k8s-master.{domain}",
        f"k8s-master-1.{domain}",
        f"k8s-master-2.{domain}",
    ]
    assert nodes[f"k8s-master-2.{domain}"] == {
        "roles": ["microk8s_control_plane"],
        "private_ip": "10.1.0.12",
    }
    assert nodes[f"k8s-worker-2.{domain}"]["private_ip"] == "10.1.0.102"


def test_salt_keys_are_pre_accepted_and_the_master_pinned(rendered, tmp_path):
    documents = _documents(rendered)
    master_id = rendered.inventory["kubesalt"]["salt_master"]
    master_files = _files(documents[master_id])
    master_pub = master_files["/srv/pki/master/master.pub"]["content"]
    # From a file, as the minion checks master_finger (salt/crypt.py verify_master): Salt
    # 3008.4's pem_finger(key=...) hashes the armor lines too.
    master_pub_file = tmp_path / "master.pub"
    master_pub_file.write_text(master_pub)
    finger = salt.utils.crypt.pem_finger(path=str(master_pub_file))
    for minion_id, document in documents.items():
        files = _files(document)
        minion_pub = files["/etc/salt/pki/minion/minion.pub"]["content"]
        minion_pem = files["/etc/salt/pki/minion/minion.pem"]
        # Salt compares accepted keys as text: the very same PEM on both sides.
        assert master_files[f"/srv/pki/master/minions/{minion_id}"]["content"] == minion_pub
        private = serialization.load_pem_private_key(minion_pem["content"].encode(), None)
        assert (
            private.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
            == minion_pub
        )
        assert minion_pem["permissions"] == "0400"
        assert files["/etc/salt/pki/minion/minion_master.pub"]["content"] == master_pub
        config = yaml.safe_load(files["/etc/salt/minion.d/10-kubesalt-bootstrap.conf"]["content"])
        assert config["id"] == minion_id
        assert config["master"] == "10.1.0.5"
        assert config["master_finger"] == finger
        assert files["/etc/salt/minion_id"]["content"] == f"{minion_id}\n"
        # Only the master holds more than its own private key.
        private_keys = [f for f in files.values() if "PRIVATE KEY" in f["content"]]
        assert len(private_keys) == (2 if minion_id == master_id else 1), minion_id


def test_master_writes_keys_and_pillar_after_the_volume_is_mounted(ha_render):
    documents = _documents(ha_render)
    master = documents["salt.ha.example.internal"]
    assert master["mounts"] == [["LABEL=kubesalt-srv", "/srv", "ext4", "defaults,nofail", "0", "2"]]
    assert master["disk_setup"]["/dev/vdb"]["overwrite"] is False
    for path, entry in _files(master).items():
        if path.startswith("/srv/"):
            assert entry["defer"] is True, path
    master_conf = yaml.safe_load(
        _files(master)["/etc/salt/master.d/10-kubesalt-bootstrap.conf"]["content"]
    )
    assert master_conf["pki_dir"] == "/srv/pki/master"
    assert master_conf["auto_accept"] is False
    assert master_conf["open_mode"] is False
    assert master_conf["pillar_roots"]["base"][0] == "/srv/pillar"
    for minion_id, document in documents.items():
        if minion_id != "salt.ha.example.internal":
            assert "mounts" not in document and "disk_setup" not in document


def test_reactor_config_points_at_the_reactor_and_runner(lab_render):
    master = _documents(lab_render)[f"salt.{tf_render.LAB_DOMAIN}"]
    reactor = yaml.safe_load(
        _files(master)["/etc/salt/master.d/50-kubesalt-reactor.conf"]["content"]
    )
    assert reactor["reactor"] == [{"salt/minion/*/start": ["salt://reactor/minion_start.sls"]}]
    assert reactor["runner_dirs"] == ["/srv/kubesalt/salt/_runners"]
    assert reactor["cluster_bootstrap"]["inventory"] == "/srv/pillar/_from_terraform.sls"
    assert reactor["schedule"]["kubesalt-bootstrap"]["function"] == "cluster_bootstrap.run"


def test_root_password_and_users(ha_render, lab_render):
    for document in _documents(ha_render).values():
        assert document["chpasswd"]["users"] == [
            {"name": "root", "password": "$6$rounds=4096$saltsalt$notarealhash", "type": "hash"}
        ]
        assert [u["name"] for u in document["users"]] == ["kubesalt", "alice"]
        assert document["ssh_pwauth"] is False
    for document in _documents(lab_render).values():
        assert "chpasswd" not in document


def test_bastion_gets_forwarding_and_two_network_hosts_netplan(ha_render):
    documents = _documents(ha_render)
    bastion = _files(documents["bastion.ha.example.internal"])
    assert (
        bastion["/etc/sysctl.d/60-kubesalt-forward.conf"]["content"] == "net.ipv4.ip_forward = 1\n"
    )
    for minion_id, mac, address in (
        ("bastion.ha.example.internal", "fa:16:3e:00:00:01", "10.1.0.1/16"),
        ("k8s-master.ha.example.internal", "fa:16:3e:00:00:02", "10.1.0.10/16"),
    ):
        files = _files(documents[minion_id])
        netplan = yaml.safe_load(files["/etc/netplan/60-kubesalt-private.yaml"]["content"])
        private = netplan["network"]["ethernets"]["private"]
        assert private["match"] == {"macaddress": mac}
        assert private["addresses"] == [address]
        assert "routes" not in private and "gateway4" not in private
    worker = _files(documents["k8s-worker-0.ha.example.internal"])
    assert "/etc/sysctl.d/60-kubesalt-forward.conf" not in worker
    assert "/etc/netplan/60-kubesalt-private.yaml" not in worker


def test_hosts_and_resolv_conf(ha_render):
    files = _files(_documents(ha_render)["k8s-worker-1.ha.example.internal"])
    hosts = files["/etc/hosts"]["content"].splitlines()
    # Only localhost, the host itself and the master (issue 11 defect 3: nothing in a
    # host's user-data depends on the other hosts; Salt's core.hosts writes their lines).
    assert hosts == [
        "127.0.0.1 localhost",
        "::1 localhost ip6-localhost ip6-loopback",
        "10.1.0.101 k8s-worker-1.ha.example.internal k8s-worker-1",
        "10.1.0.5 salt.ha.example.internal salt",
    ]
    resolv = files["/etc/resolv.conf"]["content"]
    assert "search ha.example.internal\n" in resolv
    assert "nameserver 1.1.1.1\n" in resolv
    # Salt's core.resolv gets the same servers through the inventory (a lab-cloud instance
    # kept being pointed at the `lab up` lab's resolver by the environment pillar).
    nameservers = [line.split()[1] for line in resolv.splitlines() if line.startswith("nameserver")]
    assert ha_render.inventory["kubesalt"]["resolv"] == {"nameservers": nameservers}


def test_no_resolvers_in_the_inventory_unless_cloud_init_writes_them(lab_render):
    assert "resolv" not in lab_render.inventory["kubesalt"]


def test_final_message_and_runcmd(lab_render):
    for minion_id, document in _documents(lab_render).items():
        roles = lab_render.inventory["kubesalt"]["nodes"][minion_id]["roles"]
        assert document["runcmd"] == [["/usr/local/sbin/kubesalt-bootstrap", *roles]]
        assert document["final_message"].startswith(f"kubesalt: {minion_id} (")
        assert document["hostname"] == minion_id.split(".")[0]
        assert document["fqdn"] == minion_id


def _write_config_dir(tmp_path, kind, files):
    """Lay the rendered files of /etc/salt out under tmp_path the way Salt reads them."""
    (tmp_path / kind).write_text("")
    for path, entry in files.items():
        if path.startswith(f"/etc/salt/{kind}.d/"):
            target = tmp_path / f"{kind}.d" / path.rsplit("/", 1)[1]
            target.parent.mkdir(exist_ok=True)
            target.write_text(entry["content"])
    return str(tmp_path / kind)


def test_salt_reads_the_master_configuration(lab_render, tmp_path):
    files = _files(_documents(lab_render)[f"salt.{tf_render.LAB_DOMAIN}"])
    opts = salt.config.master_config(_write_config_dir(tmp_path, "master", files))
    assert opts["interface"] == "10.1.0.5"
    assert opts["pki_dir"] == "/srv/pki/master"
    assert opts["auto_accept"] is False and opts["open_mode"] is False
    assert opts["file_roots"] == {"base": ["/srv/kubesalt/salt/states", "/srv/kubesalt/salt"]}
    assert opts["pillar_roots"]["base"] == ["/srv/pillar", "/srv/kubesalt/pillar"]
    assert opts["runner_dirs"] == ["/srv/kubesalt/salt/_runners"]
    assert opts["reactor"] == [{"salt/minion/*/start": ["salt://reactor/minion_start.sls"]}]
    assert opts["schedule"]["kubesalt-bootstrap"]["function"] == "cluster_bootstrap.run"
    assert opts["cluster_bootstrap"]["orchestration"] == "orch.cluster"


def test_salt_reads_the_minion_configuration_and_pins_the_master(lab_render, tmp_path):
    minion_id = f"k8s-worker-1.{tf_render.LAB_DOMAIN}"
    files = _files(_documents(lab_render)[minion_id])
    opts = salt.config.minion_config(_write_config_dir(tmp_path, "minion", files))
    assert opts["id"] == minion_id
    assert opts["master"] == "10.1.0.5"
    assert opts["hash_type"] == "sha256"
    # A highstate does not sync the modules first (the bootstrap runner's sync_all does).
    assert opts["autoload_dynamic_modules"] is False
    # Back on the master's publisher within 1-2 s of a master restart (no back-off).
    assert (opts["recon_default"], opts["recon_max"], opts["recon_randomize"]) == (1000, 1000, True)
    # What the minion computes from the master key it holds (salt/crypt.py verify_master).
    master_pub = tmp_path / "minion_master.pub"
    master_pub.write_text(files["/etc/salt/pki/minion/minion_master.pub"]["content"])
    assert opts["master_finger"] == salt.utils.crypt.pem_finger(
        path=str(master_pub), sum_type=opts["hash_type"]
    )


def test_no_user_data_but_the_masters_depends_on_the_other_hosts(terraform):
    """Issue 11 defect 3 at render level: with the same keys, one more worker changes the
    user-data of no existing host but the master's (whose changes are ignored)."""
    two = tf_render.lab_variables(control_planes=1, workers=2, key_bits=2048)
    three = tf_render.lab_variables(control_planes=1, workers=3, key_bits=2048)
    three["master_key"] = two["master_key"]
    three["minion_keys"].update(two["minion_keys"])
    before, after = tf_render.render(two, terraform), tf_render.render(three, terraform)
    changed = sorted(i for i, ud in before.user_data.items() if after.user_data[i] != ud)
    assert changed == ["salt.lab.kubesalt.test"]
    assert sorted(set(after.user_data) - set(before.user_data)) == [
        "k8s-worker-2.lab.kubesalt.test"
    ]


def test_admission_credentials_are_the_masters(lab_render):
    """What Terraform puts in each host's admission.json is what the master's admission
    step computes from its own private key and the host's public key."""
    from cluster_lib import admission  # noqa: PLC0415

    master_files = _files(_documents(lab_render)["salt.lab.kubesalt.test"])
    secret = admission.secret_from_master_key(master_files["/srv/pki/master/master.pem"]["content"])
    for minion_id, document in _documents(lab_render).items():
        files = _files(document)
        assert files["/etc/kubesalt/admission.json"]["permissions"] == "0600"
        request = admission.parse_request(files["/etc/kubesalt/admission.json"]["content"])
        node = lab_render.inventory["kubesalt"]["nodes"][minion_id]
        pending = files["/etc/salt/pki/minion/minion.pub"]["content"]
        assert (request["id"], request["roles"], request["private_ip"]) == (
            minion_id,
            node["roles"],
            node["private_ip"],
        )
        assert admission.decide(request, secret, None, pending)[0] in ("accept", "refused")
        assert request["credential"] == admission.credential(
            secret, minion_id, admission.pub_sha256(pending), node["roles"], node["private_ip"]
        )


def test_the_masters_cache_and_join_secret_are_on_its_volume(ha_render):
    master = _files(_documents(ha_render)["salt.ha.example.internal"])
    config = yaml.safe_load(master["/etc/salt/master.d/10-kubesalt-bootstrap.conf"]["content"])
    assert config["cachedir"] == "/srv/cache/salt/master"
    assert config["pki_dir"] == "/srv/pki/master"  # the join secret: <pki_dir>/kubesalt/
    volume = _documents(ha_render)["salt.ha.example.internal"]["mounts"]
    assert volume == [["LABEL=kubesalt-srv", "/srv", "ext4", "defaults,nofail", "0", "2"]]


def test_bootstrap_master_config_says_what_the_salt_master_state_says(lab_render):
    """One author per value: the master.d file cloud-init writes holds only what the master
    needs before its first highstate and what only Terraform knows; every key that the
    salt_master state's kubesalt.conf also writes has the state's default value."""
    files = _files(_documents(lab_render)[f"salt.{tf_render.LAB_DOMAIN}"])
    bootstrap = yaml.safe_load(files["/etc/salt/master.d/10-kubesalt-bootstrap.conf"]["content"])
    state = state_master_config()
    shared = set(bootstrap) & set(state)
    assert shared == {"auto_accept", "open_mode", "file_roots", "pillar_roots", "file_recv"}
    assert {key: bootstrap[key] for key in shared} == {key: state[key] for key in shared}
    assert set(bootstrap) - shared == {"interface", "pki_dir", "cachedir"}
