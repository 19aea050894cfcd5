"""Many streams at once, and server memory that does not grow with the number of rows."""

import asyncio
import threading

import grpc
import psutil

from benchmarks.measuring.harness import ServerProcess
from ect_service.seeding import seed_url
from ect_service.v1 import workflow_pb2, workflow_pb2_grpc

EMPTY = workflow_pb2.EmptyRequest()


async def drain_concurrently(target: str, streams: int) -> list[int]:
    async with grpc.aio.insecure_channel(target) as channel:
        stub = workflow_pb2_grpc.WorkflowServiceStub(channel)

        async def count() -> int:
            return sum([1 async for _ in stub.GetUsersOnlineStream(EMPTY, timeout=120)])

        return await asyncio.gather(*(count() for _ in range(streams)))


def test_a_thousand_concurrent_streams_all_complete(small_sqlite_url):
    with ServerProcess(small_sqlite_url) as server:
        counts = asyncio.run(drain_concurrently(server.target, 1_000))
        assert counts == [10] * 1_000
        # ...and the server still answers afterwards.
        assert server.stub().GetWorkflow(workflow_pb2.GetWorkflowRequest(id="test-workflow-1"), timeout=10).id


class PeakRss:
    """Samples a process's resident memory in the background; .peak is the highest seen."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.baseline = self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.baseline) / 2**20


def test_streaming_memory_is_bounded_while_buffering_is_not(tmp_path):
    url = seed_url(f"sqlite:///{tmp_path / 'large.db'}", users=100_000, workflows=1)
    with ServerProcess(url) as server:
        stub = server.stub()
        assert sum(1 for _ in stub.GetUsersOnlineStream(EMPTY, timeout=120)) == 50_000  # warm up
        with PeakRss(server.pid) as streaming:
            assert sum(1 for _ in stub.GetUsersOnlineStream(EMPTY, timeout=120)) == 50_000
        with PeakRss(server.pid) as buffering:
            assert len(stub.GetUsersOnline(EMPTY, timeout=120).items) == 50_000
    # One batch of rows in flight, whatever the table size; the buffered call holds all 50,000.
    assert streaming.growth_mb < 8, f"streaming grew the server by {streaming.growth_mb:.1f} MB"
    assert buffering.growth_mb > 2 * streaming.growth_mb + 5
