"""Concurrency: many full streams at once over one channel, and a slow consumer."""

import asyncio
import time

import psutil

from .common import CHANNEL_OPTIONS, ONLINE, ServerBenchmark, empty

try:
    import grpc

    from ect_service.v1 import workflow_pb2_grpc
except ImportError:
    pass


async def _drain_concurrently(target: str, streams: int) -> list[int]:
    async with grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS[1:]) as channel:
        stub = workflow_pb2_grpc.WorkflowServiceStub(channel)

        async def count() -> int:
            return sum([1 async for _ in stub.GetUsersOnlineStream(empty(), timeout=600)])

        return await asyncio.gather(*(count() for _ in range(streams)))


def aggregate_items_per_second(target: str, streams: int) -> float:
    """Run `streams` full streams at once; every one must deliver every item."""
    start = time.perf_counter()
    counts = asyncio.run(_drain_concurrently(target, streams))
    elapsed = time.perf_counter() - start
    if counts != [ONLINE] * streams:
        raise RuntimeError(f"incomplete streams: {sorted(set(counts))} items, expected {ONLINE}")
    return streams * ONLINE / elapsed


class ConcurrentStreams(ServerBenchmark):
    """Spec: "10 concurrent streams", "50 concurrent streams", "Max concurrent streams > 100"."""

    params = [1, 10, 50, 100]
    param_names = ["streams"]
    rounds = 1
    timeout = 600

    def track_aggregate_items_per_second(self, url, streams):
        return aggregate_items_per_second(self.server.target, streams)

    track_aggregate_items_per_second.unit = "items/s"


class ConcurrencyDegradation(ServerBenchmark):
    """Spec: "Latency degradation at 50 streams < 20%": aggregate items/s at 50 streams against 1,
    measured in one process so that both see the same machine. Positive: 50 streams are slower."""

    rounds = 1
    timeout = 600

    def track_degradation_at_50_streams(self, url):
        single = aggregate_items_per_second(self.server.target, 1)
        fifty = aggregate_items_per_second(self.server.target, 50)
        return (1 - fifty / single) * 100

    track_degradation_at_50_streams.unit = "%"


class Backpressure(ServerBenchmark):
    """Spec: "Streaming with backpressure": the consumer pauses 10 ms every 100 items."""

    rounds = 1
    repeat = 1
    number = 1
    timeout = 300

    def slow_consumer(self) -> int:
        count = 0
        for count, _ in enumerate(self.stub.GetUsersOnlineStream(empty(), timeout=120), start=1):
            if count % 100 == 0:
                time.sleep(0.010)
        return count

    def time_slow_consumer(self, url):
        self.slow_consumer()

    def track_server_rss_growth_mb(self, url):
        """How much the server's resident memory grows while it waits for the slow consumer."""
        server = psutil.Process(self.server.pid)
        before = server.memory_info().rss
        peak = before
        count = 0
        for count, _ in enumerate(self.stub.GetUsersOnlineStream(empty(), timeout=120), start=1):
            if count % 100 == 0:
                peak = max(peak, server.memory_info().rss)
                time.sleep(0.010)
        if count != ONLINE:
            raise RuntimeError(f"slow consumer got {count} items, expected {ONLINE}")
        return (peak - before) / 2**20

    track_server_rss_growth_mb.unit = "MB"
