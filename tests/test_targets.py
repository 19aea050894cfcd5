"""The performance-targets command: its table, its exit codes, and a clear error without results."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def targets(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ect_perf", "targets", *args], cwd=cwd,
                          capture_output=True, text=True, env={"PYTHONPATH": str(ROOT), "PATH": ""})


def test_unknown_machine_fails_clearly():
    result = targets("--machine", "no-such-machine")
    assert result.returncode == 2
    assert result.stderr.strip() == "ect_perf targets: no asv results for machine 'no-such-machine' in results/"


def test_outside_the_repository_fails_clearly(tmp_path):
    result = targets(cwd=tmp_path)
    assert result.returncode == 2
    assert "asv.conf.json not found" in result.stderr and "Traceback" not in result.stderr


def test_bad_format_is_a_usage_error():
    result = targets("--format", "yaml")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1


def test_report_from_the_committed_results():
    """The committed history is real asv output: every target has a value and a verdict."""
    result = targets("--format", "json")
    report = json.loads(result.stdout)
    assert len(report["targets"]) == 7
    assert all(row["status"] in ("pass", "fail") and row["current"] is not None for row in report["targets"])
    assert result.returncode == (0 if report["all_pass"] else 1)

    text = targets().stdout.splitlines()
    assert text[0].startswith("Performance targets at commit ") and len(text) == 9
    markdown = targets("--format", "markdown").stdout
    assert "| Streaming throughput | > 100,000 items/s |" in markdown


def test_a_commit_without_results_is_reported():
    result = targets("--commit", "0000000")
    assert result.returncode == 2 and "no asv results" in result.stderr
