"""How many server processes asv runs per commit for each wall-clock benchmark, read as asv's own
discovery records it (the `rounds` attribute it writes to benchmarks.json): the samples of one
process move together, so a commit's median needs several. A pinned asv upgrade that stopped
reading `rounds` from a track_ method would fail here."""

import sys
from pathlib import Path

import pytest
from asv_runner.discovery import disc_benchmarks

ROOT = Path(__file__).resolve().parent.parent

PROCESSES = {
    "bench_throughput.StreamThroughput.track_items_per_second": 4,
    "bench_throughput.StreamThroughput.track_microseconds_per_item": 4,
    "bench_throughput.RecommendedStreamThroughput.track_items_per_second": 4,
    "bench_latency.TimeToFirstItem.track_first_item_ms": 4,
    "bench_latency.RecommendedTimeToFirstItem.track_first_item_ms": 4,
    "bench_memory.AllocatedMemory.track_allocated_kb": 2,
    "bench_memory.AllocatedMemory.track_buffered_to_stream_ratio": 2,
    "bench_memory.RecommendedStreamMemory.track_allocated_kb": 2,
    "bench_memory.RecommendedStreamMemory.track_buffered_to_stream_ratio": 2,
    "bench_memory.GcPressure.track_gc_collections": 2,
}


@pytest.fixture(scope="module")
def discovered() -> dict:
    sys.path.insert(0, str(ROOT))
    try:
        return {benchmark.name: benchmark.__dict__ for benchmark in disc_benchmarks(str(ROOT / "benchmarks"))}
    finally:
        sys.path.remove(str(ROOT))


@pytest.mark.parametrize("name, processes", PROCESSES.items())
def test_each_wall_clock_benchmark_runs_several_server_processes_per_commit(discovered, name, processes):
    assert discovered[name].get("rounds", 1) == processes


def test_the_instruction_counts_run_once_per_commit(discovered):
    """A count repeats within about 1% and takes minutes: one process per commit."""
    counts = [entry for name, entry in discovered.items() if name.startswith("bench_instructions.")]
    assert counts and all(entry.get("rounds", 1) == 1 for entry in counts)
