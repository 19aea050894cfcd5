"""Each benchmark measures what its name says, and moves when that changes.

Each check injects the change into a copy of the service and measures it with the benchmarks' own
code, next to the unchanged service (the server runs `python -m ect_service`, which imports the
package from its working directory first: the copy's folder, or an empty one for the real thing): a server that
reads every row before streaming fails the memory target; cyclic garbage per item moves the GC
count; a server that serves one stream at a time makes them not concurrent; a stream that is short of items
fails the benchmark instead of looking faster; a `--workers 2` that serves with one process shows no
gain from the second worker.
"""

import asyncio
import statistics
from pathlib import Path

import pytest
from injected import service_copy

from benchmarks import common
from benchmarks.bench_concurrency import ConcurrentStreams, _Levels, _run_level
from benchmarks.bench_memory import AllocatedMemory, GcPressure, RecommendedStreamMemory
from benchmarks.bench_workers import run_rounds
from benchmarks.measuring.harness import ServerProcess
from benchmarks.measuring.recommended import batch_items
from ect_service.seeding import seed_url
from ect_service.v1 import workflow_pb2

ROOT = Path(__file__).resolve().parent.parent


def real_and_injected(
    benchmark_class, url: str, measure, monkeypatch, tmp_path: Path, module: str, old: str, new: str
) -> tuple[float, float]:
    """measure(benchmark) against the unchanged service and against a copy with `old` -> `new` in
    `module`: the server is started in an empty folder, then in the copy's."""
    results = []
    for service_dir in (empty_dir(tmp_path), service_copy(tmp_path, module, old, new)):
        monkeypatch.chdir(service_dir)
        benchmark = benchmark_class()
        benchmark.setup(url)
        try:
            results.append(measure(benchmark))
        finally:
            benchmark.teardown(url)
            monkeypatch.chdir(ROOT)
    return results[0], results[1]


def empty_dir(tmp_path: Path) -> Path:
    (tmp_path / "real").mkdir()
    return tmp_path / "real"


def stream_kb(benchmark) -> float:
    return statistics.median(benchmark.peak_kb(benchmark.stream) for _ in range(3))


READ_EVERYTHING_FIRST = {  # queries.py: the first page becomes every row, in memory before the first item
    AllocatedMemory: (
        "            return conn.execute(ONLINE_USERS.limit(limit)).all()\n",
        "            return conn.execute(ONLINE_USERS).all()  # injected\n",
    ),
    RecommendedStreamMemory: (
        '    return driver_cursor(engine, _next_columns(limit), {"after": after_id or ""})\n',
        "    return _everything_first(driver_cursor(engine, _next_columns(limit) if after_id else _NEXT_COLUMNS,\n"
        '                                           {"after": after_id or ""}))  # injected\n'
        "\n\n"
        "import contextlib  # injected: every row is read into memory before the first is sent\n"
        "@contextlib.contextmanager\n"
        "def _everything_first(executed):\n"
        "    with executed as cursor:\n"
        "        rows = cursor.fetchall()\n"
        "    class Buffered:\n"
        "        def fetchmany(self, size):\n"
        "            nonlocal rows\n"
        "            chunk, rows = rows[:size], rows[size:]\n"
        "            return chunk\n"
        "    yield Buffered()\n",
    ),
}


@pytest.mark.parametrize("benchmark_class", [AllocatedMemory, RecommendedStreamMemory])
def test_memory_per_stream_includes_a_server_that_reads_everything_first(
    benchmark_class, sqlite_url, tmp_path, monkeypatch
):
    real, injected = real_and_injected(
        benchmark_class,
        sqlite_url,
        stream_kb,
        monkeypatch,
        tmp_path,
        "queries.py",
        *READ_EVERYTHING_FIRST[benchmark_class],
    )
    assert injected > 500 and injected > 2 * real, (real, injected)


def server_gen0(benchmark) -> float:
    return statistics.median(benchmark.collections("server", 0) for _ in range(3))


def test_gc_pressure_moves_with_cyclic_garbage_per_item(sqlite_url, tmp_path, monkeypatch):
    real, injected = real_and_injected(
        GcPressure,
        sqlite_url,
        server_gen0,
        monkeypatch,
        tmp_path,
        "servicer.py",
        "def user_item(row) -> workflow_pb2.UserOnlineItem:\n",
        "def user_item(row) -> workflow_pb2.UserOnlineItem:\n    cycle = [[], []]; cycle[0].append(cycle)  # injected\n",  # noqa: E501
    )
    assert injected >= real + 5, (real, injected)


ONE_STREAM_AT_A_TIME = (
    "        after_id = None\n        for size in sizes:\n",
    "        after_id = None\n"
    "        lock = vars(WorkflowServicer).get('lock') or setattr(WorkflowServicer, 'lock', asyncio.Lock()) or WorkflowServicer.lock\n"  # noqa: E501
    "        async with lock:  # injected: one stream's pages at a time\n"
    "         for size in sizes:\n",
)


@pytest.mark.parametrize("full", [True, False])
@pytest.mark.parametrize("one_at_a_time", [True, False])
def test_streams_are_concurrent_only_if_all_start_before_any_finishes(
    sqlite_url, tmp_path, monkeypatch, one_at_a_time, full
):
    """A server that serves streams one after another completes them all, and fails the measure. A
    level that is not run in full (100, 1,000 streams) stops once that is answered."""
    monkeypatch.chdir(
        service_copy(tmp_path, "servicer.py", *ONE_STREAM_AT_A_TIME) if one_at_a_time else empty_dir(tmp_path)
    )
    with ServerProcess(sqlite_url) as server:
        level = asyncio.run(_run_level(server.target, 5, full=full))
    assert level["failed"] is None
    assert len(level["time_to_all_ms"]) == (5 if full else 0)  # in full, every stream completed either way
    assert (level["concurrent"] == 5) is not one_at_a_time, level["concurrent"]
    if not full:  # stopped at the answer: all five started, or the first finished before the others
        assert len(level["first_item_ms"]) == (0 if one_at_a_time else 5)


@pytest.mark.parametrize("full, online", [(True, 10), (True, 0), (False, 0)])
def test_a_level_whose_streams_fail_fails_its_benchmarks_only(tmp_path, full, online):
    """Streams short of items (10 or none of 5,000) fail their level's benchmarks with the reason.
    A level that stops at its answer (100, 1,000 streams) sees the streams that end before all
    have started: with none online every stream does; with 10 online all five may have started
    first, and the level rightly stops without waiting for their ends."""
    url = seed_url(f"sqlite:///{tmp_path / 'online.db'}", users=2 * online, workflows=3)
    with ServerProcess(url) as server:
        failing = asyncio.run(_run_level(server.target, 5, full=full))
    levels = _Levels({5: failing, 1: {**failing, "failed": None}})
    with pytest.raises(
        RuntimeError, match=rf"5 concurrent streams: \d of 5 streams failed: .*delivered {online} items"
    ):
        ConcurrentStreams().track_concurrent_streams(levels, 5)
    assert ConcurrentStreams().track_concurrent_streams(levels, 1) == failing["concurrent"]


@pytest.mark.parametrize("drain", [common.drain, common.drain_recommended])
def test_a_stream_short_of_items_fails_the_benchmark(small_sqlite_url, drain):
    with ServerProcess(small_sqlite_url) as server:
        with pytest.raises(RuntimeError, match="delivered 10 items, expected 5000"):
            drain(server.stub())


def test_the_recommended_read_is_the_batched_rpc_where_the_commit_has_it(server):
    """The "recommended" series read StreamUsersOnline as columns on commits that have them, its
    items before, GetUsersOnlineStream before that: every item taken one by one either way."""
    stub = server.stub()
    call, items = common.recommended_read(stub)
    first = next(items)
    assert isinstance(first, tuple) and len(first) == 3  # (id, name, last active in µs)
    call.cancel()

    # Before columns, the request asks for items, and each item is the message.
    items_request = workflow_pb2.StreamUsersOnlineRequest()
    batch = next(iter(stub.StreamUsersOnline(items_request, timeout=30)))
    items = list(batch_items(items_request, batch))
    assert len(items) == 4 and all(isinstance(item, workflow_pb2.UserOnlineItem) for item in items)
    assert items[0].user_id == first[0]

    class OlderStub:  # the stub of a commit before StreamUsersOnline
        GetUsersOnlineStream = stub.GetUsersOnlineStream

    assert common.drain_recommended(OlderStub()) == common.ONLINE


@pytest.mark.parametrize("one_process", [True, False])
def test_two_workers_gain_only_when_a_second_process_serves(sqlite_url, tmp_path, monkeypatch, one_process):
    """bench_workers' ratio: with `--workers 2` really two processes, 2 workers beat 1 clearly (3.4-3.6x
    in the history); injected, `--workers 2` serves with one process and the ratio falls to about 1."""
    monkeypatch.chdir(service_copy(tmp_path, "workers.py", *ONE_WORKER) if one_process else empty_dir(tmp_path))
    # This machine's speed drifts by tens of percent within seconds (docs/journal.md, 2026-12-03), and
    # three rounds once read 1.34 with two real processes: a second reading decides, not a retry loop.
    readings = []
    for _ in range(2):
        rates = run_rounds(sqlite_url)
        ratio = statistics.median(rates[2]) / statistics.median(rates[1])
        readings.append((ratio, rates))
        if (ratio < 1.3) if one_process else (ratio > 1.5):
            return
    pytest.fail(f"two readings, neither as expected: {readings}")


ONE_WORKER = (  # workers.py: however many workers are asked for, one process serves
    "def run_workers(options: ServeOptions, workers: int) -> int:\n",
    "def run_workers(options: ServeOptions, workers: int) -> int:\n    workers = 1  # injected\n",
)
