"""Latency: time to the first item of the streams."""

import time

import numpy as np

from .common import ROUNDS, ServerBenchmark, empty, recommended_read, samples

CALLS = 200  # p50: every call is a sample, so asv's median is the p50
BATCHES, BATCH = 5, 100  # p99: one sample per batch of 100 calls


class TimeToFirstItem(ServerBenchmark):
    """Spec: "Time to First Item (TTFI)". The clock stops when the first item is in; the call is
    cancelled after that, outside the measurement."""

    def open_stream(self):
        """(call, items) of the stream whose first item is timed."""
        call = self.stub.GetUsersOnlineStream(empty(), timeout=30)
        return call, call

    def first_item_ms(self) -> float:
        start = time.perf_counter()
        call, items = self.open_stream()
        next(items)
        elapsed = time.perf_counter() - start
        call.cancel()
        return elapsed * 1e3

    def track_first_item_ms(self, url, percentile):
        if percentile == "p50":
            return samples(self.first_item_ms() for _ in range(CALLS))
        return samples(np.percentile([self.first_item_ms() for _ in range(BATCH)], 99) for _ in range(BATCHES))

    track_first_item_ms.params = ["p50", "p99"]
    track_first_item_ms.rounds = ROUNDS
    track_first_item_ms.param_names = ["percentile"]
    track_first_item_ms.unit = "ms"


class RecommendedTimeToFirstItem(TimeToFirstItem):
    """Time to the first item of the recommended streaming read (common.recommended_read): with
    many items per message, the first message must still come quickly."""

    def open_stream(self):
        return recommended_read(self.stub, timeout=30)
