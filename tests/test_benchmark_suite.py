"""The asv suite itself: it passes `asv check`, and one quick pass of every benchmark succeeds.

Runs in the current environment (--python=same) with a private HOME, so the user's asv machine
file is untouched; --quick results are never saved.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ASV = [sys.executable, "-m", "asv"]

SPEC_BENCHMARKS = [
    "StreamThroughput.time_drain_stream",
    "StreamThroughput.track_items_per_second",
    "StreamThroughput.track_microseconds_per_item",
    "UnaryBaseline.time_get_workflow",
    "TimeToFirstItem.time_first_item",
    "TimeToFirstItem.track_first_item_ms",
    "StreamingVsBufferingPeakMemory.peakmem_stream",
    "StreamingVsBufferingPeakMemory.peakmem_buffered",
    "AllocatedMemory.track_allocated_kb",
    "AllocatedMemory.track_buffered_to_stream_ratio",
    "GcPressure.track_gc_collections",
    "ConcurrentStreams.track_aggregate_items_per_second",
    "ConcurrencyDegradation.track_degradation_at_50_streams",
    "Backpressure.time_slow_consumer",
    "Backpressure.track_server_rss_growth_mb",
    "CpuPerItem.track_cpu_us_per_item",
]


@pytest.fixture(scope="module")
def asv_env(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    env = {**os.environ, "HOME": str(home)}
    for variable in ("ECT_BENCH_DB_URL", "ECT_BENCH_LARGE_DB_URL"):
        env.pop(variable, None)
    subprocess.run([sys.executable, "-m", "ect_perf", "machine"], cwd=ROOT, env=env, check=True)
    return env


def test_asv_check(asv_env):
    result = subprocess.run([*ASV, "check", "--python=same"], cwd=ROOT, env=asv_env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_quick_run_of_every_benchmark_succeeds(asv_env):
    result = subprocess.run(
        [*ASV, "run", "--python=same", "--quick", "--machine", "python-svc", "--show-stderr"],
        cwd=ROOT, env=asv_env, capture_output=True, text=True, timeout=900,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]  # asv exits 2 when any benchmark failed
    for name in SPEC_BENCHMARKS:
        assert name.split(".")[-1] in output, f"{name} did not run"
    assert "failed" not in output.lower() and "skipped" not in output.lower(), output[-5000:]
