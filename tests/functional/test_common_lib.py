"""common_lib: the one command runner (on Salt's real cmd.run_all), secret masking, minion
options and state returns every execution and state module here shares."""

import pytest
from salt.exceptions import CommandExecutionError

from common_lib import command
from common_lib import files
from common_lib import options
from common_lib import redact
from common_lib import state

SECRET = "s3cr3t-t0ken-0123456789abcdef"


@pytest.fixture
def run_all(modules):
    """Salt's own cmd.run_all, through the loader."""
    return modules.cmd.run_all


def test_run_masks_secrets_but_keeps_the_raw_stdout(run_all, caplog):
    caplog.set_level("DEBUG")
    script = f"echo out {SECRET}; echo err {SECRET} >&2; exit 3"
    result = command.run(run_all, ["sh", "-c", script], secrets=[SECRET])
    assert result["retcode"] == 3
    assert result["stdout"] == f"out {redact.MASK}"
    assert result["stderr"] == f"err {redact.MASK}"
    assert result["raw_stdout"] == f"out {SECRET}"
    assert command.output(result) == f"out {redact.MASK}\nerr {redact.MASK}"
    assert SECRET not in caplog.text and "sh -c" in caplog.text


def test_run_gives_an_empty_closed_stdin_and_c_locale(run_all):
    result = command.run(run_all, ["sh", "-c", "cat; echo $LC_ALL"])
    assert result["stdout"] == "C.UTF-8"


def test_a_missing_executable_is_a_missing_prerequisite(run_all):
    with pytest.raises(state.PrerequisiteMissing) as caught:
        command.run(
            run_all,
            ["/nonexistent/kubesalt-cli", SECRET],
            secrets=[SECRET],
            what="reading the thing",
            cannot_run="Install it first",
        )
    message = str(caught.value)
    assert message.startswith("reading the thing failed: could not run '/nonexistent/")
    assert message.endswith(". Install it first") and SECRET not in message
    assert isinstance(caught.value, CommandExecutionError)


@pytest.mark.parametrize(
    ("opts", "expected"),
    [
        ({"microk8s.bin": "/flat", "microk8s": {"bin": "/nested"}}, "/flat"),
        ({"microk8s": {"bin": "/nested"}}, "/nested"),
        ({"microk8s": "not a mapping"}, "default"),
        ({}, "default"),
    ],
)
def test_option_flat_or_nested(opts, expected):
    assert options.option(opts, "microk8s", "bin", "default") == expected


@pytest.mark.parametrize("test", [False, True])
def test_only_a_missing_prerequisite_is_none_in_test_mode(test):
    missing = state.failed(state.new("a"), state.PrerequisiteMissing("not installed"), test)
    assert missing["result"] is (None if test else False)
    assert missing["comment"].startswith("not installed")
    assert (state.WOULD_FAIL in missing["comment"]) is test
    wrong = state.failed(state.new("b"), CommandExecutionError("HTTP 401"), test)
    assert wrong["result"] is False and wrong["comment"] == "HTTP 401"


def test_read_text_is_none_only_for_a_missing_file(tmp_path):
    present = tmp_path / "master.pub"
    present.write_text("key\n", encoding="utf-8")
    assert files.read_text(present) == "key\n"
    assert files.read_text(tmp_path / "minions_pre" / "node-1") is None
    with pytest.raises(IsADirectoryError):
        files.read_text(tmp_path)
