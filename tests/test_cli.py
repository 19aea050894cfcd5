"""The ect-service command line, run as a user runs it."""

import json
import subprocess
import sys

import pytest

from benchmarks.measuring.harness import ServerProcess


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ect_service", *args], capture_output=True, text=True, timeout=120, env=env
    )


@pytest.mark.parametrize(
    "args",
    [
        ["serve", "--port", "notaport"],
        ["serve", "--port", "70000"],
        ["seed", "--users", "-1"],
        ["seed", "--db", "nosuchdialect://x"],
        ["serve", "--db", "postgresql+nosuchdriver://localhost/x"],
        ["frobnicate"],
        [],
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(args):
    result = cli(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "error" in lines[0], result.stderr


PASSWORD = "S3cretPW"


@pytest.mark.parametrize(
    "args",
    [
        ["seed", "--db", f"nosuchdb://alice:{PASSWORD}@127.0.0.1/x"],
        ["serve", "--db", f"nosuchdb://alice:{PASSWORD}@127.0.0.1/x"],
        ["seed", "--db", f"postgresql://alice:{PASSWORD}@127.0.0.1:notaport/x"],
        ["serve", "--db", f"postgresql://alice:{PASSWORD}@127.0.0.1:99999/x"],
        ["seed", "--db", "sqlite://"],
        ["serve", "--db", "sqlite:///:memory:"],
        ["seed", "--db", "sqlite:////proc/nope/ect.db"],
        ["serve", "--db", "sqlite:////dev/null/x.db"],
        ["serve", "--grace", "-1"],
        ["serve", "--grace", "nan"],
        ["serve", "--max-streams", "0"],
        ["serve", "--workers", "0"],
        ["serve", "--stream-idle-timeout", "0"],
        ["serve", "--call-timeout", "0"],
        ["serve", "--call-timeout", "inf"],
        ["stream", "--timeout", "0"],
        ["get-workflow", "x", "--timeout", "-5"],
    ],
)
def test_bad_configuration_gives_one_line_exit_2_and_no_password(args):
    result = cli(*args)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "error" in lines[0], result.stderr
    assert PASSWORD not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("command", ["seed", "serve"])
def test_a_bad_url_from_the_environment_is_masked_too(command):
    result = cli(command, env={"ECT_DB_URL": f"nosuchdb://alice:{PASSWORD}@127.0.0.1/x", "PATH": ""})
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert PASSWORD not in result.stderr and "alice:***@" in result.stderr


def test_help_for_each_command():
    for command in ("serve", "seed", "stream", "get-workflow"):
        result = cli(command, "--help")
        assert result.returncode == 0 and "usage: ect-service" in result.stdout


def test_seed_uses_the_data_dir_by_default(tmp_path):
    env = {"ECT_DATA_DIR": str(tmp_path), "PATH": ""}
    first = cli("seed", "--users", "50", "--workflows", "2", env=env)
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "ect.db").exists()
    assert "50 users (50 new)" in first.stdout
    assert "50 users (0 new)" in cli("seed", "--users", "50", "--workflows", "2", env=env).stdout


def test_stream_and_get_workflow_against_a_server(small_sqlite_url):
    with ServerProcess(small_sqlite_url) as server:
        stream = cli("stream", "--target", server.target, "--json")
        assert stream.returncode == 0, stream.stderr
        stats = json.loads(stream.stdout)
        assert stats["rpc"] == "StreamUsersOnline"
        assert stats["items"] == 10 and stats["first_item_ms"] > 0 and stats["items_per_second"] > 0
        per_item = cli("stream", "--target", server.target, "--rpc", "GetUsersOnlineStream")
        assert per_item.returncode == 0, per_item.stderr
        assert per_item.stdout.startswith("GetUsersOnlineStream: items: 10 ")

        found = cli("get-workflow", "test-workflow-2", "--target", server.target)
        assert found.returncode == 0 and json.loads(found.stdout)["id"] == "test-workflow-2"

        missing = cli("get-workflow", "nope", "--target", server.target)
        assert missing.returncode == 1
        assert missing.stderr.strip() == "ect-service get-workflow: NOT_FOUND: workflow 'nope' not found"


def test_serve_on_a_taken_port_fails_with_a_message(small_sqlite_url):
    with ServerProcess(small_sqlite_url) as server:
        port = server.target.rsplit(":", 1)[1]
        result = cli("serve", "--db", small_sqlite_url, "--port", port)
    assert result.returncode == 1
    assert "cannot bind" in result.stderr
