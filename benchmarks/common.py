"""What every benchmark shares: a seeded database, a real server process, a client channel.

ect_service is imported from the commit being benchmarked. A commit that lacks a piece makes the
benchmarks needing it skip (NotImplementedError in setup); the suite itself always imports.

asv calls setup_cache once per environment and commit (the database is seeded in the directory it
gives), then starts a fresh process for each benchmark: setup starts that commit's server on
127.0.0.1 (port 0) and waits for health SERVING, teardown stops it. Should a benchmark process be
killed (timeout), the server notices its closed stdin and stops by itself.
"""

import os
import time

import numpy as np

try:
    import grpc

    from ect_service.harness import ServerProcess
    from ect_service.seeding import seed_url
    from ect_service.v1 import workflow_pb2, workflow_pb2_grpc
except ImportError as exc:  # an older commit, or a broken build: skip, don't crash discovery
    MISSING = f"this commit cannot be benchmarked: {exc}"
else:
    MISSING = None

USERS = 10_000  # half online: the specification's 5,000-item stream
ONLINE = USERS // 2
LARGE_USERS = 40_000  # 20,000 items: where streaming and buffering memory clearly differ

CHANNEL_OPTIONS = [
    # One client thread per stream: less client overhead, so the server's share shows more.
    ("SingleThreadedUnaryStream", 1),
    ("grpc.max_receive_message_length", -1),  # the buffered call grows with the data
]


def seeded_database(url_variable: str, sqlite_file: str, users: int) -> str | None:
    """$url_variable if set, else a SQLite file in asv's cache directory; seeded to `users`."""
    if MISSING:
        return None
    url = os.environ.get(url_variable) or f"sqlite:///{os.path.abspath(sqlite_file)}"
    return seed_url(url, users=users)


def empty():
    return workflow_pb2.EmptyRequest()


def drain(stub) -> int:
    return sum(1 for _ in stub.GetUsersOnlineStream(empty(), timeout=300))


def timed_drain(stub) -> float:
    start = time.perf_counter()
    count = drain(stub)
    elapsed = time.perf_counter() - start
    if count == 0:
        raise RuntimeError("the stream returned no items: is the database seeded?")
    return elapsed


def median(values) -> float:
    return float(np.median(values))


class ServerBenchmark:
    """Base class: database from setup_cache, server and stub per benchmark process."""

    timeout = 300
    # Setup always opens the channel and runs the stream's query once (first item); classes whose
    # measurement includes whole streams also drain this many first.
    warmup_streams = 0

    def setup_cache(self):
        return seeded_database("ECT_BENCH_DB_URL", "ect-bench.db", USERS)

    def setup(self, url, *params):
        if MISSING:
            raise NotImplementedError(MISSING)
        self.server = ServerProcess(url).start()
        self.channel = grpc.insecure_channel(self.server.target, options=CHANNEL_OPTIONS)
        self.stub = workflow_pb2_grpc.WorkflowServiceStub(self.channel)
        self.stub.GetWorkflow(workflow_pb2.GetWorkflowRequest(id="test-workflow-1"), timeout=30)
        call = self.stub.GetUsersOnlineStream(empty(), timeout=30)
        next(call)
        call.cancel()
        for _ in range(self.warmup_streams):
            drain(self.stub)

    def teardown(self, url, *params):
        self.channel.close()
        self.server.stop()
