"""Which machine paths the lab must bind into its hosts (their own /tmp, /run hide them)."""

import pytest

from kubesalt.lab.lab import machine_paths_hidden_in_hosts


@pytest.mark.parametrize(
    ("paths", "expected"),
    [
        (["/work/main", "/work/main/.venv"], []),
        (["/tmp/fresh", "/tmp/fresh/.venv"], ["/tmp/fresh"]),
        (["/run/ci/clone", "/root/.pyenv/versions/3.11.7"], ["/run/ci/clone"]),
        (["/tmpfoo/clone"], []),
        (["/tmp/a", "/tmp/b/.venv"], ["/tmp/a", "/tmp/b/.venv"]),
    ],
)
def test_paths_under_the_hosts_own_dirs_are_bound(paths, expected):
    assert machine_paths_hidden_in_hosts(paths) == expected
