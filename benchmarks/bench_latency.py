"""Latency: time to the first item of the stream."""

import time

import numpy as np

from .common import ServerBenchmark, empty

CALLS = 200


class TimeToFirstItem(ServerBenchmark):
    """Spec: "Time to First Item (TTFI)". Each call is cancelled once its first item is in."""

    rounds = 2
    repeat = (10, 50, 4.0)
    number = 1
    warmup_time = 0

    def first_item(self) -> float:
        start = time.perf_counter()
        call = self.stub.GetUsersOnlineStream(empty(), timeout=30)
        next(call)
        elapsed = time.perf_counter() - start
        call.cancel()
        return elapsed

    def time_first_item(self, url):
        self.first_item()

    def track_first_item_ms(self, url, percentile):
        samples = [self.first_item() for _ in range(CALLS)]
        return float(np.percentile(samples, int(percentile[1:]))) * 1e3

    track_first_item_ms.params = ["p50", "p99"]
    track_first_item_ms.param_names = ["percentile"]
    track_first_item_ms.unit = "ms"
    track_first_item_ms.rounds = 1
