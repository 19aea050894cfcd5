"""Concurrency: many full streams at once over one channel, and a slow consumer.

ConcurrentStreams runs each level (1, 10, 50 streams of 5,000 items) once per commit in its
setup_cache and records, per stream, the time to its first item and to its last. N streams are
"concurrent" only if every one of them has its first item before any of them finishes: a server
that served them one after another (say, N streams queued behind a pool of 20 connections) would
complete them all and still fail that. The 100 and 1,000 levels only ask that question: they stop
as soon as it is answered, when every stream has its first item or one stream has finished.
500,000 and 5,000,000 items would take minutes at today's speed, and a server that shares its
time fairly among the streams finishes its first stream only near the end.
"""

import asyncio
import math
import os
import time

import psutil

from .common import (
    CHANNEL_OPTIONS,
    MISSING,
    ONLINE,
    USERS,
    ServerBenchmark,
    empty,
    expect_items,
    pin,
    samples,
    seeded_database,
    split_cores,
)
from .measuring.harness import ServerProcess

try:
    import grpc

    from ect_service.v1 import workflow_pb2_grpc
except ImportError:
    pass

LEVELS = [1, 10, 50, 100, 1000]
FULL_LEVELS = [1, 10, 50]  # the others stop once all have started or one has finished
DEADLINE = 300.0


async def _run_level(target: str, streams: int, full: bool) -> dict:
    """One level: per-stream first-item and finish times (ms from the common start)."""
    first: list[float] = []
    finished: list[float] = []
    answered = asyncio.Event()  # every stream has its first item, or one has finished
    async with grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS[1:]) as channel:
        stub = workflow_pb2_grpc.WorkflowServiceStub(channel)
        start = time.perf_counter()

        async def one() -> None:
            count = 0
            try:
                async for _ in stub.GetUsersOnlineStream(empty(), timeout=DEADLINE):
                    if count == 0:
                        first.append((time.perf_counter() - start) * 1e3)
                        if len(first) == streams:
                            answered.set()
                    count += 1
                expect_items(count)
                finished.append((time.perf_counter() - start) * 1e3)
            finally:
                answered.set()  # a failed stream answers too: the level fails with its error below

        tasks = [asyncio.ensure_future(one()) for _ in range(streams)]
        if full:
            failed = [error for error in await asyncio.gather(*tasks, return_exceptions=True) if error]
        else:
            await answered.wait()
            started_before_the_answer = len(first)
            failed = [task.exception() for task in tasks if task.done() and task.exception()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            first = first[:started_before_the_answer]
        elapsed = time.perf_counter() - start
    concurrent = sum(1 for moment in first if moment < min(finished, default=math.inf))
    return {
        "streams": streams,
        # the level's benchmarks fail with this; the other levels keep their figures
        "failed": f"{len(failed)} of {streams} streams failed: {failed[0]!r}" if failed else None,
        "first_item_ms": first if len(first) == streams else [],
        "time_to_all_ms": finished if full else [],
        "items_per_second": streams * ONLINE / elapsed if full else math.nan,
        "concurrent": concurrent,
    }


def run_levels(url: str) -> dict:
    """Every level against one server process, pinned like the other benchmarks."""
    with ServerProcess(url) as server:
        if cores := split_cores():
            pin(server.pid, cores[0])
            pin(os.getpid(), cores[1])
        asyncio.run(_run_level(server.target, 1, True))  # warm-up
        return _Levels({level: asyncio.run(_run_level(server.target, level, level in FULL_LEVELS)) for level in LEVELS})


class _Levels(dict):
    """The levels' figures by stream count. A level whose streams failed fails the benchmarks that
    read it, with the reason; the other levels keep theirs. (Checked here, not in the benchmarks:
    their source is what asv hashes into their version, and the history recorded under it stays.)"""

    def __getitem__(self, streams):
        level = super().__getitem__(streams)
        if level["failed"]:
            raise RuntimeError(f"{streams} concurrent streams: {level['failed']}")
        return level


class _Concurrency:
    """The classes below share this setup_cache: the levels run once per commit."""

    timeout = 900

    def setup_cache(self):
        if MISSING:
            return {"error": MISSING}
        return run_levels(seeded_database("ECT_BENCH_DB_URL", "ect-bench.db", USERS))

    def setup(self, levels, *params):
        if "error" in levels:
            raise NotImplementedError(levels["error"])


class ConcurrentStreams(_Concurrency):
    """Spec: "10 concurrent streams", "50 concurrent streams", "Max concurrent streams > 100"."""

    params = LEVELS
    param_names = ["streams"]

    def track_concurrent_streams(self, levels, streams):
        """How many of the N streams had their first item before any stream finished (N: all)."""
        return levels[streams]["concurrent"]

    track_concurrent_streams.unit = "streams"

    def track_first_item_ms(self, levels, streams):
        """Per-stream time to first item; median = p50 (not measured when some never started)."""
        return samples(levels[streams]["first_item_ms"]) if levels[streams]["first_item_ms"] else math.nan

    track_first_item_ms.unit = "ms"

    def track_time_to_all_ms(self, levels, streams):
        """Per-stream time to its last item, from the common start."""
        return samples(levels[streams]["time_to_all_ms"]) if levels[streams]["time_to_all_ms"] else math.nan

    track_time_to_all_ms.unit = "ms"

    def track_aggregate_items_per_second(self, levels, streams):
        return levels[streams]["items_per_second"]

    track_aggregate_items_per_second.unit = "items/s"


class ConcurrencyDegradation(_Concurrency):
    """Spec: "Latency degradation at 50 streams < 20%": aggregate items/s at 50 streams over 1, from
    the same run. Above 1: 50 streams together move more (both cores busy); the targets report
    shows it as degradation = (1 - ratio) x 100%, positive meaning worse."""

    def track_throughput_50_vs_1(self, levels):
        return levels[50]["items_per_second"] / levels[1]["items_per_second"]

    track_throughput_50_vs_1.unit = "x"


class Backpressure(ServerBenchmark):
    """Spec: "Streaming with backpressure": the consumer pauses 10 ms every 100 items.

    What is measured is the server's part: the stream's time minus the consumer's own pauses
    (time spent waiting for items), and how much the server's memory grows meanwhile.
    """

    timeout = 300
    STREAMS = 3

    def slow_stream(self, server: psutil.Process) -> tuple[float, float]:
        """(ms spent waiting for the server, server RSS growth in MB) over one slow stream."""
        before = peak = server.memory_info().rss
        paused = 0.0
        start = time.perf_counter()
        count = 0
        for count, _ in enumerate(self.stub.GetUsersOnlineStream(empty(), timeout=120), start=1):
            if count % 100 == 0:
                peak = max(peak, server.memory_info().rss)
                pause = time.perf_counter()
                time.sleep(0.010)
                paused += time.perf_counter() - pause
        expect_items(count)
        return (time.perf_counter() - start - paused) * 1e3, (peak - before) / 2**20

    def track_server_wait_ms(self, url):
        server = psutil.Process(self.server.pid)
        return samples(self.slow_stream(server)[0] for _ in range(self.STREAMS))

    track_server_wait_ms.unit = "ms"

    def track_server_rss_growth_mb(self, url):
        server = psutil.Process(self.server.pid)
        return samples(self.slow_stream(server)[1] for _ in range(self.STREAMS))

    track_server_rss_growth_mb.unit = "MB"
