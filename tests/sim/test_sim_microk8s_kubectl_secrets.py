"""``microk8s kubectl`` on namespaces and secrets: kubectl's texts and exit codes, the objects in
the cluster's shared state (every control plane answers), and a secret given on stdin never in
the simulator's invocation log. What salt/_modules/maas.py (apikey export) relies on."""

import base64
import json

import pytest

KEY = "consumerKEY:tokenKEY123:tokenSECRET456789"
ENCODED = base64.b64encode(KEY.encode()).decode()


def manifest(data=None, namespace="maas", name="maas-api-key", **extra):
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {"app.kubernetes.io/managed-by": "kubesalt"},
            },
            "data": {"token": ENCODED} if data is None else data,
            **extra,
        }
    )


def kubectl(node, *args, stdin=None):
    result = node.run(["microk8s", "kubectl", *args], input=stdin)
    return result.returncode, result.stdout, result.stderr


@pytest.fixture(scope="module")
def control_plane(microk8s_sim_module):
    node = microk8s_sim_module(install="1.32/stable")
    node.set_knobs(ready_seconds=0)
    return node


def test_namespaces(control_plane):
    assert kubectl(control_plane, "get", "namespace", "maas") == (
        1,
        "",
        'Error from server (NotFound): namespaces "maas" not found\n',
    )
    assert kubectl(control_plane, "create", "namespace", "maas") == (
        0,
        "namespace/maas created\n",
        "",
    )
    assert kubectl(control_plane, "create", "namespace", "maas") == (
        1,
        "",
        'Error from server (AlreadyExists): namespaces "maas" already exists\n',
    )
    code, stdout, _ = kubectl(control_plane, "get", "namespace", "maas")
    assert code == 0
    assert stdout.split("\n")[0].split() == ["NAME", "STATUS", "AGE"]
    assert stdout.split("\n")[1].split()[:2] == ["maas", "Active"]
    code, stdout, _ = kubectl(control_plane, "get", "ns", "-o", "name")
    assert stdout.split() == [
        "namespace/default",
        "namespace/kube-node-lease",
        "namespace/kube-public",
        "namespace/kube-system",
        "namespace/maas",
    ]
    code, _, stderr = kubectl(control_plane, "create", "namespace", "Not_A_Label")
    assert code == 1
    assert stderr.startswith('The Namespace "Not_A_Label" is invalid: metadata.name: Invalid')
    assert kubectl(control_plane, "delete", "namespace", "kube-system")[0] == 1


def test_secret_lifecycle(control_plane):
    kubectl(control_plane, "create", "namespace", "sec")
    assert kubectl(control_plane, "get", "secret", "maas-api-key", "-n", "sec", "-o", "json") == (
        1,
        "",
        'Error from server (NotFound): secrets "maas-api-key" not found\n',
    )
    apply = ["apply", "-f", "-"]
    assert kubectl(control_plane, *apply, stdin=manifest(namespace="sec")) == (
        0,
        "secret/maas-api-key created\n",
        "",
    )
    assert kubectl(control_plane, *apply, stdin=manifest(namespace="sec")) == (
        0,
        "secret/maas-api-key unchanged\n",
        "",
    )
    code, stdout, _ = kubectl(
        control_plane, "get", "secret", "maas-api-key", "-n", "sec", "-o", "json"
    )
    assert code == 0
    secret = json.loads(stdout)
    assert secret["kind"] == "Secret"
    assert secret["type"] == "Opaque"
    assert secret["metadata"]["namespace"] == "sec"
    assert secret["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "kubesalt"}
    assert base64.b64decode(secret["data"]["token"]).decode() == KEY
    assert secret["metadata"]["resourceVersion"] == "1"

    other = base64.b64encode(b"another:key:value").decode()
    assert kubectl(control_plane, *apply, stdin=manifest({"token": other}, namespace="sec")) == (
        0,
        "secret/maas-api-key configured\n",
        "",
    )
    secret = json.loads(
        kubectl(control_plane, "get", "secret", "maas-api-key", "-n", "sec", "-o", "json")[1]
    )
    assert secret["data"] == {"token": other}
    assert secret["metadata"]["resourceVersion"] == "2"

    # YAML and stringData, as a user would write them.
    yaml_manifest = (
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: plain\n  namespace: sec\n"
        "stringData:\n  password: s3cret\n"
    )
    assert kubectl(control_plane, *apply, stdin=yaml_manifest)[:2] == (0, "secret/plain created\n")
    listing = kubectl(control_plane, "get", "secrets", "-n", "sec")[1].splitlines()
    assert [line.split()[:3] for line in listing] == [
        ["NAME", "TYPE", "DATA"],
        ["maas-api-key", "Opaque", "1"],
        ["plain", "Opaque", "1"],
    ]
    assert kubectl(control_plane, "delete", "secret", "plain", "-n", "sec") == (
        0,
        'secret "plain" deleted\n',
        "",
    )
    assert kubectl(control_plane, "get", "secret", "plain", "-n", "sec")[0] == 1


def test_apply_errors(control_plane):
    apply = ["apply", "-f", "-"]
    assert kubectl(control_plane, *apply, stdin=manifest(namespace="nowhere")) == (
        1,
        "",
        'Error from server (NotFound): error when creating "STDIN": namespaces "nowhere" not '
        "found\n",
    )
    kubectl(control_plane, "create", "namespace", "errs")
    code, _, stderr = kubectl(
        control_plane, *apply, stdin=manifest({"token": "not base64!"}, namespace="errs")
    )
    assert code == 1
    assert stderr.startswith(
        'Error from server (BadRequest): error when creating "STDIN": Secret in version "v1" '
        "cannot be handled as a Secret: illegal base64 data"
    )
    code, _, stderr = kubectl(
        control_plane, *apply, "-n", "default", stdin=manifest(namespace="errs")
    )
    assert code == 1
    assert stderr.startswith(
        'error: the namespace from the provided object "errs" does not match the namespace '
        '"default".'
    )
    assert kubectl(control_plane, *apply, stdin="") == (
        1,
        "",
        "error: no objects passed to apply\n",
    )
    # A failed apply wrote nothing.
    assert kubectl(control_plane, "get", "secret", "maas-api-key", "-n", "errs")[0] == 1


def test_the_key_is_never_in_the_invocation_log(control_plane):
    kubectl(control_plane, "create", "namespace", "logged")
    control_plane.clear_invocations()
    assert kubectl(control_plane, "apply", "-f", "-", stdin=manifest(namespace="logged"))[0] == 0
    assert (
        kubectl(control_plane, "get", "secret", "maas-api-key", "-n", "logged", "-o", "json")[0]
        == 0
    )
    records = control_plane.invocations()
    assert [record["argv"][1:] for record in records] == [
        ["kubectl", "apply", "-f", "-"],
        ["kubectl", "get", "secret", "maas-api-key", "-n", "logged", "-o", "json"],
    ]
    text = control_plane.host.invocation_log.read_text()
    assert KEY not in text
    assert ENCODED not in text


def test_every_control_plane_answers(microk8s_sim):
    first = microk8s_sim(install="1.32/stable")
    second = microk8s_sim(install="1.32/stable")
    for node in (first, second):
        node.set_knobs(join_seconds=0, ready_seconds=0)
    token = first.run(["microk8s", "add-node", "--format", "token"]).stdout.strip()
    joined = second.run(["microk8s", "join", f"{first.address}:25000/{token}"])
    assert joined.returncode == 0, joined.stdout + joined.stderr

    assert kubectl(first, "create", "namespace", "maas")[0] == 0
    assert kubectl(second, "create", "namespace", "maas")[0] == 1  # already there
    assert (
        kubectl(second, "apply", "-f", "-", stdin=manifest())[1] == "secret/maas-api-key created\n"
    )
    code, stdout, _ = kubectl(first, "get", "secret", "maas-api-key", "-n", "maas", "-o", "json")
    assert code == 0
    assert json.loads(stdout)["data"] == {"token": ENCODED}
    assert (
        kubectl(first, "apply", "-f", "-", stdin=manifest())[1] == "secret/maas-api-key unchanged\n"
    )


def test_other_kinds_are_said_not_simulated(control_plane):
    code, _, stderr = kubectl(control_plane, "create", "deployment", "web", "--image=nginx")
    assert (code, stderr) == (1, "kubectl create deployment is not simulated by kubesalt.\n")
    deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"
    assert kubectl(control_plane, "apply", "-f", "-", stdin=deployment) == (
        1,
        "",
        'kubectl apply of kind "Deployment" is not simulated by kubesalt.\n',
    )
    wrong_version = manifest().replace('"apiVersion": "v1"', '"apiVersion": "v2"')
    assert kubectl(control_plane, "apply", "-f", "-", stdin=wrong_version) == (
        1,
        "",
        'error: resource mapping not found for name: "maas-api-key" namespace: "maas" from '
        '"STDIN": no matches for kind "Secret" in version "v2"\nensure CRDs are installed first\n',
    )
