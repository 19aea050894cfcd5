"""Throughput: the streams drained end to end, and the unary GetWorkflow baseline."""

from .common import ROUNDS, ServerBenchmark, drain, drain_recommended, samples, timed_drain, timed_drain_recommended

try:
    from ect_service.v1 import workflow_pb2
except ImportError:
    workflow_pb2 = None

STREAMS = 8  # whole streams, one sample each, for the track_ benchmarks


class StreamThroughput(ServerBenchmark):
    """Spec: "GetUsersOnlineStream throughput", "Time to receive all items", "Average latency per item".

    Every stream must deliver every seeded online user, and per-item figures divide by the items
    actually received.
    """

    warmup_streams = 1
    rounds = 2
    repeat = (3, 8, 6.0)
    number = 1
    warmup_time = 0

    def time_drain_stream(self, url):
        drain(self.stub)

    def track_items_per_second(self, url):
        return samples(items / seconds for seconds, items in (timed_drain(self.stub) for _ in range(STREAMS)))

    track_items_per_second.unit = "items/s"
    track_items_per_second.rounds = ROUNDS

    def track_microseconds_per_item(self, url):
        return samples(seconds / items * 1e6 for seconds, items in (timed_drain(self.stub) for _ in range(STREAMS)))

    track_microseconds_per_item.unit = "us/item"
    track_microseconds_per_item.rounds = ROUNDS


class RecommendedStreamThroughput(ServerBenchmark):
    """Spec: "throughput > 100K items/s", against the service's recommended streaming read
    (common.recommended_read: StreamUsersOnline where the commit has it, else GetUsersOnlineStream).
    The client iterates every item."""

    def setup(self, url, *params):
        super().setup(url, *params)
        drain_recommended(self.stub)

    def track_items_per_second(self, url):
        return samples(items / seconds for seconds, items in (timed_drain_recommended(self.stub) for _ in range(STREAMS)))

    track_items_per_second.unit = "items/s"
    track_items_per_second.rounds = ROUNDS


class UnaryBaseline(ServerBenchmark):
    """Spec: "GetWorkflowAsync (unary baseline)"."""

    rounds = 2
    repeat = (5, 20, 3.0)

    def setup(self, url, *params):
        super().setup(url, *params)
        self.request = workflow_pb2.GetWorkflowRequest(id="test-workflow-1")

    def time_get_workflow(self, url):
        self.stub.GetWorkflow(self.request, timeout=30)
