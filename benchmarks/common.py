"""What every benchmark shares: a seeded database, a real server process, a client channel.

ect_service is imported from the commit being benchmarked; everything that measures (this file,
harness.py, the probe) stays the same for every commit. A commit that lacks a piece makes the
benchmarks needing it skip (NotImplementedError in setup); the suite itself always imports.

asv calls setup_cache once per environment and commit (the database is seeded in the directory it
gives), then starts a fresh process for each benchmark: setup starts that commit's server on
127.0.0.1 (port 0), waits for health SERVING and pins server and client to separate cores;
teardown stops the server. Should a benchmark process be killed (timeout), the server notices its
closed stdin and stops by itself.

Wall-clock track_ benchmarks return {"samples": [...], "number": 1} (asv's runner takes that as
repeated measurements), so asv stores a median with a confidence interval and the gate can test
significance, not just a ratio.
"""

import os
import time

import psutil

from .measuring.harness import ServerProcess
from .measuring.recommended import recommended_read as _recommended_read

try:
    import grpc

    from ect_service.seeding import seed_url
    from ect_service.v1 import workflow_pb2, workflow_pb2_grpc
except ImportError as exc:  # an older commit, or a broken build: skip, don't crash discovery
    MISSING = f"this commit cannot be benchmarked: {exc}"
else:
    MISSING = None

USERS = 10_000  # half online: the specification's 5,000-item stream
ONLINE = USERS // 2
LARGE_USERS = 40_000  # 20,000 items: where streaming and buffering memory clearly differ
# Server processes per commit for a wall-clock track_ benchmark, interleaved between commits: the
# samples of one process move together (placement, caches, hash seed) while processes differ by up to
# 10%, so a commit's median must not ride on one process. asv reads `rounds` of a track_ benchmark
# only from the method (`track_x.rounds = ROUNDS`); a class attribute counts for time_ benchmarks alone.
ROUNDS = 4

CHANNEL_OPTIONS = [
    # One client thread per stream: less client overhead, so the server's share shows more.
    ("SingleThreadedUnaryStream", 1),
    ("grpc.max_receive_message_length", -1),  # the buffered call grows with the data
]


# asv.databases.conf.json's matrix sets DATABASE per environment (asv records it with each result,
# so every database draws series of its own); the URL is ECT_BENCH_<NAME>_URL, else the local
# server of this machine kind (a password, if any, from ECT_DB_PASSWORD as everywhere).
DATABASE = "ECT_BENCH_DATABASE"
SERVERS = {
    "postgresql": "postgresql+psycopg://root@127.0.0.1:5432/test",
    "mariadb": "mysql+pyodbc://root@127.0.0.1:3306/test?driver=MariaDB+Unicode",
}


LARGE_SET = "ECT_BENCH_LARGE_DB_URL"  # the url_variable of the memory benchmarks' large set


def database_url(url_variable: str, sqlite_file: str) -> str:
    """The database the benchmarks read: the environment's DATABASE server; else $url_variable if
    set; else a SQLite file in asv's cache directory."""
    if name := os.environ.get(DATABASE):
        if name not in SERVERS:
            raise ValueError(f"{DATABASE}={name!r}: expected one of {', '.join(SERVERS)}")
        url = os.environ.get(f"ECT_BENCH_{name.upper()}_URL") or SERVERS[name]
        # The large set lives in a database of its own (created here), as it has a SQLite file of
        # its own: asv interleaves the benchmark classes' rounds, and a shared database reseeded
        # from 10,000 to 40,000 users and back would change under a class between its rounds.
        return _server_database(url, "_large") if url_variable == LARGE_SET else url
    return os.environ.get(url_variable) or f"sqlite:///{os.path.abspath(sqlite_file)}"


def _server_database(url: str, suffix: str) -> str:
    """`url` with its database name + `suffix`, created on its server when missing."""
    from sqlalchemy import make_url, text

    from ect_service.database import create_db_engine, resolve_url

    base = make_url(url)
    name = f"{base.database}{suffix}"
    engine = create_db_engine(resolve_url(url), pool_size=1)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name")
                                 if base.get_backend_name() == "postgresql" else
                                 text("SELECT 1 FROM information_schema.schemata WHERE schema_name = :name"),
                                 {"name": name})
            if not exists:  # a name cannot be a bound parameter: this one is ours, and quoted
                conn.execute(text(f"CREATE DATABASE {conn.dialect.identifier_preparer.quote(name)}"))
    finally:
        engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def seeded_database(url_variable: str, sqlite_file: str, users: int) -> str | None:
    """database_url(...), seeded to `users`."""
    if MISSING:
        return None
    return seed_url(database_url(url_variable, sqlite_file), users=users)


def samples(values) -> dict:
    """A track_ result that asv stores with its statistics (median, confidence interval)."""
    return {"samples": [float(value) for value in values], "number": 1}


def empty():
    return workflow_pb2.EmptyRequest()


def expect_items(count: int, expected: int = ONLINE) -> int:
    """A stream that does not deliver every seeded online user fails the benchmark: a commit that
    drops items must not look faster."""
    if count != expected:
        raise RuntimeError(f"the stream delivered {count} items, expected {expected}")
    return count


def drain(stub, expected: int = ONLINE) -> int:
    return expect_items(sum(1 for _ in stub.GetUsersOnlineStream(empty(), timeout=300)), expected)


def timed(drain_function, stub) -> tuple[float, int]:
    """(seconds, items) for one whole read by drain_function(stub)."""
    start = time.perf_counter()
    count = drain_function(stub)
    return time.perf_counter() - start, count


def timed_drain(stub) -> tuple[float, int]:
    return timed(drain, stub)


def recommended_read(stub, timeout: float = 300):
    """The commit's recommended streaming read, as (call, items) (recommended.py says which)."""
    return _recommended_read(stub, workflow_pb2, timeout)


def drain_recommended(stub, expected: int = ONLINE) -> int:
    _, items = recommended_read(stub)
    return expect_items(sum(1 for _ in items), expected)


def timed_drain_recommended(stub) -> tuple[float, int]:
    return timed(drain_recommended, stub)


ALL_CORES = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []


def split_cores() -> tuple[set[int], set[int]] | None:
    """Half the cores for the server, the other half for the client; None on one core."""
    if len(ALL_CORES) < 2:
        return None
    half = len(ALL_CORES) // 2
    return set(ALL_CORES[:half]), set(ALL_CORES[half:])


def pin(pid: int, cores: set[int]) -> None:
    """Pin every thread of process `pid`; threads it starts later inherit the mask."""
    for thread in psutil.Process(pid).threads():
        try:
            os.sched_setaffinity(thread.id, cores)
        except ProcessLookupError:  # a thread that ended meanwhile
            pass


class ServerBenchmark:
    """Base class: database from setup_cache, server and stub per benchmark process."""

    timeout = 300
    # Setup always opens the channel and runs the stream's query once (first item); classes whose
    # measurement includes whole streams also drain this many first.
    warmup_streams = 0
    # The server loads benchmarks/measuring/probe (gc and tracemalloc counters) and traces allocations.
    probe = False
    trace_server_memory = False

    def setup_cache(self):
        return seeded_database("ECT_BENCH_DB_URL", "ect-bench.db", USERS)

    def setup(self, url, *params):
        if MISSING:
            raise NotImplementedError(MISSING)
        env = {"PYTHONTRACEMALLOC": "1"} if self.trace_server_memory else None
        self.server = ServerProcess(url, probe=self.probe, env=env).start()
        # Server and client on cores of their own: left to the scheduler, the same commit's drain
        # time swung 2.5x between server processes on this 2-core machine; pinned, within 15%.
        if cores := split_cores():
            pin(self.server.pid, cores[0])
            pin(os.getpid(), cores[1])
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
        if split_cores():  # asv may call setup again in this process: start the next server unpinned
            pin(os.getpid(), set(ALL_CORES))
