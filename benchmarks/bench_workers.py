"""Server processes: aggregate items/s of 50 concurrent recommended reads against `ect-service serve
--workers 1` and `--workers 2` (grpc's multiprocessing pattern: one port, SO_REUSEPORT).

Each stream has a connection of its own (a local subchannel pool per channel): the kernel hands each
connection to one worker, so streams sharing one connection would all land on one worker. Neither
server nor client is pinned: on this 2-core machine the client process takes a share of the same
two cores, so 2 workers cannot double the rate; the ratio says what a second process buys here.
"""

import asyncio
import importlib.util
import time

from .common import MISSING, ONLINE, USERS, expect_items, samples, seeded_database
from .measuring.harness import ServerProcess
from .measuring.recommended import batch_items, recommended_request

try:
    import grpc

    from ect_service.v1 import workflow_pb2, workflow_pb2_grpc
except ImportError:
    pass

WORKERS = [1, 2]
STREAMS = 50
ROUNDS = 3  # per worker count, alternating, so that a noisy moment hits both alike
DEADLINE = 300.0


def has_workers() -> bool:
    return importlib.util.find_spec("ect_service.workers") is not None


async def _streams(target: str) -> float:
    """Aggregate items/s of STREAMS concurrent recommended reads (StreamUsersOnline, every
    item taken one by one: recommended.py), one connection each."""
    options = [("grpc.use_local_subchannel_pool", 1), ("grpc.max_receive_message_length", -1)]
    channels = [grpc.aio.insecure_channel(target, options=options) for _ in range(STREAMS)]
    try:
        for channel in channels:  # connect first: the measurement is streaming, not handshakes
            await channel.channel_ready()

        async def one(channel) -> None:
            stub = workflow_pb2_grpc.WorkflowServiceStub(channel)
            request = recommended_request(stub, workflow_pb2)
            count = 0
            async for batch in stub.StreamUsersOnline(request, timeout=DEADLINE):
                for _ in batch_items(request, batch):
                    count += 1
            expect_items(count)

        start = time.perf_counter()
        await asyncio.gather(*(one(channel) for channel in channels))
        return STREAMS * ONLINE / (time.perf_counter() - start)
    finally:
        for channel in channels:
            await channel.close()


def run_rounds(url: str) -> dict:
    """{workers: [items/s per round]}: one server per worker count, rounds alternating."""
    servers = {workers: ServerProcess(url, extra_args=["--workers", str(workers)]) for workers in WORKERS}
    try:
        for server in servers.values():
            server.start()
            asyncio.run(_streams(server.target))  # warm-up: every worker's pool and caches
        rates = {workers: [] for workers in WORKERS}
        for _ in range(ROUNDS):
            for workers, server in servers.items():
                rates[workers].append(asyncio.run(_streams(server.target)))
        return rates
    finally:
        for server in servers.values():
            server.stop()


class WorkerProcesses:
    timeout = 600

    def setup_cache(self):
        if MISSING:
            return {"error": MISSING}
        if not has_workers():
            return {"error": "this commit has no `serve --workers`"}
        return run_rounds(seeded_database("ECT_BENCH_DB_URL", "ect-bench.db", USERS))

    def setup(self, rates, *params):
        if "error" in rates:
            raise NotImplementedError(rates["error"])

    def track_items_per_second(self, rates, workers):
        """Aggregate items/s of 50 concurrent recommended reads, per round."""
        return samples(rates[workers])

    track_items_per_second.params = WORKERS
    track_items_per_second.param_names = ["workers"]
    track_items_per_second.unit = "items/s"

    def track_two_vs_one(self, rates):
        """Aggregate items/s with 2 workers over that with 1, round by round (a round measures
        both, one after the other), as samples."""
        return samples(two / one for one, two in zip(rates[1], rates[2]))

    track_two_vs_one.unit = "x"
