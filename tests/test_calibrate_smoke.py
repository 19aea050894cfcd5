"""SLOW CI smoke test of the gate's calibration (minutes: asv builds and benchmarks the committed
HEAD and two commits on top of it, in a temporary clone; deselect with `-m "not slow"`).

One A/A run must pass the gate (exit 0) on a selection with the stream's instruction count and one
wall-clock benchmark of each kind: throughput (RecommendedStreamThroughput), first item
(RecommendedTimeToFirstItem) and server processes (WorkerProcesses); and one run with +5% CPU
instructions per streamed item must be caught (exit 1, StreamInstructions regressed), the gate's
explanation naming `user_item` first. The command it runs:

    .venv/bin/python -m ect_perf calibrate HEAD --runs 1 --scenarios aa,instructions \
        --aa-bench '\\.StreamInstructions|RecommendedStreamThroughput|RecommendedTimeToFirstItem|WorkerProcesses' \
        --json calibration.json

It calibrates what is committed (the clone has no uncommitted change) and shares the checkout's
asv environments (.asv/env): run no other asv meanwhile.
"""

import json
import sys
from pathlib import Path

import pytest
from bounded import run_bounded

ROOT = Path(__file__).resolve().parent.parent
AA_BENCH = r"\.StreamInstructions|RecommendedStreamThroughput|RecommendedTimeToFirstItem|WorkerProcesses"
# A row of each wall-clock kind that the A/A run must have measured in both revisions.
WALL_CLOCK = [
    "bench_throughput.RecommendedStreamThroughput.track_items_per_second",
    "bench_latency.RecommendedTimeToFirstItem.track_first_item_ms('p50')",
    "bench_workers.WorkerProcesses.track_two_vs_one",
]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3900)]  # its command is bounded at 3,600 s


def test_one_aa_run_passes_and_one_injected_run_is_caught(tmp_path):
    report_path = tmp_path / "calibration.json"
    result = run_bounded(
        [
            sys.executable,
            "-m",
            "ect_perf",
            "calibrate",
            "HEAD",
            "--runs",
            "1",
            "--scenarios",
            "aa,instructions",
            "--aa-bench",
            AA_BENCH,
            "--json",
            str(report_path),
        ],
        cwd=ROOT,
        timeout=3_600,
    )
    assert report_path.is_file(), result.stdout + result.stderr[-3000:]
    report = json.loads(report_path.read_text())
    scenarios = {s["scenario"]: s for s in report["scenarios"]}
    aa = scenarios["aa"]
    assert aa["exit_codes"] == [0], result.stdout  # no false alarm, no error
    assert (aa["instruction_calls"], aa["passed"]) == ("stream", True)
    assert set(WALL_CLOCK) <= set(aa["median_ratios"]), sorted(aa["median_ratios"])  # each kind measured
    assert scenarios["instructions"]["exit_codes"] == [1], result.stdout
    assert scenarios["instructions"]["detected"] == 1, result.stdout  # with StreamInstructions regressed
    assert scenarios["instructions"]["size"]["measured_percent"], result.stdout
    assert scenarios["instructions"]["named_first"] == {"function": "user_item", "runs": [True]}, result.stdout
    assert result.returncode == report["exit_code"] == 0, result.stdout
    assert "| aa | nothing (A/A) |" in result.stdout and "detected 1/1" in result.stdout
