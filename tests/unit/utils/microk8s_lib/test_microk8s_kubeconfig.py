"""microk8s_lib.kubeconfig: the operator's kubeconfig, cases in cases/kubeconfig.yaml."""

import pytest
import yaml

from microk8s_lib import kubeconfig
from tests.support.cases import load_cases

ADMIN = """apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: Q0E=
    server: https://10.1.0.10:16443
  name: microk8s-cluster
contexts:
- context:
    cluster: microk8s-cluster
    user: admin
  name: microk8s
current-context: microk8s
kind: Config
preferences: {}
users:
- name: admin
  user:
    client-certificate-data: Q0VSVA==
    client-key-data: S0VZ
"""


@pytest.mark.parametrize("case", load_cases(__file__, "kubeconfig"))
def test_api_url(case):
    if "error" in case:
        with pytest.raises(ValueError, match=case["error"]):
            kubeconfig.api_url(case["address"])
    else:
        assert kubeconfig.api_url(case["address"]) == case["url"]


def test_for_operator_renames_and_points_at_the_api():
    text, info = kubeconfig.for_operator(ADMIN, "https://10.0.0.20:16443", name="kubesalt")
    data = yaml.safe_load(text)
    assert data["clusters"] == [
        {
            "cluster": {"certificate-authority-data": "Q0E=", "server": "https://10.0.0.20:16443"},
            "name": "kubesalt",
        }
    ]
    assert data["contexts"] == [
        {"context": {"cluster": "kubesalt", "user": "kubesalt-admin"}, "name": "kubesalt"}
    ]
    assert data["current-context"] == "kubesalt"
    assert data["users"][0]["name"] == "kubesalt-admin"
    assert data["users"][0]["user"]["client-key-data"] == "S0VZ"
    assert info == {
        "server": "https://10.0.0.20:16443",
        "cluster": "kubesalt",
        "context": "kubesalt",
        "user": "kubesalt-admin",
        "credential": "client certificate",
    }
    assert "S0VZ" not in str(info)


def test_for_operator_keeps_names_without_one():
    _, info = kubeconfig.for_operator(ADMIN, "https://10.0.0.20:16443")
    assert (info["cluster"], info["context"], info["user"]) == (
        "microk8s-cluster",
        "microk8s",
        "admin",
    )


@pytest.mark.parametrize("text", ["", "kind: Pod\n", "[unclosed", "This MicroK8s deployment"])
def test_for_operator_refuses_what_is_no_kubeconfig(text):
    with pytest.raises(ValueError, match=r"kubeconfig|YAML"):
        kubeconfig.for_operator(text, "https://10.0.0.20:16443")
