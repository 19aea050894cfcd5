"""The pull-request gate against a real regression, in a temporary clone.

A commit in the clone makes streaming slower for real: the stream's query fetches one row per trip
to its database thread instead of a thousand. The gate must exit 1 and name the streaming
benchmarks (their time went up, their items/s went down); a commit compared with itself must exit 0.
This builds both revisions with asv, so it takes a few minutes.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STREAMING = "StreamThroughput"
GIT_USER = ["-c", "user.name=gate test", "-c", "user.email=gate-test@example.invalid"]


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=1_800)


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("gate") / "repo"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(path)], check=True)
    queries = path / "ect_service" / "queries.py"
    source = queries.read_text()
    assert "BATCH_SIZE = 1_000" in source, "the regression below no longer applies: update this test"
    queries.write_text(source.replace("BATCH_SIZE = 1_000", "BATCH_SIZE = 1"))
    subprocess.run(["git", *GIT_USER, "commit", "-qam", "Fetch online users one row at a time"], cwd=path, check=True)
    subprocess.run([sys.executable, "-m", "ect_perf", "machine"], cwd=path, check=True)
    return path


def gate(clone: Path, base: str, head: str, bench: str = STREAMING) -> tuple[int, dict, str]:
    result = run(sys.executable, "-m", "ect_perf", "gate", base, head, "--bench", bench,
                 "--json", "gate.json", "--markdown", "gate.md", cwd=clone)
    assert (clone / "gate.json").exists(), result.stdout + result.stderr[-3000:]
    return result.returncode, json.loads((clone / "gate.json").read_text()), result.stdout


def test_gate_catches_a_real_streaming_regression(clone):
    code, report, summary = gate(clone, "HEAD~1", "HEAD")
    verdicts = {row["benchmark"]: row["verdict"] for row in report["benchmarks"]}
    assert code == 1, summary
    assert report["exit_code"] == 1
    regressed = {name for name, verdict in verdicts.items() if verdict == "regressed"}
    assert {
        "bench_throughput.StreamThroughput.time_drain_stream",
        "bench_throughput.StreamThroughput.track_items_per_second",  # lower items/s is worse
        "bench_throughput.StreamThroughput.track_microseconds_per_item",
    } <= regressed, verdicts
    assert "🔴 regressed" in summary and "time_drain_stream" in summary
    assert (clone / "gate.md").read_text().strip() == summary.strip()  # the summary for the PR comment


def test_gate_passes_a_commit_against_itself(clone):
    code, report, summary = gate(clone, "HEAD", "HEAD")
    assert code == 0, summary
    assert {row["verdict"] for row in report["benchmarks"]} == {"unchanged"}
    assert len(report["benchmarks"]) == 3


def test_gate_with_nothing_selected_has_its_own_exit_code(clone):
    code, report, _ = gate(clone, "HEAD", "HEAD", bench="no_such_benchmark")
    assert code == 3 and report["benchmarks"] == []
