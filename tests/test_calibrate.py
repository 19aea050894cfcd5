"""The calibration's injected slowdowns, without asv: each patched servicer imports, its calls
return the same messages, the amounts are as documented and the redefinitions are what the calls
run; the scenarios' selections, tallies, goals and measured sizes; scenario commits and the command
line. (The real calibration runs in test_calibrate_smoke.py, slow.)"""

import asyncio
import collections
import importlib.util
import inspect
import json
import re
import subprocess
import sys
import types
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from ect_perf import calibrate
from ect_perf.calibrate import (
    CalibrationError,
    Options,
    first_item_patch,
    inject,
    instructions_patch,
    loop_iterations,
    page_turns,
    recommended_instructions_patch,
    recommended_wall_patch,
    turns_per_row,
    wall_patch,
)
from ect_perf.gate import Comparison, Report
from ect_service import servicer
from ect_service.database import create_db_engine, resolve_url
from ect_service.db_threads import DatabaseThreads
from ect_service.seeding import seed_url
from ect_service.stream_limits import StreamLimits
from ect_service.v1 import workflow_pb2

ROOT = Path(__file__).resolve().parent.parent
# Like a SQLAlchemy Row of queries.ONLINE_USERS: by attribute and by position.
ROW = collections.namedtuple("Row", "id name last_active")("user-1", "Ada", datetime(2024, 5, 1, 12, 30, 15, 250_000))
# The recommended read's pages for 5,000 items (servicer.StreamUsersOnline with columns).
RECOMMENDED_PAGES = [4, 32, 256, 1_000, 1_000, 1_000, 1_000, 708]


def patched_servicer(tmp_path: Path, patch: str, name: str, redefines=("user_item",)):
    """This checkout's servicer.py with the patch appended, imported as a module of its own."""
    path = tmp_path / f"{name}.py"
    path.write_text((ROOT / calibrate.SERVICER).read_text())
    inject(path, patch, redefines)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    """A SQLite file with 600 users, 300 online: the recommended read's pages of 4, 32, 256 and 8 rows."""
    url = seed_url(f"sqlite:///{tmp_path_factory.mktemp('calibrate') / 'ect.db'}", users=600, workflows=1)
    engine = create_db_engine(resolve_url(url), pool_size=2)
    yield engine
    engine.dispose()


class RecordingContext:
    """A grpc servicer context that keeps what the call writes, with the time (`clock`) of each write."""

    def __init__(self, clock=None) -> None:
        self.messages, self.times, self.clock = [], [], clock

    async def write(self, message) -> None:
        self.messages.append(message)
        self.times.append(self.clock.now if self.clock else None)

    async def abort(self, code, details):
        raise AssertionError(f"the call aborted: {code} {details}")

    def peer(self) -> str:
        return "ipv4:127.0.0.1:1"


def call(module, method: str, request, engine) -> list:
    """The messages one call of the servicer of `module` writes, in this process."""

    async def run():
        db, streams = DatabaseThreads(engine, 2), StreamLimits(4, 30.0)
        context = RecordingContext()
        try:
            await getattr(module.WorkflowServicer(db, streams), method)(request, context)
        finally:
            streams.close()
            db.close(5.0)
        return context.messages

    return asyncio.run(run())


READS = [
    ("GetUsersOnlineStream", workflow_pb2.EmptyRequest()),
    ("StreamUsersOnline", workflow_pb2.StreamUsersOnlineRequest(columns=True)),
    ("StreamUsersOnline", workflow_pb2.StreamUsersOnlineRequest(columns=True, max_items_per_batch=100)),
    ("StreamUsersOnline", workflow_pb2.StreamUsersOnlineRequest()),
]


def test_amounts_are_as_documented():
    # 5% of 121,500 instructions per item, less the wrapper's 1,200, at 113 a loop turn: 43.1.
    assert loop_iterations(5, 121_500) == 43
    assert loop_iterations(2, 121_500) == 11  # the goal: a 2% change caught
    assert loop_iterations(10, 121_500) == 97
    assert loop_iterations(2, 109_300) == 9  # a faster service: fewer turns make the same 2%
    assert loop_iterations(0.01, 121_500) == 1  # below the wrapper's own cost


def test_the_recommended_reads_turns_add_the_percentage_of_its_count():
    """2% of 11,700 instructions an item is 234, 2.07 turns of 113: a page runs its rows' share,
    rounded, so the whole read's turns add 2% within a few instructions of 58.5 million."""
    per_row = turns_per_row(2, 11_700)
    assert per_row == pytest.approx(234 / 113)
    assert [page_turns(rows, per_row) for rows in (4, 32, 256, 1_000, 708)] == [8, 66, 530, 2_071, 1_466]
    added = sum(page_turns(rows, per_row) for rows in RECOMMENDED_PAGES) * calibrate.LOOP_INSTRUCTIONS
    assert added / (5_000 * 11_700) == pytest.approx(0.02, abs=0.00002)


def first_counted(rev: str, benchmark: str = calibrate.STREAM_COUNT) -> tuple[str, float]:
    """The first commit of `git rev-list rev` with a committed instruction count, read from its file."""
    files = {path.name[:8]: path for path in (ROOT / "results" / "valgrind").glob("*-*.json")}
    for commit in git(ROOT, "rev-list", rev).split():
        if commit[:8] in files:
            result = json.loads(files[commit[:8]].read_text())["results"][benchmark]
            return commit, result[0][result[1][0].index("'server'")]
    raise AssertionError(f"no commit before {rev} is counted")


@pytest.mark.parametrize("rev", ["HEAD", "HEAD~1"])
@pytest.mark.parametrize("scenario", ["instructions", "recommended-instructions"])
def test_the_reference_is_the_newest_count_at_or_before_rev(rev, scenario):
    commit, per_item = first_counted(rev, calibrate.COUNTS[scenario])
    reference = calibrate.counted_reference(ROOT / "asv.conf.json", git(ROOT, "rev-parse", rev), scenario)
    assert (reference.commit, reference.per_item) == (commit, pytest.approx(per_item))


def test_a_revision_without_any_count_is_refused(tmp_path):
    (tmp_path / "asv.conf.json").write_text((ROOT / "asv.conf.json").read_text())
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, *calibrate.GIT_USER, "commit", "-qm", "no results")
    rev = git(tmp_path, "rev-parse", "HEAD")
    with pytest.raises(CalibrationError, match=f"no instruction count of {rev[:8]} or of any commit before it"):
        calibrate.counted_reference(tmp_path / "asv.conf.json", rev)


def test_instructions_patch_returns_the_same_message(tmp_path):
    module = patched_servicer(tmp_path, instructions_patch(5, 121_500), "calibration_instructions_servicer")
    assert module.user_item is not module._calibration_user_item  # redefined
    assert module.user_item(ROW) == servicer.user_item(ROW)
    assert f"range({loop_iterations(5, 121_500)})" in (tmp_path / "calibration_instructions_servicer.py").read_text()


def test_connection_instructions_patch_adds_turns_per_row_the_driver_hands_over(tmp_path):
    """Below the service: every connection SQLAlchemy's SQLite dialect opens gets cursors whose
    fetchmany runs page_turns for the rows it returns, and returns them unchanged."""
    import sqlite3

    from sqlalchemy import create_engine

    originals = sqlite3.connect, sqlite3.dbapi2.connect
    try:
        module = patched_servicer(
            tmp_path, calibrate.connection_instructions_patch(2, 11_700), "calibration_connection", ()
        )
        ranges = []
        module.range = lambda *args: ranges.append(args) or range(*args)
        engine = create_engine(f"sqlite:///{tmp_path / 'c.db'}")
        connection = engine.raw_connection()
        cursor = connection.cursor()
        assert isinstance(cursor, module._CalibrationCursor)
        cursor.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100) SELECT i FROM n")
        rows = cursor.fetchmany(64)
        assert rows == [(i,) for i in range(1, 65)]
        outer, *inner = ranges
        assert sum(args[0] for args in inner) == page_turns(64, turns_per_row(2, 11_700))
        connection.close()
        engine.dispose()
    finally:
        sqlite3.connect, sqlite3.dbapi2.connect = originals


class BusyClock:
    """A clock the test sets; each reading advances it by `step` seconds, as a busy-wait reading the
    real clock would see it move."""

    def __init__(self, step: float = 1e-7) -> None:
        self.now = 0.0
        self.step = step

    def perf_counter(self) -> float:
        self.now += self.step
        return self.now


def test_recommended_instructions_patch_returns_the_same_pages_and_runs_its_turns(tmp_path, engine):
    """Each page as the unpatched function reads it, after as many loop turns as page_turns says
    for its rows, none of them in a range beyond 256 (CPython's cached ints)."""
    module = patched_servicer(
        tmp_path,
        recommended_instructions_patch(2, 11_700),
        "calibration_recommended_instructions",
        ("user_columns_pages",),
    )
    assert module.user_columns_pages is not module._calibration_user_columns_pages  # redefined
    ranges = []
    module.range = lambda *args: ranges.append(args) or range(*args)  # looked up at run time, as builtins are
    after_id = None
    for size in (4, 32, 256, 1_000):
        ranges.clear()
        messages, last, rows = module.user_columns_pages(engine, after_id, size, 100)
        assert (messages, last, rows) == servicer.user_columns_pages(engine, after_id, size, 100)
        outer, *inner = ranges
        assert sum(args[0] for args in inner) == page_turns(rows, turns_per_row(2, 11_700))
        assert max(args[0] for args in ranges) <= calibrate.LOOP_RUN and len(inner) == outer[0] + 1
        after_id = last
    assert rows == 8  # the last page: 300 online users = 4 + 32 + 256 + 8


def page_stream(
    module, clock: BusyClock, pages: int, seconds_per_page: float, gap: float = 0.0, rows: bool = False
) -> float:
    """Reads of `pages` pages each (read and sent in `seconds_per_page`, the page read faked), `gap`
    seconds apart, through the patched user_columns_pages (user_rows_page with `rows`); the time they
    take without the waits."""
    function, per_message = ("user_rows_page", ()) if rows else ("user_columns_pages", (500,))

    def read(engine, after_id, size, *per_message):
        clock.now += seconds_per_page
        return [], "last-id", size

    setattr(module, f"_calibration_{function}", read)
    for _ in range(3):
        clock.now += gap
        after_id = None
        for _ in range(pages):
            after_id = getattr(module, function)(None, after_id, 1_000, *per_message)[1]
    return 3 * pages * seconds_per_page


@pytest.mark.parametrize("percent", [10, 20])
def test_wall_patch_adds_the_percentage_of_the_pages_own_time(tmp_path, percent):
    """GetUsersOnlineStream at 30 µs an item, 1,000 rows a page: 10% is 3 ms a page, waited in full
    on the database thread, with no wrapper around user_item (whose own cost would add to it)."""
    module = patched_servicer(tmp_path, wall_patch(percent), f"calibration_wall_{percent}", ("user_rows_page",))
    assert not hasattr(module, "_calibration_user_item")
    clock = module._calibration_time = BusyClock()
    busy = page_stream(module, clock, 5, 30e-3, rows=True)
    assert clock.now - busy == pytest.approx(busy * percent / 100, abs=15 * 1e-6)


def test_wall_patch_returns_the_pages_it_reads(tmp_path, engine):
    module = patched_servicer(tmp_path, wall_patch(10), "calibration_wall_pages", ("user_rows_page",))
    after_id = None
    for size in (64, 128, 1_000):
        page = module.user_rows_page(engine, after_id, size)
        assert page == servicer.user_rows_page(engine, after_id, size)
        after_id = page[1]


def test_the_wall_patchs_first_page_waits_for_its_own_read(tmp_path):
    """The time between two streams is the client's, not waited for."""
    module = patched_servicer(tmp_path, wall_patch(10), "calibration_wall_gap", ("user_rows_page",))
    clock = module._calibration_time = BusyClock()
    busy = page_stream(module, clock, 5, 30e-3, gap=0.5, rows=True)
    assert clock.now - 3 * 0.5 - busy == pytest.approx(busy * 0.1, abs=15 * 1e-6)


@pytest.mark.parametrize("percent", [10, 20])
def test_recommended_wall_patch_adds_the_percentage_of_the_pages_own_time(tmp_path, percent):
    """At 1.4 ms a page, 10% is 140 µs a page, waited in full (a busy-wait does not overshoot)."""
    module = patched_servicer(
        tmp_path, recommended_wall_patch(percent), f"calibration_recommended_wall_{percent}", ("user_columns_pages",)
    )
    clock = module._calibration_time = BusyClock()
    busy = page_stream(module, clock, 8, 1.4e-3)
    # Each page reads the clock a few times, a tenth of a microsecond each.
    assert clock.now - busy == pytest.approx(busy * percent / 100, abs=24 * 1e-6)


def test_the_first_page_waits_for_its_own_read_not_the_time_since_the_previous_read(tmp_path):
    """The time between two reads is the client's: a first page's wait is sized by its own read."""
    module = patched_servicer(
        tmp_path, recommended_wall_patch(10), "calibration_recommended_wall_gap", ("user_columns_pages",)
    )
    clock = module._calibration_time = BusyClock()
    busy = page_stream(module, clock, 8, 1.4e-3, gap=0.05)
    assert clock.now - 3 * 0.05 - busy == pytest.approx(busy * 0.1, abs=24 * 1e-6)


FIRST_ITEM_MS = {"GetUsersOnlineStream": 0.5, "StreamUsersOnline": 0.8}
FIRST_ITEM = calibrate.FirstItemSizing(FIRST_ITEM_MS, (), calibrate.nominal_waits(10, FIRST_ITEM_MS))


@pytest.mark.parametrize("method, request_", READS)
@pytest.mark.parametrize("scenario", ["recommended-instructions", "recommended-wall", "first-item"])
def test_the_patched_calls_write_the_same_messages(tmp_path, engine, scenario, method, request_):
    patch = Options(
        references={"recommended-instructions": calibrate.Reference(11_700, "c" * 40)}, first_item_sizings=(FIRST_ITEM,)
    ).patch(scenario)
    name = f"calibration_same_{scenario.replace('-', '_')}"
    module = patched_servicer(tmp_path, patch, name, calibrate.REDEFINES[scenario])
    expected = call(servicer, method, request_, engine)
    assert call(module, method, request_, engine) == expected
    assert sum(len(m.columns.user_ids) + len(m.items) if method == "StreamUsersOnline" else 1 for m in expected) == 300


@pytest.mark.parametrize("percent", [10, 25])
def test_the_first_write_waits_the_percentage_of_the_first_item_time_and_no_other_does(tmp_path, percent):
    """The first trial's wait is `percent`% of the read's p50 time to the first item, whatever the
    server's own time; the first write waits what the patch was given."""
    waits = calibrate.nominal_waits(percent, {"GetUsersOnlineStream": 1.0, "StreamUsersOnline": 2.0})
    assert waits == pytest.approx(
        {"GetUsersOnlineStream": percent / 100 * 1e-3, "StreamUsersOnline": percent / 50 * 1e-3}
    )
    module = patched_servicer(
        tmp_path,
        first_item_patch(percent, waits),
        f"calibration_first_write_{percent}",
        calibrate.REDEFINES["first-item"],
    )
    clock = module._calibration_time = BusyClock()
    context = RecordingContext(clock)
    first_write = module._CalibrationFirstWrite(context, percent / 100 * 1e-3)  # the call starts
    clock.now += 1e-3  # its first message is ready 1 ms later

    async def writes():
        await first_write.write("first")
        clock.now += 5e-3
        await first_write.write("second")
        await first_write.write("third")

    asyncio.run(writes())
    assert context.messages == ["first", "second", "third"]
    assert context.times[0] == pytest.approx(1e-3 + percent / 100 * 1e-3, abs=1e-6)
    assert context.times[1] == context.times[2] == pytest.approx(context.times[0] + 5e-3, abs=1e-6)  # no wait
    assert first_write.peer() == context.peer()  # anything else is the call's own context


def sized_on(host, monkeypatch, percent=10.0):
    """size_first_item on a host whose client sees `host(method, wait s)` % more time to the first
    item; each trial's commit is the waits it was given."""
    monkeypatch.setattr(calibrate, "_commit", lambda clone, rev, scenario, patch: patch)
    trials = []

    def trial_sizes(config, rev_hash, commit, env_dir, scratch):
        waits = {method: float(re.search(rf"{method}, ([0-9.e-]+)\)", commit).group(1)) for method in FIRST_ITEM_MS}
        trials.append(waits)
        return {method: host(method, wait) for method, wait in waits.items()}

    monkeypatch.setattr(calibrate, "trial_sizes", trial_sizes)
    sizing = calibrate.size_first_item(
        Path("clone"), Path("asv.conf.json"), "rev", percent, FIRST_ITEM_MS, None, Path("s")
    )
    return sizing, trials


def share_of_p50(reach, overlap=0.0):
    """A host where `reach` of each wait beyond `overlap` seconds reaches the client."""
    return lambda method, wait: 100 * reach * max(wait - overlap, 0) / (FIRST_ITEM_MS[method] / 1e3)


def test_a_wait_that_reaches_the_client_in_full_is_kept(monkeypatch):
    sizing, trials = sized_on(share_of_p50(1.0), monkeypatch)
    nominal = calibrate.nominal_waits(10, FIRST_ITEM_MS)
    assert trials == [pytest.approx(nominal)] * calibrate.TRIALS
    assert sizing.waits == pytest.approx(nominal)
    assert [percent for _, percent in sizing.trials[0].values()] == pytest.approx([10.0, 10.0])


def test_a_wait_that_reaches_the_client_in_part_grows_until_it_adds_the_percentage(monkeypatch):
    """70% of the wait reaching the client (as on the Intel hosts of this machine kind): 10% of the
    p50 measured +7%, so the later trials wait 10/7 as long and read +10%."""
    sizing, trials = sized_on(share_of_p50(0.7), monkeypatch)
    assert len(trials) == len(sizing.trials) == calibrate.TRIALS
    grown = {m: w / 0.7 for m, w in calibrate.nominal_waits(10, FIRST_ITEM_MS).items()}
    assert trials[1:] == [pytest.approx(grown, rel=1e-4)] * (calibrate.TRIALS - 1)
    assert sizing.waits == pytest.approx(grown, rel=1e-4)
    assert [percent for _, percent in sizing.trials[-1].values()] == pytest.approx([10.0, 10.0], rel=1e-4)


def test_a_wait_partly_hidden_by_a_fixed_overlap_comes_close_within_the_trials(monkeypatch):
    host = share_of_p50(1.0, overlap=20e-6)
    sizing, _ = sized_on(host, monkeypatch)
    for method, wait in sizing.waits.items():
        assert 9.5 <= host(method, wait) <= 10.5


def test_the_fit_weighs_every_trial_so_one_noisy_read_moves_the_wait_less_than_scaling_by_it():
    """Two reads of one wait, +9% and +13%, ask for the wait that the mean +11% asks (10/11 of it);
    scaling by the last read alone would ask for 10/13. Each read is fitted on its own."""
    trials = [
        {"GetUsersOnlineStream": (100e-6, 9.0), "StreamUsersOnline": (80e-6, 5.0)},
        {"GetUsersOnlineStream": (100e-6, 13.0), "StreamUsersOnline": (160e-6, 10.0)},
    ]
    assert calibrate.fitted_waits(trials, 10.0) == pytest.approx(
        {"GetUsersOnlineStream": 100e-6 * 10 / 11, "StreamUsersOnline": 160e-6}
    )


@pytest.mark.parametrize("measured", [-1.0, 0.0, 2.0, 40.0])
def test_a_trial_too_far_from_the_percentage_to_fit_from_is_refused(measured):
    with pytest.raises(CalibrationError, match=re.escape(f"measured {measured:+.1f}%, too far from +10% to fit from")):
        calibrate.fitted_waits([{"GetUsersOnlineStream": (50e-6, measured)}], 10.0)


def test_the_report_says_how_the_first_item_waits_were_sized(monkeypatch):
    sizing, _ = sized_on(share_of_p50(0.7), monkeypatch)
    options = Options(scenarios=("first-item",), machine="m", first_item_sizings=(sizing,))
    assert options.injected("first-item") == (
        "+10% time to the first item of both reads (a wait before the first write sized on this host: "
        "GetUsersOnlineStream 71.4 µs, p50 0.5 ms, StreamUsersOnline 114.3 µs, p50 0.8 ms; "
        "3 interleaved trial(s), the last read +10.0%, +10.0%)"
    )
    sized = json.loads(calibrate.as_json(calibrate.Calibration(options, "0" * 40, {}, [])))["injected"]
    assert sized["first_item_sizings"][0]["waits_s"] == pytest.approx(sizing.waits)
    assert [
        t["StreamUsersOnline"]["measured_percent"] for t in sized["first_item_sizings"][0]["trials"]
    ] == pytest.approx([7.0, 10.0, 10.0], rel=1e-4)


def test_the_first_item_wait_is_made_once_per_call(tmp_path, engine):
    module = patched_servicer(
        tmp_path,
        first_item_patch(10, FIRST_ITEM.waits),
        "calibration_first_item_once",
        calibrate.REDEFINES["first-item"],
    )
    waits = []
    module._calibration_wait_until = waits.append  # looked up at each first write
    for method, request_ in READS:
        assert len(call(module, method, request_, engine)) > 1
    assert len(waits) == len(READS)


def test_the_wrapped_calls_are_still_coroutines(tmp_path):
    """grpc.aio runs a coroutine handler with context.write (a generator's values it would send itself)."""
    module = patched_servicer(
        tmp_path,
        first_item_patch(10, FIRST_ITEM.waits),
        "calibration_first_item_coroutines",
        calibrate.REDEFINES["first-item"],
    )
    for method in ("GetUsersOnlineStream", "StreamUsersOnline"):
        wrapped = getattr(module.WorkflowServicer, method)
        assert inspect.iscoroutinefunction(wrapped) and wrapped.__name__ == method
        assert wrapped.__wrapped__ is not wrapped


def _global_names(code) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


@pytest.mark.parametrize(
    "method, function",
    [
        ("GetUsersOnlineStream", "user_item"),
        ("GetUsersOnline", "user_item"),
        ("StreamUsersOnline", "user_columns_pages"),
    ],
)
def test_the_calls_look_what_is_redefined_up_at_run_time(method, function):
    """Why a redefinition appended to the module takes effect: the calls name the global."""
    assert function in _global_names(getattr(servicer.WorkflowServicer, method).__code__)


@pytest.mark.parametrize(
    "redefines, missing",
    [
        (("user_item",), "user_item"),
        (("user_columns_pages",), "user_columns_pages"),
        (("GetUsersOnlineStream", "StreamUsersOnline"), "GetUsersOnlineStream"),
    ],
)
def test_a_servicer_without_what_the_patch_redefines_is_refused(tmp_path, redefines, missing):
    path = tmp_path / "servicer.py"
    path.write_text("def item_of(row):\n    return row\n")
    with pytest.raises(CalibrationError, match=rf"has no `def {missing}\(`"):
        inject(path, instructions_patch(5, 121_500), redefines)
    assert path.read_text() == "def item_of(row):\n    return row\n"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def test_each_scenario_is_one_commit_on_rev_in_a_clone(tmp_path):
    origin = tmp_path / "origin"
    (origin / "ect_service").mkdir(parents=True)
    (origin / "ect_service" / "servicer.py").write_text(
        "def user_item(row):\n    return row\n\n\n"
        "def user_rows_page(engine, after_id, size):\n    return [], None, 0\n\n\n"
        "def user_columns_pages(engine, after_id, size, per_message):\n    return [], None, 0\n\n\n"
        "class WorkflowServicer:\n"
        "    async def GetUsersOnlineStream(self, request, context):\n        pass\n\n"
        "    async def StreamUsersOnline(self, request, context):\n        pass\n"
    )
    git(origin, "init", "-q")
    git(origin, "add", ".")
    git(origin, *calibrate.GIT_USER, "commit", "-qm", "base")
    rev = git(origin, "rev-parse", "HEAD")
    clone = tmp_path / "clone"
    calibrate._clone(origin, rev, clone)
    options = Options(
        machine="m",
        first_item_sizings=(FIRST_ITEM,),
        references={name: calibrate.Reference(10_000, "c" * 40) for name in calibrate.COUNTS},
    )
    commits = {name: calibrate._commit(clone, rev, name, options.patch(name)) for name in calibrate.SCENARIOS}
    for name, commit in commits.items():
        assert git(clone, "rev-parse", f"{commit}^") == rev, name
        assert git(clone, "diff", "--name-only", rev, commit) == ("" if name == "aa" else "ect_service/servicer.py")
    assert "time.sleep" not in git(clone, "show", f"{commits['instructions']}:ect_service/servicer.py")
    assert "_calibration_wait_until(" in git(clone, "show", f"{commits['wall']}:ect_service/servicer.py")
    assert "_calibration_wait_until(ready" in git(
        clone, "show", f"{commits['recommended-wall']}:ect_service/servicer.py"
    )
    assert "StreamUsersOnline, 8e-05)" in git(clone, "show", f"{commits['first-item']}:ect_service/servicer.py")
    assert git(origin, "status", "--porcelain") == "" and git(origin, "rev-parse", "HEAD") == rev


@pytest.mark.parametrize(
    "args, message",
    [
        (["--runs", "0"], "--runs: must be at least 1"),
        (
            ["--scenarios", "aa,bogus"],
            "--scenarios: choose from aa, instructions, wall, recommended-instructions, connection-instructions, "
            "recommended-wall, first-item",
        ),
        (["--min-detection-wall", "1.5"], "--min-detection-wall: must be between 0 and 1"),
        (["--min-detection-first-item", "-1"], "--min-detection-first-item: must be between 0 and 1"),
        (["--instructions-percent", "0"], "--instructions-percent: must be more than 0"),
        (["--first-item-percent", "0"], "--first-item-percent: must be more than 0"),
        (["--aa-bench", "("], "--aa-bench: not a regular expression"),
        (["--recommended-wall-bench", "("], "--recommended-wall-bench: not a regular expression"),
        (["no-such-revision"], "ect_perf calibrate: unknown revision 'no-such-revision'"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(args, message):
    done = subprocess.run(
        [sys.executable, "-m", "ect_perf", "calibrate", *args], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 2
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_the_command_lines_defaults_are_the_options_defaults():
    from ect_perf.__main__ import build_parser

    args = build_parser().parse_args(["calibrate"])
    options = Options(machine="m")
    assert args.scenarios == calibrate.SCENARIOS == options.scenarios
    assert {name: getattr(args, f"{name.replace('-', '_')}_bench") for name in calibrate.SCENARIOS} == options.bench
    assert {
        name: getattr(args, f"min_detection_{name.replace('-', '_')}") for name in options.min_detection
    } == options.min_detection
    assert (
        args.instructions_percent,
        args.recommended_instructions_percent,
        args.wall_percent,
        args.first_item_percent,
        args.max_false_alarms,
    ) == (
        options.instructions_percent,
        options.recommended_instructions_percent,
        options.wall_percent,
        options.first_item_percent,
        options.max_false_alarms,
    )
    assert set(options.bench) == set(calibrate.SCENARIOS) and set(options.min_detection) == set(calibrate.SIZE_ROWS)


def test_each_injected_scenarios_selection_runs_its_size_rows():
    """A scenario's size rows are among the benchmarks its selection runs, and the stream's do not
    select the recommended read's (which their injections do not slow)."""
    import re

    bench = Options(machine="m").bench
    rows = {
        "instructions": "bench_instructions.StreamInstructions.track_instructions_per_item('server')",
        "recommended-instructions": "bench_instructions.RecommendedStreamInstructions.track_instructions_per_item('server')",  # noqa: E501
        "wall": "bench_throughput.StreamThroughput.track_items_per_second",
        "recommended-wall": "bench_throughput.RecommendedStreamThroughput.track_items_per_second",
        "first-item": "bench_latency.RecommendedTimeToFirstItem.track_first_item_ms('p50')",
    }
    for scenario, row in rows.items():
        assert re.search(bench[scenario], row) and re.search(calibrate.SIZE_ROWS[scenario], row), scenario
    assert re.search(bench["first-item"], "bench_latency.TimeToFirstItem.track_first_item_ms('p50')")
    assert not re.search(bench["instructions"], rows["recommended-instructions"])
    assert not re.search(bench["wall"], rows["recommended-wall"])
    assert not re.search(bench["first-item"], "bench_concurrency.ConcurrentStreams.track_first_item_ms")


@pytest.mark.parametrize(
    "bench, calls",
    [
        (None, "stream,buffered,unary,recommended"),
        (r"\.StreamInstructions", "stream"),
        ("StreamInstructions", "stream,recommended"),
        ("RecommendedStreamInstructions", "recommended"),
        ("TimeToFirstItem|RecommendedTimeToFirstItem", "stream"),  # no count selected: none made
    ],
)
def test_only_the_selected_counts_are_made(bench, calls):
    assert calibrate.counted_calls(bench) == calls


def gate_row(
    ratio: float = 1.0,
    verdict: str = "unchanged",
    name: str = "bench_instructions.StreamInstructions.track_instructions_per_item('server')",
    better: str = "lower",
) -> Comparison:
    return Comparison(name, "", "", 100.0, 100.0 * ratio, ratio, verdict, better, "factor", 1.01, 0.0)


def gate_report(code: int, verdict: str = "unchanged", ratio: float = 1.0, *rows: Comparison) -> Report:
    return Report("rev", "commit", code, [gate_row(ratio, verdict), *rows])


def explanation_naming(function: str, side: str = "server", unlisted: float = 0.0):
    """The gate's explanation of a count that moved by 5 + `unlisted`, naming the Python function
    `function` first; `unlisted` of it spread evenly over more functions than are ever listed."""
    from ect_perf.explain import Explanation
    from ect_perf.explain.compare import MOST_LISTED, Side, compare_side

    lib, key = "/usr/lib/libpython3.11.so.1.0", ("ect_service/servicer.py", function)
    eval_frame = (lib, "_PyEval_EvalFrameDefault")
    spread = [(lib, f"helper_{n}") for n in range(2 * MOST_LISTED)]
    before = Side(5_000, 110.0, {eval_frame: 100.0, **{name: 1.0 for name in spread}}, {}, {key: (1.0, 10.0)})
    after = Side(
        5_000,
        115.0 + unlisted,
        {eval_frame: 105.0, **{name: 1.0 + unlisted / len(spread) for name in spread}},
        {},
        {key: (1.0, 12.0)},
    )
    return Explanation("a" * 40, "b" * 40, [compare_side("stream", side, before, after, top=1)], 1.0, [])


@pytest.mark.parametrize("preset, calls", [(None, "stream,buffered,unary,recommended"), ("unary", "unary")])
def test_aa_runs_the_gate_on_every_benchmark(monkeypatch, preset, calls):
    """No --bench, and every call counted (unless the environment says which)."""
    seen = []

    def run_gate(base, head, machine, bench, config, env_dir=None):
        seen.append((base, head, bench, calibrate.os.environ.get(calibrate.INSTRUCTION_CALLS)))
        return gate_report(0)

    monkeypatch.setattr(calibrate, "run_gate", run_gate)
    if preset:
        monkeypatch.setenv(calibrate.INSTRUCTION_CALLS, preset)
    else:
        monkeypatch.delenv(calibrate.INSTRUCTION_CALLS, raising=False)
    options = Options(runs=2, machine="m")
    calibration = calibrate.Calibration(options, "rev", {"aa": "aa-commit"}, [calibrate._tally(options, "aa")])
    (tally,) = calibrate.run_in_turn(calibration, Path("c"), Path("e")).tallies
    assert seen == [("rev", "aa-commit", None, calls)] * 2
    assert (tally.bench, tally.calls, tally.codes, tally.injected) == (None, calls, [0, 0], False)
    assert calibrate.os.environ.get(calibrate.INSTRUCTION_CALLS) == preset  # restored


def test_the_scenarios_run_in_turn_and_each_run_is_reported_as_it_ends(monkeypatch, tmp_path):
    """Run 1 of each scenario, then run 2 of each: a calibration stopped early has runs of all."""
    seen, reports = [], []
    monkeypatch.setattr(
        calibrate,
        "run_gate",
        lambda base, head, machine, bench, config, env_dir=None: seen.append(head) or gate_report(0),
    )
    options = Options(runs=2, machine="m", scenarios=("aa", "recommended-wall"))
    calibration = calibrate.Calibration(
        options,
        "rev",
        {"aa": "a", "recommended-wall": "w"},
        [calibrate._tally(options, name) for name in options.scenarios],
    )
    calibrate.run_in_turn(
        calibration,
        Path("c"),
        Path("e"),
        progress=lambda c: reports.append((calibrate.markdown(c).splitlines()[0], c.complete)),
    )
    assert seen == ["a", "w", "a", "w"]
    assert [complete for _, complete in reports] == [False, False, False, True]
    calibrate.save_reports(calibration, tmp_path / "runs")
    saved = sorted(path.name for path in (tmp_path / "runs").iterdir())
    names = [f"{name}-{run}" for name in ("aa", "recommended-wall") for run in (1, 2)]
    assert saved == sorted(
        [f"{name}.{kind}" for name in names for kind in ("json", "md")] + [calibrate.INJECTIONS_FILE]
    )
    assert calibrate.kept_injections(tmp_path / "runs") == {
        "aa": "nothing",
        "recommended-wall": calibrate.INJECTIONS["recommended-wall"] + ", +10%",
    }
    assert "| Benchmark |" in (tmp_path / "runs" / "aa-1.md").read_text()
    assert json.loads((tmp_path / "runs" / "aa-2.json").read_text())["exit_code"] == 0
    assert "| Gate, median |" in calibrate.markdown(calibration)
    assert reports[0][0].startswith("### Gate calibration at `rev`: in progress, 1 of 4 gate runs made")
    assert "in progress" not in reports[-1][0] and json.loads(calibrate.as_json(calibration))["complete"]


def test_a_calibration_goes_on_from_the_runs_kept_in_its_reports(monkeypatch, tmp_path):
    """Runs kept by an earlier session (save_reports) count as the first runs, read back from their
    JSON with what the tally needs (exit code, ratios, the explanation's function named first and
    share); only the missing runs are made, and numbered after the kept ones."""
    first = calibration([0, 0], [(1, "regressed", 1.05)] * 2)
    for tally in first.tallies:
        for report in tally.reports:
            report.base, report.machine = first.rev_hash, "host-a"
    calibrate.save_reports(first, tmp_path / "runs")
    made = []

    def run_gate(base, head, machine, bench, config, env_dir=None):
        made.append(head)
        report = gate_report(1, "regressed", 1.05) if head == "b" * 40 else gate_report(0)
        report.base, report.machine = base, machine
        report.explanation = explanation_naming("user_item") if head == "b" * 40 else None
        return report

    monkeypatch.setattr(calibrate, "run_gate", run_gate)
    options = replace(first.options, runs=3, machine="host-b")
    again = calibrate.Calibration(
        options, first.rev_hash, first.commits, [calibrate._tally(options, name) for name in options.scenarios]
    )
    for tally in again.tallies:
        for report in calibrate.kept_reports(tmp_path / "runs", tally.scenario, first.rev_hash):
            tally.add(report)
    calibrate.run_in_turn(again, Path("c"), Path("e"))
    assert made == ["a" * 40, "b" * 40]  # the third run of each, only
    aa, injected = again.tallies
    assert (aa.codes, injected.codes, injected.named) == ([0, 0, 0], [1, 1, 1], [True, True, True])
    assert injected.explained == pytest.approx([1.0, 1.0, 1.0])
    assert again.complete and again.code == 0
    calibrate.save_reports(again, tmp_path / "runs")
    assert (tmp_path / "runs" / "aa-3.json").is_file() and not (tmp_path / "runs" / "aa-4.json").exists()
    assert ", on `host-a` (4 runs), `host-b` (2 runs)." in calibrate.markdown(again)
    with pytest.raises(calibrate.CalibrationError, match="aa-1.json is a run at 01234567, not at fedcba98"):
        calibrate.kept_reports(tmp_path / "runs", "aa", "fedcba9876543210")


def test_runs_kept_of_another_injection_are_refused(tmp_path):
    """A calibration spread over sessions never mixes two injections of one scenario: the kept runs
    of an injection changed since (another size here) are refused, naming what to move away."""
    first = calibration([0, 0], [(1, "regressed", 1.05)] * 2)
    for tally in first.tallies:
        for report in tally.reports:
            report.base = first.rev_hash
    calibrate.save_reports(first, tmp_path / "runs")
    injection = first.options.injection("instructions")
    assert injection == calibrate.INJECTIONS["instructions"] + ", +5%"
    kept = calibrate.kept_reports(tmp_path / "runs", "instructions", first.rev_hash, injection)
    assert len(kept) == 2
    larger = replace(first.options, instructions_percent=10.0).injection("instructions")
    with pytest.raises(calibrate.CalibrationError, match=r"the instructions runs kept in .* another injection"):
        calibrate.kept_reports(tmp_path / "runs", "instructions", first.rev_hash, larger)
    assert len(calibrate.kept_reports(tmp_path / "runs", "aa", first.rev_hash, "nothing")) == 2
    (tmp_path / "runs" / calibrate.INJECTIONS_FILE).unlink()  # kept before injections were recorded
    assert len(calibrate.kept_reports(tmp_path / "runs", "instructions", first.rev_hash, larger)) == 2


def test_continue_needs_the_folder_of_kept_runs():
    done = subprocess.run(
        [sys.executable, "-m", "ect_perf", "calibrate", "--continue"], capture_output=True, text=True, cwd=ROOT
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == "ect_perf calibrate: --continue needs --reports DIR, the folder of the kept runs\n"


def test_an_instruction_injection_passes_only_when_its_function_is_named_first():
    """Caught every time, but one run's explanation named another function first: not passed."""
    result = calibration([0, 0], [(1, "regressed", 1.05)] * 2)
    assert result.code == 0 and result.tallies[1].named == [True, True]
    other = gate_report(1, "regressed", 1.05)
    other.explanation = explanation_naming("user_batch")
    result.tallies[1].add(other)
    assert result.tallies[1].named == [True, True, False] and not result.passed(result.tallies[1])
    client_only = gate_report(1, "regressed", 1.05)
    client_only.explanation = explanation_naming("user_item", side="client")
    assert not calibrate.named_first(client_only, "user_item")
    assert "- instructions: `user_item` in 2 of the 3 runs that caught it" in calibrate.markdown(result)
    named = json.loads(calibrate.as_json(result))["scenarios"][1]["named_first"]
    assert named == {"function": "user_item", "runs": [True, True, False]}


def test_an_instruction_injection_passes_only_when_its_listed_functions_explain_enough():
    """Named first every time, but one run's change is spread so thin that the most functions ever
    listed explain two thirds of it."""
    result = calibration([0, 0], [(1, "regressed", 1.05)] * 2)
    assert result.tallies[1].explained == [1.0, 1.0] and result.passed(result.tallies[1])
    spread = gate_report(1, "regressed", 1.05)
    spread.explanation = explanation_naming("user_item", unlisted=10.0)
    result.tallies[1].add(spread)
    assert result.tallies[1].named == [True, True, True]
    share = (5 + 99 / 200 * 10) / 15  # the first function and 99 of the 200 that share the rest
    assert result.tallies[1].explained == pytest.approx([1.0, 1.0, share])
    assert not result.passed(result.tallies[1]) and result.code == 1
    assert "explained 100% median, 66% lowest" in calibrate.markdown(result)
    assert json.loads(calibrate.as_json(result))["scenarios"][1]["explained"] == pytest.approx([1.0, 1.0, share])


def test_the_report_gives_the_explaining_s_share_of_the_gate_s_time():
    result = calibration([0, 0], [(1, "regressed", 1.05)] * 3)
    for report, (explaining, whole) in zip(result.tallies[1].reports, [(60, 600), (300, 600), (90, 600)]):
        report.explain_seconds, report.seconds = explaining, whole
    assert result.tallies[1].explain_shares() == [0.1, 0.5, 0.15]
    assert (
        "Explaining took a median 15% of the gate's time over the 3 runs that explained something "
        "(largest 50%): within the goal (at most 50%, goal 25%)."
    ) in calibrate.markdown(result)
    assert json.loads(calibrate.as_json(result))["scenarios"][1]["explain_shares"] == [0.1, 0.5, 0.15]


def test_the_explaining_s_time_is_weighed_against_the_gate_a_pull_request_runs():
    """The A/A runs judge every benchmark: explaining's median (200 s) adds 20% to their median gate
    (1,000 s), within the goal, though it was 50% of the injected scenario's own narrow gates."""
    result = calibration([0, 0, 0], [(1, "regressed", 1.05)] * 3)
    for report, whole in zip(result.tallies[0].reports, [900, 1_000, 1_400]):
        report.seconds = whole
    for report, explaining in zip(result.tallies[1].reports, [150, 200, 250]):
        report.explain_seconds, report.seconds = explaining, 2 * explaining
    cost = calibrate.explain_time(result.tallies)
    assert cost.adds == pytest.approx(0.2) and cost.verdict() == "within the goal"
    text = calibrate.markdown(result)
    assert "Explaining took a median 3.3 min over the 3 runs that explained something." in text
    assert "median 16.7 min) that adds 20%: within the goal (at most 50%, goal 25%)." in text
    assert "it took a median 50% of the gate's time over the 3 runs that explained something (largest 50%)." in text
    explaining = json.loads(calibrate.as_json(result))["explaining"]
    assert explaining == {
        "median_minutes": 3.33,
        "default_gate_median_minutes": 16.67,
        "adds": 0.2,
        "median_share_of_own_gate": 0.5,
        "verdict": "within the goal",
    }
    for report in result.tallies[0].reports:  # the same explaining against a quicker gate: 200 s of 300 s
        report.seconds = 300
    assert calibrate.explain_time(result.tallies).verdict() == "**over the limit**"


def test_a_tally_without_a_selection_counts_any_regressed_row():
    elsewhere = gate_row(1.3, "regressed", "bench_memory.GcPressure.track_gc_collections")
    anything = calibrate.Tally("recommended-wall", None, injected=True)
    anything.add(gate_report(1, "unchanged", 1.0, elsewhere))
    narrowed = calibrate.Tally("recommended-wall", "RecommendedStreamThroughput", injected=True)
    narrowed.add(gate_report(1, "unchanged", 1.0, elsewhere))
    assert (anything.hits, narrowed.hits) == (1, 0)


def calibration(aa_codes, instructions_runs, **options):
    from ect_perf.calibrate import Calibration, Reference, Tally

    aa = Tally("aa", None, injected=False)
    for code in aa_codes:
        aa.add(gate_report(code, "regressed" if code == 1 else "unchanged", 1.0))
    injected = Tally(
        "instructions", r"\.StreamInstructions", injected=True, size_rows=calibrate.SIZE_ROWS["instructions"]
    )
    for code, verdict, ratio in instructions_runs:
        report = gate_report(code, verdict, ratio)
        report.explanation = explanation_naming("user_item") if verdict == "regressed" else None
        injected.add(report)
    opts = Options(
        runs=len(aa_codes),
        scenarios=("aa", "instructions"),
        machine="m",
        references={"instructions": Reference(121_500, "c" * 40)},
        **options,
    )
    return Calibration(opts, "0123456789abcdef", {"aa": "a" * 40, "instructions": "b" * 40}, [aa, injected])


def test_tallies_and_exit_codes():
    caught = [(1, "regressed", 1.05)] * 2
    assert calibration([0, 0], caught).code == 0
    assert calibration([0, 1], caught).code == 1  # one false alarm, none allowed
    assert calibration([0, 1], caught, max_false_alarms=1).code == 0
    assert calibration([0, 0], [(1, "regressed", 1.05), (0, "unchanged", 1.01)]).code == 1  # 50% < 100%
    assert (
        calibration([0, 0], [(1, "regressed", 1.05), (0, "unchanged", 1.01)], min_detection={"instructions": 0.5}).code
        == 0
    )
    assert calibration([0, 0], [(1, "improved", 1.05)] * 2).code == 1  # exit 1 without its benchmark regressed
    assert calibration([0, 2], caught).code == 2  # errors outrank everything


@pytest.mark.parametrize(
    "aa_codes, max_false_alarms, passed",
    [
        ([0, 0, 0], 0, True),
        ([0, 1, 0], 0, False),
        ([0, 1, 0], 1, True),
        ([0, 2, 0], 0, False),
        ([0, 3, 0], 1, False),  # a run that errs misses the A/A goal whatever is allowed
    ],
)
def test_an_aa_run_that_errs_counts_against_the_aa_goal(aa_codes, max_false_alarms, passed):
    result = calibration(aa_codes, [(1, "regressed", 1.05)] * 3, max_false_alarms=max_false_alarms)
    aa = result.tallies[0]
    assert result.passed(aa) is passed
    assert json.loads(calibrate.as_json(result))["scenarios"][0]["passed"] is passed
    assert f"| {'yes' if passed else '**no**'} | n/a |" in calibrate.markdown(result).splitlines()[6]


def test_calibration_report():
    result = calibration([0, 3], [(1, "regressed", 1.04), (1, "regressed", 1.06)])
    text = calibrate.markdown(result)
    assert text.startswith("### Gate calibration at `01234567`: ERRORS (exit code 2)")
    assert (
        "| aa | nothing (A/A) | every benchmark | 2 | 1 | 0 | exit 3 | false alarms 0/2 "
        "| ≤ 0, the other runs exit 0 | **no** | n/a |"
    ) in text
    assert (
        "| instructions | +5% instructions/item (43 loop turns; 121,500 counted at cccccccc) "
        "| `\\.StreamInstructions` | 2 | 0 | 2 | 0 | detected 2/2 | ≥ 100% | yes "
        "| `StreamInstructions.track_instructions_per_item('server')` +5.0% |"
    ) in text
    assert "| Benchmark | aa | instructions |" in text
    assert "| `StreamInstructions.track_instructions_per_item('server')` | 1 | 1.05 |" in text
    data = json.loads(calibrate.as_json(result))
    assert data["exit_code"] == 2 and data["injected"]["loop_iterations"] == 43
    assert (data["injected"]["server_instructions_per_item"], data["injected"]["counted_at"]) == (121_500, "c" * 40)
    aa, injected = data["scenarios"]
    assert (aa["bench"], aa["exit_codes"], aa["false_alarms"], aa["errors"]) == (None, [0, 3], 0, 1)
    assert aa["passed"] is False  # an A/A run that errs misses the goal
    assert "size" not in aa
    assert (injected["detected"], injected["passed"]) == (2, True)
    assert injected["median_ratios"] == {
        "bench_instructions.StreamInstructions.track_instructions_per_item('server')": pytest.approx(1.05)
    }
    assert injected["size"] == {
        "rows": calibrate.SIZE_ROWS["instructions"],
        "asked_percent": 5.0,
        "range_percent": None,
        "within_range": None,
        "measured_percent": {
            "bench_instructions.StreamInstructions.track_instructions_per_item('server')": pytest.approx(5.0)
        },
    }


ITEMS = "bench_throughput.RecommendedStreamThroughput.track_items_per_second"
FIRST = "bench_latency.TimeToFirstItem.track_first_item_ms('{}')"
RECOMMENDED_FIRST = "bench_latency.RecommendedTimeToFirstItem.track_first_item_ms('{}')"


def wall_clock_calibration(items_ratios, first_ratios):
    """recommended-wall runs whose items/s read `items_ratios` (after/before), first-item runs whose
    p50 of the two reads read `first_ratios` (pairs) and their p99 twice as much."""
    from ect_perf.calibrate import Calibration, Tally

    wall = Tally("recommended-wall", "RecommendedStreamThroughput", True, calibrate.SIZE_ROWS["recommended-wall"])
    for ratio in items_ratios:
        wall.add(Report("rev", "commit", 1, [gate_row(ratio, "regressed", ITEMS, "higher")]))
    first = Tally("first-item", "TimeToFirstItem|RecommendedTimeToFirstItem", True, calibrate.SIZE_ROWS["first-item"])
    for stream_ratio, recommended_ratio in first_ratios:
        first.add(
            Report(
                "rev",
                "commit",
                1,
                [
                    gate_row(stream_ratio, "regressed", FIRST.format("p50")),
                    gate_row(2 * stream_ratio, "regressed", FIRST.format("p99")),
                    gate_row(recommended_ratio, "regressed", RECOMMENDED_FIRST.format("p50")),
                    gate_row(2 * recommended_ratio, "regressed", RECOMMENDED_FIRST.format("p99")),
                ],
            )
        )
    options = Options(runs=len(items_ratios), scenarios=("recommended-wall", "first-item"), machine="m")
    return Calibration(options, "0123456789abcdef", {}, [wall, first])


def test_the_measured_size_is_the_median_slowdown_of_the_size_rows():
    """items/s inverted: 0.9 of the items a second is 11.1% slower; the first item's p50 alone."""
    result = wall_clock_calibration([0.9, 0.5, 0.91], [(1.09, 1.11), (1.10, 1.12), (1.5, 1.0)])
    wall, first = result.tallies
    assert wall.measured() == {ITEMS: pytest.approx(100 / 0.9 - 100)}
    assert first.measured() == {
        FIRST.format("p50"): pytest.approx(10.0),
        RECOMMENDED_FIRST.format("p50"): pytest.approx(11.0),
    }
    assert result.options.size_range("first-item") == pytest.approx((8.0, 12.0))
    assert result.options.size_range("recommended-instructions") is None
    assert result.within_range(wall) is result.within_range(first) is True


def test_a_size_outside_its_range_is_reported_not_failed():
    result = wall_clock_calibration([0.8] * 3, [(1.05, 1.10)] * 3)
    wall, first = result.tallies
    assert result.within_range(wall) is result.within_range(first) is False
    assert result.code == 0 and result.passed(wall) and result.passed(first)
    text = calibrate.markdown(result)
    assert ("| `RecommendedStreamThroughput.track_items_per_second` +25.0%: **outside 8-12%** |") in text
    assert (
        "| `RecommendedTimeToFirstItem.track_first_item_ms('p50')` +10.0%, "
        "`TimeToFirstItem.track_first_item_ms('p50')` +5.0%: **outside 8-12%** |"
    ) in text
    size = {s["scenario"]: s["size"] for s in json.loads(calibrate.as_json(result))["scenarios"]}
    assert size["recommended-wall"]["measured_percent"] == {ITEMS: pytest.approx(25.0)}
    assert (size["first-item"]["range_percent"], size["first-item"]["within_range"]) == (
        [pytest.approx(8.0), pytest.approx(12.0)],
        False,
    )


def test_a_size_within_its_range_says_so():
    text = calibrate.markdown(wall_clock_calibration([0.91] * 3, [(1.09, 1.11)] * 3))
    assert "| `RecommendedStreamThroughput.track_items_per_second` +9.9%: within 8-12% |" in text
    assert "+11.0%, `TimeToFirstItem.track_first_item_ms('p50')` +9.0%: within 8-12% |" in text


def test_an_injection_with_nothing_measured_says_so():
    result = wall_clock_calibration([], [])
    assert result.within_range(result.tallies[0]) is None
    assert "| nothing measured |" in calibrate.markdown(result)


def test_the_overview_page_shows_the_default_selection_and_measured_sizes(tmp_path):
    from ect_perf import overview

    report = {
        "rev_hash": "0" * 40,
        "injected": {},
        "scenarios": [
            {
                "scenario": "aa",
                "bench": None,
                "exit_codes": [0, 0],
                "rate": "false alarms 0/2",
                "goal": "≤ 0",
                "passed": True,
            },
            {
                "scenario": "recommended-wall",
                "bench": "RecommendedStreamThroughput",
                "exit_codes": [1],
                "rate": "detected 1/1",
                "goal": "≥ 80%",
                "passed": True,
                "size": {
                    "asked_percent": 10,
                    "measured_percent": {"bench_throughput.RecommendedStreamThroughput.track_items_per_second": 13.2},
                    "range_percent": [8, 12],
                    "within_range": False,
                },
            },
        ],
    }
    (tmp_path / "latest.json").write_text(json.dumps(report))
    page = overview._calibration(tmp_path)
    assert "every benchmark" in page and "None" not in page
    assert "RecommendedStreamThroughput.track_items_per_second +13.2% (asked 10%), outside 8-12%" in page


def test_the_first_item_sizings_are_kept_with_the_runs_and_read_back(tmp_path, monkeypatch):
    """A calibration spread over sessions names the waits its kept runs had, not a new host's."""
    sizing, _ = sized_on(share_of_p50(0.7), monkeypatch)
    sizing = replace(sizing, machine="host-a")
    options = Options(scenarios=("first-item",), machine="m", first_item_sizings=(sizing, sizing))
    calibrate.save_reports(calibrate.Calibration(options, "0" * 40, {}, []), tmp_path)
    assert calibrate.kept_sizings(tmp_path) == (sizing, sizing)
    assert options.injected("first-item").endswith(f"; 2 sizings over the runs, each in {calibrate.SIZINGS_FILE})")
    assert calibrate.kept_sizings(tmp_path / "none") == ()
    (tmp_path / calibrate.SIZINGS_FILE).write_text('[{"waits_s": {}}]')
    with pytest.raises(CalibrationError, match="is not a first-item sizings file"):
        calibrate.kept_sizings(tmp_path)


def test_a_calibration_kept_both_as_latest_and_by_revision_is_shown_once(tmp_path):
    from ect_perf import overview

    def report(rev: str) -> str:
        scenario = {"scenario": "aa", "bench": None, "exit_codes": [0], "rate": "false alarms 0/1", "goal": "≤ 0"}
        scenario.update(passed=True, size=None)
        return json.dumps({"rev_hash": rev * 40, "injected": {}, "scenarios": [scenario]})

    (tmp_path / "latest.json").write_text(report("d"))
    (tmp_path / "dddd.json").write_text(report("d"))  # the same report, kept by its revision
    (tmp_path / "7777.json").write_text(report("7"))
    page = overview._calibration(tmp_path)
    assert page.count("<code>dddddddd</code>") == 1 and page.count("<code>77777777</code>") == 1
