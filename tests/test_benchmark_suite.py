"""The asv suite itself: it passes `asv check`, and one quick pass of every benchmark succeeds.

Runs in the current environment (--python=same) with a private HOME, so the user's asv machine
file is untouched; --quick results are never saved.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ASV = [sys.executable, "-m", "asv"]

# Every benchmark of the suite, by the name asv gives it: each has its entry in verdicts.json.
SPEC_BENCHMARKS = [
    "bench_instructions.StreamInstructions.track_instructions_per_item",
    "bench_instructions.BufferedInstructions.track_instructions_per_item",
    "bench_instructions.UnaryInstructions.track_instructions_per_call",
    "bench_instructions.RecommendedStreamInstructions.track_instructions_per_item",
    "bench_throughput.StreamThroughput.time_drain_stream",
    "bench_throughput.StreamThroughput.track_items_per_second",
    "bench_throughput.StreamThroughput.track_microseconds_per_item",
    "bench_throughput.RecommendedStreamThroughput.track_items_per_second",
    "bench_throughput.UnaryBaseline.time_get_workflow",
    "bench_latency.TimeToFirstItem.track_first_item_ms",
    "bench_latency.RecommendedTimeToFirstItem.track_first_item_ms",
    "bench_memory.StreamingVsBufferingPeakMemory.peakmem_stream",
    "bench_memory.StreamingVsBufferingPeakMemory.peakmem_buffered",
    "bench_memory.AllocatedMemory.track_allocated_kb",
    "bench_memory.AllocatedMemory.track_buffered_to_stream_ratio",
    "bench_memory.RecommendedStreamMemory.track_allocated_kb",
    "bench_memory.RecommendedStreamMemory.track_buffered_to_stream_ratio",
    "bench_memory.GcPressure.track_gc_collections",
    "bench_concurrency.ConcurrentStreams.track_aggregate_items_per_second",
    "bench_concurrency.ConcurrentStreams.track_first_item_ms",
    "bench_concurrency.ConcurrentStreams.track_time_to_all_ms",
    "bench_concurrency.ConcurrentStreams.track_concurrent_streams",
    "bench_concurrency.ConcurrencyDegradation.track_throughput_50_vs_1",
    "bench_concurrency.Backpressure.track_server_wait_ms",
    "bench_concurrency.Backpressure.track_server_rss_growth_mb",
    "bench_cpu.CpuPerItem.track_cpu_us_per_item",
    "bench_workers.WorkerProcesses.track_items_per_second",
    "bench_workers.WorkerProcesses.track_two_vs_one",
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
        assert name.split(".", 1)[1] in output or name.split(".")[-1] in output, f"{name} did not run"
    assert "failed" not in output.lower() and "skipped" not in output.lower(), output[-5000:]


def test_every_benchmark_has_a_verdict_entry():
    """The gate judges each benchmark by its entry; the suite's benchmarks (as the last real asv run
    recorded them in results/benchmarks.json) and the entries are the same set."""
    suite = set(json.loads((ROOT / "results" / "benchmarks.json").read_text())) - {"version"}
    entries = set(json.loads((ROOT / "benchmarks" / "verdicts.json").read_text())["benchmarks"])
    assert suite == entries == set(SPEC_BENCHMARKS)


def test_committed_wall_clock_results_carry_statistics():
    """asv (pinned) stores the samples a track_ returns as {"samples": [...], "number": 1} with their
    statistics: every benchmark judged by statistics has samples in the newest result."""
    from ect_perf.asv_results import latest_result, load_config

    result = latest_result(load_config(ROOT / "asv.conf.json"), "python-svc")
    policy = json.loads((ROOT / "benchmarks" / "verdicts.json").read_text())["benchmarks"]
    for name, entry in policy.items():
        if entry["judge"] != "statistics":
            continue
        assert name in result.get_all_result_keys(), f"{name} has no result at {result.commit_hash[:8]}"
        stats = result.get_result_stats(name, result.get_result_params(name))
        repeats = [s["repeat"] for s in stats if s]
        assert repeats and max(repeats) > 1, (name, stats)  # (one stream at the 1-stream level: 1)


def test_machine_registers_this_host_and_the_fixed_instructions_machine(asv_env):
    from ect_perf import DEFAULT_MACHINE, INSTRUCTIONS_MACHINE, INSTRUCTIONS_MACHINE_INFO

    machines = json.loads((Path(asv_env["HOME"]) / ".asv-machine.json").read_text())
    assert machines[INSTRUCTIONS_MACHINE] == INSTRUCTIONS_MACHINE_INFO
    host = machines[DEFAULT_MACHINE]
    assert host["machine"] == DEFAULT_MACHINE and host["cpu"] and host["os"].startswith("Linux")


def test_committed_instruction_counts_form_one_series():
    """Every result under the instructions machine carries its one fixed description, so asv draws
    one series per benchmark whatever host counted it, and holds only instruction counts."""
    from ect_perf import INSTRUCTIONS_MACHINE, INSTRUCTIONS_MACHINE_INFO

    files = [path for path in (ROOT / "results" / INSTRUCTIONS_MACHINE).glob("*.json") if path.name != "machine.json"]
    assert files, f"no results for {INSTRUCTIONS_MACHINE} in results/"
    for path in files:
        result = json.loads(path.read_text())
        described = {key: result["params"].get(key) for key in INSTRUCTIONS_MACHINE_INFO}
        assert described == INSTRUCTIONS_MACHINE_INFO, path.name
        assert all(name.startswith("bench_instructions.") for name in result["results"]), path.name
