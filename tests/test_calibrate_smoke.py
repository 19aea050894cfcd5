"""SLOW CI smoke test of the gate's calibration (minutes: asv builds and benchmarks the committed
HEAD and two commits on top of it, in a temporary clone; deselect with `-m "not slow"`).

One A/A run must pass the gate (exit 0) and one run with +5% CPU instructions per streamed item
must be caught (exit 1, StreamInstructions regressed). The command it runs:

    .venv/bin/python -m ect_perf calibrate HEAD --runs 1 --scenarios aa,instructions \
        --aa-bench StreamInstructions --instructions-bench StreamInstructions --json calibration.json

It calibrates what is committed (the clone has no uncommitted change) and shares the checkout's
asv environments (.asv/env): run no other asv meanwhile.
"""

import json
import sys
from pathlib import Path

import pytest
from bounded import run_bounded

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def test_one_aa_run_passes_and_one_injected_run_is_caught(tmp_path):
    report_path = tmp_path / "calibration.json"
    result = run_bounded(
        [sys.executable, "-m", "ect_perf", "calibrate", "HEAD", "--runs", "1", "--scenarios", "aa,instructions",
         "--aa-bench", "StreamInstructions", "--instructions-bench", "StreamInstructions",
         "--json", str(report_path)],
        cwd=ROOT, timeout=3_600,
    )
    assert report_path.is_file(), result.stdout + result.stderr[-3000:]
    report = json.loads(report_path.read_text())
    scenarios = {s["scenario"]: s for s in report["scenarios"]}
    assert scenarios["aa"]["exit_codes"] == [0], result.stdout  # no false alarm
    assert scenarios["instructions"]["exit_codes"] == [1], result.stdout
    assert scenarios["instructions"]["detected"] == 1, result.stdout  # with StreamInstructions regressed
    assert result.returncode == report["exit_code"] == 0, result.stdout
    assert "| aa | nothing (A/A) |" in result.stdout and "detected 1/1" in result.stdout
