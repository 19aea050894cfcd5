"""Memory: streaming against buffering (peak RSS of the client; Python heap of server and client)
and garbage-collector pressure on both sides."""

import gc
import tracemalloc

from .common import (
    LARGE_USERS,
    ONLINE,
    ServerBenchmark,
    drain,
    drain_recommended,
    empty,
    expect_items,
    samples,
    seeded_database,
)

CALLS = 5  # samples per benchmark
MEMORY_ROUNDS = 2  # server processes per commit (see common.ROUNDS)


class StreamingVsBufferingPeakMemory(ServerBenchmark):
    """Spec: "Memory allocation during streaming" vs "Streaming vs Buffering (collect all)".

    Peak RSS of the client process, at 20,000 items where the difference stands clear of the
    interpreter's own ~60 MB. Streaming drops each item; buffering collects GetUsersOnline's items.
    """

    timeout = 600

    def setup_cache(self):
        return seeded_database("ECT_BENCH_LARGE_DB_URL", "ect-bench-large.db", LARGE_USERS)

    def peakmem_stream(self, url):
        drain(self.stub, LARGE_USERS // 2)

    def peakmem_buffered(self, url):
        expect_items(len(self.stub.GetUsersOnline(empty(), timeout=300).items), LARGE_USERS // 2)


class AllocatedMemory(ServerBenchmark):
    """Spec: "Streaming Memory Per 5K Items: < 500KB" and "Streaming vs Buffering Efficiency > 5x".

    The Python heap (tracemalloc) that one call of 5,000 items needs at its peak, above what was
    held before it, in the server (which runs with PYTHONTRACEMALLOC=1 and the probe) plus the
    client. A server that read every row before streaming, or a client that kept every item, shows.
    """

    warmup_streams = 1
    probe = True
    trace_server_memory = True

    def stream(self):
        drain(self.stub)

    def buffered(self):
        expect_items(len(self.stub.GetUsersOnline(empty(), timeout=300).items))

    def peak_kb(self, call) -> float:
        """Server and client peak heap growth during call(), in KB."""
        server_before = self.server.snapshot()["traced_bytes"]  # also resets the server's peak
        gc.collect()
        tracemalloc.start()
        try:
            call()
            _, client_peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        server_peak = self.server.snapshot()["traced_peak_bytes"] - server_before
        return (server_peak + client_peak) / 1024

    def track_allocated_kb(self, url, mode):
        return samples(self.peak_kb(getattr(self, mode)) for _ in range(CALLS))

    track_allocated_kb.params = ["stream", "buffered"]
    track_allocated_kb.param_names = ["mode"]
    track_allocated_kb.unit = "KB"
    track_allocated_kb.rounds = MEMORY_ROUNDS

    def track_buffered_to_stream_ratio(self, url):
        return samples(self.peak_kb(self.buffered) / self.peak_kb(self.stream) for _ in range(CALLS))

    track_buffered_to_stream_ratio.unit = "x"
    track_buffered_to_stream_ratio.rounds = MEMORY_ROUNDS


class RecommendedStreamMemory(AllocatedMemory):
    """AllocatedMemory for the recommended streaming read (common.recommended_read): server plus
    client heap for 5,000 items, and the buffered call against it."""

    def stream(self):
        drain_recommended(self.stub)

    def setup(self, url, *params):
        super().setup(url, *params)
        self.stream()

    def track_allocated_kb(self, url):
        return samples(self.peak_kb(self.stream) for _ in range(CALLS))

    track_allocated_kb.unit = "KB"
    track_allocated_kb.rounds = MEMORY_ROUNDS

    def track_buffered_to_stream_ratio(self, url):
        return samples(self.peak_kb(self.buffered) / self.peak_kb(self.stream) for _ in range(CALLS))

    track_buffered_to_stream_ratio.unit = "x"
    track_buffered_to_stream_ratio.rounds = MEMORY_ROUNDS


class GcPressure(ServerBenchmark):
    """Spec: "Garbage collection pressure": collections per generation while 5,000 items stream,
    in the server (read through the probe) and in the client, which wraps each item in a new object
    as the specification's benchmark does. A commit whose per-item work leaves cyclic garbage moves
    these counts; where they are 0 the README says why."""

    warmup_streams = 1
    probe = True

    def collections(self, side: str, generation: int) -> int:
        gc.collect()
        before = self._counts(side)
        count = 0
        for count, item in enumerate(self.stub.GetUsersOnlineStream(empty(), timeout=60), start=1):
            _ = {"current": item}
        expect_items(count, ONLINE)
        return self._counts(side)[generation] - before[generation]

    def _counts(self, side: str) -> list[int]:
        if side == "server":
            return self.server.snapshot()["gc_collections"]
        return [generation["collections"] for generation in gc.get_stats()]

    def track_gc_collections(self, url, side, generation):
        return samples(self.collections(side, generation) for _ in range(CALLS))

    track_gc_collections.params = (["server", "client"], [0, 1, 2])
    track_gc_collections.param_names = ["side", "generation"]
    track_gc_collections.unit = "collections"
    track_gc_collections.rounds = MEMORY_ROUNDS
