"""Memory: streaming against buffering, on the client (peak RSS, Python heap) and GC pressure."""

import gc
import tracemalloc

from .common import LARGE_USERS, ServerBenchmark, drain, empty, seeded_database


class StreamingVsBufferingPeakMemory(ServerBenchmark):
    """Spec: "Memory allocation during streaming" vs "Streaming vs Buffering (collect all)".

    Peak RSS of the client process, at 20,000 items where the difference stands clear of the
    interpreter's own ~60 MB. Streaming drops each item; buffering collects GetUsersOnline's items.
    """

    timeout = 600

    def setup_cache(self):
        return seeded_database("ECT_BENCH_LARGE_DB_URL", "ect-bench-large.db", LARGE_USERS)

    def peakmem_stream(self, url):
        drain(self.stub)

    def peakmem_buffered(self, url):
        items = list(self.stub.GetUsersOnline(empty(), timeout=300).items)
        assert items


def traced_peak_kb(call) -> float:
    """Peak Python-heap memory (tracemalloc) held during call(), above what was held before."""
    gc.collect()
    tracemalloc.start()
    try:
        call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 1024


class AllocatedMemory(ServerBenchmark):
    """Spec: "Streaming Memory Per 5K Items: < 500KB" and "Streaming vs Buffering Efficiency > 5x".

    tracemalloc counts what Python code keeps alive while 5,000 items go by: the streamed items
    one at a time, the buffered ones all together in a list.
    """

    rounds = 1
    warmup_streams = 1

    def stream(self):
        drain(self.stub)

    def buffered(self):
        items = list(self.stub.GetUsersOnline(empty(), timeout=300).items)
        assert items

    def track_allocated_kb(self, url, mode):
        return traced_peak_kb(getattr(self, mode))

    track_allocated_kb.params = ["stream", "buffered"]
    track_allocated_kb.param_names = ["mode"]
    track_allocated_kb.unit = "KB"

    def track_buffered_to_stream_ratio(self, url):
        return traced_peak_kb(self.buffered) / traced_peak_kb(self.stream)

    track_buffered_to_stream_ratio.unit = "x"


class GcPressure(ServerBenchmark):
    """Spec: "Garbage collection pressure": 1,000 items, each wrapped in a new object."""

    rounds = 1

    def track_gc_collections(self, url, generation):
        gc.collect()
        before = gc.get_stats()[generation]["collections"]
        call = self.stub.GetUsersOnlineStream(empty(), timeout=60)
        for index, item in enumerate(call, start=1):
            _ = {"current": item}
            if index >= 1_000:
                break
        call.cancel()
        return gc.get_stats()[generation]["collections"] - before

    track_gc_collections.params = [0, 1, 2]
    track_gc_collections.param_names = ["generation"]
    track_gc_collections.unit = "collections"
