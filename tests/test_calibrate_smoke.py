"""SLOW CI smoke test of the gate's calibration (minutes: asv builds and benchmarks the committed
HEAD and two commits on top of it, in a temporary clone; deselect with `-m "not slow"`).

One A/A run must pass the gate (exit 0) on a selection with the recommended read's instruction
count and one wall-clock benchmark of each kind: throughput (RecommendedStreamThroughput), first
item (RecommendedTimeToFirstItem) and server processes (WorkerProcesses). A commit that adds about
2% of the recommended read's instructions in the service's own read (`user_columns_pages`) must
fail the gate (exit 1, the count regressed), and the gate's Markdown, the pull-request comment,
must name the added function first, its listed functions explaining at least 90% of the net change.
The same injected one layer lower, in the database connection layer (`connection-instructions`),
is a scenario of the full calibration (docs/gate.md), not of this test. The command it runs:

    .venv/bin/python -m ect_perf calibrate HEAD --runs 1 \
        --scenarios aa,recommended-instructions \
        --aa-bench 'RecommendedStreamInstructions|RecommendedStreamThroughput|RecommendedTimeToFirstItem|\
WorkerProcesses' \
        --json calibration.json --reports reports

It calibrates what is committed (the clone has no uncommitted change) and shares the checkout's
asv environments (.asv/env): run no other asv meanwhile.
"""

import json
import re
import sys
from pathlib import Path

import pytest
from bounded import run_bounded

ROOT = Path(__file__).resolve().parent.parent
AA_BENCH = r"RecommendedStreamInstructions|RecommendedStreamThroughput|RecommendedTimeToFirstItem|WorkerProcesses"
# A row of each wall-clock kind that the A/A run must have measured in both revisions.
WALL_CLOCK = [
    "bench_throughput.RecommendedStreamThroughput.track_items_per_second",
    "bench_latency.RecommendedTimeToFirstItem.track_first_item_ms('p50')",
    "bench_workers.WorkerProcesses.track_two_vs_one",
]
INJECTED = {
    "recommended-instructions": ("ect_service/servicer.py", "user_columns_pages"),
}

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3900)]  # its command is bounded at 3,600 s


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("calibration")
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
            "aa," + ",".join(INJECTED),
            "--aa-bench",
            AA_BENCH,
            "--json",
            str(folder / "calibration.json"),
            "--reports",
            str(folder / "reports"),
        ],
        cwd=ROOT,
        timeout=3_600,
    )
    assert (folder / "calibration.json").is_file(), result.stdout + result.stderr[-3000:]
    report = json.loads((folder / "calibration.json").read_text())
    return result, report, {s["scenario"]: s for s in report["scenarios"]}, folder / "reports"


def test_one_aa_run_passes_on_a_wall_clock_benchmark_of_each_kind(calibrated):
    result, report, scenarios, _ = calibrated
    aa = scenarios["aa"]
    assert aa["exit_codes"] == [0], result.stdout  # no false alarm, no error
    assert (aa["instruction_calls"], aa["passed"]) == ("recommended", True)
    assert set(WALL_CLOCK) <= set(aa["median_ratios"]), sorted(aa["median_ratios"])  # each kind measured
    assert result.returncode == report["exit_code"] == 0, result.stdout
    assert "| aa | nothing (A/A) |" in result.stdout


@pytest.mark.parametrize("scenario", INJECTED)
def test_added_work_fails_the_gate_and_its_comment_names_the_function_first(calibrated, scenario):
    result, _, scenarios, reports = calibrated
    tally = scenarios[scenario]
    assert (tally["exit_codes"], tally["detected"]) == ([1], 1), result.stdout
    assert (
        1.0
        <= tally["size"]["measured_percent"][
            "bench_instructions.RecommendedStreamInstructions.track_instructions_per_item('server')"
        ]
        <= 3.0
    )
    assert tally["named_first"] == {"function": INJECTED[scenario][1], "runs": [True]}, result.stdout
    assert tally["explained"][0] >= 0.9, tally["explained"]
    comment = (reports / f"{scenario}-1.md").read_text()
    assert "🔴 regressed" in comment
    # The explanation's first line for the server: the injected function, named first.
    (first,) = re.findall(r"\*\*recommended, server\*\*: .*first: ([^\n]*)", comment)
    file, function = INJECTED[scenario]
    assert first.startswith(f"`{file}:") and f"`{function}`" in first, first
    explained = re.search(r"The \d+ functions below explain (\d+)% of the net change", comment)
    assert explained and int(explained.group(1)) >= 90, comment
