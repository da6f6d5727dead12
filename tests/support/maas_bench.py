"""Helpers the MAAS benchmarks share: the region API request counter and a CLI runner."""

import subprocess

import pytest

import maas_lib.client as maas_client


@pytest.fixture
def counted_requests(monkeypatch):
    """``{"n": requests}`` sent through our MAAS client while the test runs."""
    counter = {"n": 0}
    original = maas_client.MaasClient.request

    def counting(self, *args, **kwargs):
        before = self.requests
        try:
            return original(self, *args, **kwargs)
        finally:
            counter["n"] += self.requests - before

    monkeypatch.setattr(maas_client.MaasClient, "request", counting)
    return counter


def run(argv, stdin=""):
    """Runs a simulator CLI command; its stdout, or the test fails with its stderr."""
    res = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 0, res.stderr
    return res.stdout
