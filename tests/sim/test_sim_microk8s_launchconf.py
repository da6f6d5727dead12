"""Launch configurations: install-time pre-init subset, then the agent applies the rest."""

from cryptography import x509

from tests.support.waiting import wait_until

PERSISTENT = "p" * 40


def wait_for(path, timeout=60):
    # The agent applies files every 5 s, each addon or join in a child `microk8s` process.
    wait_until(path.exists, timeout, f"the launch configuration {path.name}", interval=0.2)


def test_install_time_and_runtime_configuration(microk8s_sim):
    cp = microk8s_sim()
    (cp.root / "etc").mkdir(parents=True)
    (cp.root / "etc/microk8s.yaml").write_text(
        "version: 0.1.0\n"
        f"persistentClusterToken: {PERSISTENT}\n"
        "extraSANs: [10.9.9.9, api.example.test]\n"
        "extraKubeletArgs:\n  --max-pods: '200'\n  --cluster-dns: null\n"
        "addons:\n  - name: metrics-server\n"
        "shinyNewKey: 1\n"
    )
    cp.install("1.32/stable")
    data = cp.root / "var/snap/microk8s/current"
    # Appended by the install hook and again when the agent applies install.yaml (upstream
    # appends on every application too).
    persistent = (data / "credentials/persistent-cluster-tokens.txt").read_text().split()
    assert persistent and set(persistent) == {PERSISTENT}
    template = (data / "certs/csr.conf.template").read_text()
    assert "DNS.5 = api.example.test\n" in template and "IP.2 = 10.9.9.9\n" in template
    cert = x509.load_pem_x509_certificate((data / "certs/server.crt").read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "api.example.test" in sans.get_values_for_type(x509.DNSName)
    kubelet = (data / "args/kubelet").read_text()
    assert "--max-pods=200" in kubelet and "--cluster-dns" not in kubelet

    launcher = cp.root / "var/snap/microk8s/common/etc/launcher"
    wait_for(launcher / "install.yaml.applied")
    assert cp.run(["microk8s", "status", "-a", "metrics-server"]).stdout == "enabled\n"

    # The persistent token is never consumed: two nodes join with it, one at runtime from a
    # launch configuration dropped into the launcher directory.
    first = microk8s_sim(install="1.32/stable")
    first.set_knobs(join_seconds=0)
    url = f"{cp.address}:25000/{PERSISTENT}"
    assert first.run(["microk8s", "join", url, "--worker"]).returncode == 0
    second = microk8s_sim(install="1.32/stable")
    second.set_knobs(join_seconds=0)
    drop = second.root / "var/snap/microk8s/common/etc/launcher/join.yaml"
    drop.parent.mkdir(parents=True, exist_ok=True)
    drop.write_text(f"version: 0.2.0\njoin:\n  url: {url}\n  worker: true\n")
    wait_for(drop.parent / "join.yaml.applied")
    assert (second.root / "var/snap/microk8s/current/var/lock/clustered.lock").exists()


def test_bad_launch_configuration_fails_the_install(microk8s_sim):
    node = microk8s_sim()
    (node.root / "etc").mkdir(parents=True)
    (node.root / "etc/microk8s.yaml").write_text("version: 9.9.9\n")
    result = node.run(["snap", "install", "microk8s", "--classic", "--channel=1.32/stable"])
    assert result.returncode == 1
    assert result.stderr.startswith(
        "error: cannot perform the following tasks:\n"
        '- Run install hook of "microk8s" snap if present (run hook "install":'
    )
    assert node.run(["snap", "list", "microk8s"]).returncode == 1
    assert not node.agent_running()
