"""Throughput: GetUsersOnlineStream drained end to end, and the unary GetWorkflow baseline."""

from .common import ONLINE, ServerBenchmark, drain, median, timed_drain

try:
    from ect_service.v1 import workflow_pb2
except ImportError:
    workflow_pb2 = None

SAMPLES = 3


class StreamThroughput(ServerBenchmark):
    """Spec: "GetUsersOnlineStream throughput", "Time to receive all items", "Average latency per item"."""

    warmup_streams = 1
    rounds = 2
    repeat = (3, 8, 6.0)
    number = 1
    warmup_time = 0

    def time_drain_stream(self, url):
        drain(self.stub)

    def track_items_per_second(self, url):
        return ONLINE / median([timed_drain(self.stub) for _ in range(SAMPLES)])

    track_items_per_second.unit = "items/s"
    track_items_per_second.rounds = 1

    def track_microseconds_per_item(self, url):
        return median([timed_drain(self.stub) for _ in range(SAMPLES)]) / ONLINE * 1e6

    track_microseconds_per_item.unit = "us/item"
    track_microseconds_per_item.rounds = 1


class UnaryBaseline(ServerBenchmark):
    """Spec: "GetWorkflowAsync (unary baseline)"."""

    rounds = 2
    repeat = (5, 20, 3.0)

    def setup(self, url, *params):
        super().setup(url, *params)
        self.request = workflow_pb2.GetWorkflowRequest(id="test-workflow-1")

    def time_get_workflow(self, url):
        self.stub.GetWorkflow(self.request, timeout=30)
