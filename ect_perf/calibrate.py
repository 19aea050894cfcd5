"""Calibrate the gate: how often it cries wolf, and whether it catches slowdowns of a known size.

    python -m ect_perf calibrate [REV] [--runs 10] [--scenarios aa,instructions,...] [--json F] [--markdown F]

In a temporary clone of the repository (the checkout, its results/ and html/ are never touched),
one commit per scenario goes on top of REV, each a child of REV. An injected scenario appends code
to ect_service/servicer.py that redefines a function the calls look up at run time (first-item:
wraps two methods of the servicer class before grpc takes them); the messages stay the same.

  aa                        an empty commit: the same service code, so any alarm is a false one;
  instructions              `user_item()` (GetUsersOnlineStream, GetUsersOnline) burns about P% more
                            CPU instructions per item (--instructions-percent): P% of the stream
                            server's count at REV, or at its newest counted ancestor;
  wall                      `user_rows_page()`, each page of GetUsersOnlineStream, waits W% (--wall-percent)
                            of the time since the previous page: about W% more wall-clock time on any
                            host, no CPU work;
  recommended-instructions  `user_columns_pages()`, each page of the recommended read (StreamUsersOnline
                            with columns), burns about R% (--recommended-instructions-percent) of that
                            read server's count at REV (or its newest counted ancestor) per row;
  connection-instructions   the database connection layer (SQLite's driver: its cursors' fetchmany)
                            burns R% of the recommended read's count per row it hands over, below
                            the service's code;
  recommended-wall          `user_columns_pages()` waits, after each page, W% of the time since the
                            previous page (the first page: W% of its own read);
  first-item                GetUsersOnlineStream and StreamUsersOnline wait, before their first
                            message, a time that adds F% (--first-item-percent) to the read's time to
                            its first item as the client measures it: F% of TimeToFirstItem's and
                            RecommendedTimeToFirstItem's p50 at REV on this host (one asv run), then
                            fitted to trials measured as the gate confirms a suspect (size_first_item).

Then the gate compares REV with each commit `--runs` times, the scenarios in turn (run 1 of each,
then run 2 of each; --markdown and --json are rewritten after every run), each scenario with its own
benchmark selection: aa every benchmark (unless narrowed), an injected scenario the benchmarks it should
move. A false alarm is an aa run exiting 1, and the A/A goal is every run exiting 0 but for at
most --max-false-alarms; a detection is an injected run exiting 1 with a benchmark of its selection
regressed. Each injected scenario's measured size is the median over its runs of how much slower
its own rows read (SIZE_ROWS); a wall-clock injection's should lie within SIZE_TOLERANCE of what
it asked (8-12% for 10%): that is reported, not judged. Exit code: 0 when every goal is met, 1
otherwise, 2 when a gate run exited 2 or 3.

The asv environments are the checkout's (by its asv.conf.json), so builds stay cached there: do not
run another asv on them meanwhile. bench_instructions.py counts only the calls whose counts a
scenario selects (ECT_BENCH_INSTRUCTION_CALLS; every call for aa's default selection), unless the
environment sets that variable: a count takes minutes per call.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import textwrap
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from ect_perf import INSTRUCTIONS_MACHINE
from ect_perf.asv_results import values
from ect_perf.gate import Comparison, Report, rev_parse, run_gate
from ect_perf.gate.interleave import measure_interleaved
from ect_perf.gate.render import as_json as report_json
from ect_perf.gate.render import from_json as report_from_json
from ect_perf.gate.render import markdown as report_markdown
from ect_perf.gate.results import result_files
from ect_perf.gate.run_asv import env_dir as asv_env_dir
from ect_perf.gate.run_asv import load_config_json, run_asv, scratch_config
from ect_perf.hosts import host_machine
from ect_perf.machine_file import ensure_registered

SCENARIOS = (
    "aa",
    "instructions",
    "wall",
    "recommended-instructions",
    "connection-instructions",
    "recommended-wall",
    "first-item",
)
SERVICER = Path("ect_service") / "servicer.py"
# What each scenario's patch redefines: a servicer without it cannot be calibrated on that scenario.
REDEFINES = {
    "instructions": ("user_item",),
    "wall": ("user_rows_page",),
    "recommended-instructions": ("user_columns_pages",),
    "connection-instructions": (),  # it patches the database driver's module, not the servicer's code
    "recommended-wall": ("user_columns_pages",),
    "first-item": ("GetUsersOnlineStream", "StreamUsersOnline"),
}

# How each scenario's commit injects its change, in a line. A calibration spread over sessions
# (--reports DIR --continue) refuses the runs it kept of an injection that has changed since, so
# one report never mixes two injections: change the line whenever the injection changes.
INJECTIONS = {
    "aa": "nothing",
    "instructions": "empty loop turns in user_item, sized from the stream's server count",
    "wall": "a busy-wait after each page of user_rows_page, a share of the time since the previous page",
    "recommended-instructions": "empty loop turns per row after each page of user_columns_pages, sized from "
    "the recommended read's server count",
    "connection-instructions": "empty loop turns per row in the sqlite3 cursors' fetchmany, sized from the "
    "recommended read's server count",
    "recommended-wall": "a busy-wait after each page of user_columns_pages, a share of the time since the "
    "previous page",
    "first-item": "a busy-wait before both reads' first write, sized on this host by interleaved trials "
    "against REV until the client's p50 moves by the share asked",
}
INJECTIONS_FILE = "injections.json"  # in --reports DIR: {scenario: Options.injection(scenario)}
# In --reports DIR: each first-item sizing its runs were made with (a calibration spread over
# sessions sizes again on each host it goes on from), so the report names the waits the runs had.
SIZINGS_FILE = "first-item-sizings.json"

# The instructions scenarios are sized against the server's instructions per item as counted at
# REV (or at its newest counted ancestor) in the checkout's results/valgrind, so "+2%" stays 2% as
# the service gets faster (the stream's 121,500 at 400cb57, 109,300 at 89ee532). What the patch adds
# per item are approximations: the wrapper's call (WRAPPER_INSTRUCTIONS) and each turn of
# `for _ in range(K): pass` (LOOP_INSTRUCTIONS). Counted under cachegrind around user_item, 20,000
# calls: the wrapper 1,313, 20 turns 2,455 more, 100 turns 10,103 more. In the server, 20 turns
# added 3,480 (400cb57, 2.87% of its count, calibrate --runs 10), where these figures predict
# 3,770: scaled to that, about 1,200 and 113. The recommended read's wrapper is called once a page
# (8 pages for 5,000 items: under 2 instructions an item), so only its loop turns are sized.
STREAM_COUNT = "bench_instructions.StreamInstructions.track_instructions_per_item"
RECOMMENDED_COUNT = "bench_instructions.RecommendedStreamInstructions.track_instructions_per_item"
COUNTS = {
    "instructions": STREAM_COUNT,
    "recommended-instructions": RECOMMENDED_COUNT,
    "connection-instructions": RECOMMENDED_COUNT,
}
WRAPPER_INSTRUCTIONS = 1_200
LOOP_INSTRUCTIONS = 113
# CPython keeps one object per int up to 256; a range beyond that makes an int object per turn, which
# costs more than LOOP_INSTRUCTIONS. So the recommended read's loop runs in ranges of at most this.
LOOP_RUN = 256
INSTRUCTION_CALLS = "ECT_BENCH_INSTRUCTION_CALLS"  # which calls bench_instructions.py counts
# bench_instructions.py's call for each count (its CALLS), to count only those a selection runs.
INSTRUCTION_COUNTS = {
    "stream": STREAM_COUNT,
    "buffered": "bench_instructions.BufferedInstructions.track_instructions_per_item",
    "unary": "bench_instructions.UnaryInstructions.track_instructions_per_call",
    "recommended": RECOMMENDED_COUNT,
}

# The rows whose change is an injected scenario's measured size (after/before, items/s inverted):
# the server's count of the read it slows, the read's items/s, the first item's median.
SIZE_ROWS = {
    "instructions": r"\.StreamInstructions\.track_instructions_per_item\('server'\)",
    "recommended-instructions": r"\.RecommendedStreamInstructions\.track_instructions_per_item\('server'\)",
    "connection-instructions": r"\.RecommendedStreamInstructions\.track_instructions_per_item\('server'\)",
    "wall": r"\.StreamThroughput\.track_items_per_second",
    "recommended-wall": r"\.RecommendedStreamThroughput\.track_items_per_second",
    "first-item": r"TimeToFirstItem\.track_first_item_ms\('p50'\)",
}
# A wall-clock injection is sized at run time from the time it slows; its measured size should lie
# within this share of what it asked (8-12% for 10%), else its detection rate is that of another size.
SIZE_TOLERANCE = 0.2
SIZE_CHECKED = ("wall", "recommended-wall", "first-item")

GIT_USER = [
    "-c",
    "user.name=ect_perf calibrate",
    "-c",
    "user.email=calibrate@example.invalid",
    "-c",
    "commit.gpgsign=false",
]


class CalibrationError(RuntimeError):
    """A calibration that cannot start (nothing to patch, a git failure); one-line message."""


@dataclass(frozen=True)
class Reference:
    """What an instructions scenario is sized against: the server's instructions per item of the
    read it slows, counted at `commit`."""

    per_item: float
    commit: str


def loop_iterations(percent: float, per_item: float) -> int:
    """Loop turns that, with the wrapper's own cost, add about `percent`% of `per_item`, the server's
    instructions per item (rounded half up; at least 1, so below about 1% the wrapper alone
    decides): 2% of 109,300 = 2,186 = 1,200 + 9 turns of 113 (2,217: +2.03%)."""
    wanted = percent / 100 * per_item - WRAPPER_INSTRUCTIONS
    return max(1, int(wanted / LOOP_INSTRUCTIONS + 0.5))


def turns_per_row(percent: float, per_item: float) -> float:
    """Loop turns per row of the recommended read that add about `percent`% of `per_item`: a
    fraction, since a page runs rows x this (rounded): 2% of 11,700 = 234 = 2.07 turns of 113."""
    return percent / 100 * per_item / LOOP_INSTRUCTIONS


def page_turns(rows: int, per_row: float) -> int:
    """The loop turns of a page of `rows` rows (rounded half up), as the patched page computes them."""
    return int(rows * per_row + 0.5)


def counted_reference(config_path: Path, rev_hash: str, scenario: str = "instructions") -> Reference:
    """The server's count of the scenario's read (COUNTS) at REV, else at its newest counted
    ancestor, from the checkout's committed results (asv machine INSTRUCTIONS_MACHINE);
    CalibrationError when none of them is counted."""
    root = config_path.resolve().parent
    config = load_config_json(config_path)
    results_dir = root / config.get("results_dir", "results")
    counted = {}
    for result in result_files(results_dir, INSTRUCTIONS_MACHINE):
        per_item = values(result, COUNTS[scenario]).get(("server",))
        if per_item:
            counted[result.commit] = per_item
    for commit in _git(root, "rev-list", rev_hash).split():
        if commit in counted:
            return Reference(counted[commit], commit)
    raise CalibrationError(
        f"no instruction count of {rev_hash[:8]} or of any commit before it in "
        f"{results_dir.name}/{INSTRUCTIONS_MACHINE}/ to size the {scenario} scenario against: "
        f"count one (asv run --machine {INSTRUCTIONS_MACHINE} --bench ^bench_instructions "
        f"{rev_hash[:8]}^!) or leave the scenario out"
    )


def instructions_patch(percent: float, per_item: float) -> str:
    """Redefines user_item: the stream and buffered calls look it up as a module global at each
    call, so the redefinition is what they run. The extra call costs a few hundred instructions."""
    turns = loop_iterations(percent, per_item)
    return f"""

# ect_perf calibrate: about {percent:g}% more CPU instructions per item ({turns} empty loop turns).
_calibration_user_item = user_item


def user_item(row):
    for _ in range({turns}):
        pass
    return _calibration_user_item(row)
"""


def wall_patch(percent: float) -> str:
    """Redefines user_rows_page, GetUsersOnlineStream's page (the stream reads 64, 128, ... then
    1,000 rows a page), to wait after each page (_page_wait_patch): wall-clock time, no work that
    an instruction count of the selection sees. Per page, not per item: a wrapper around user_item
    costs CPU time of its own on every item (a Python call, about 1,200 instructions or 1.1% of the
    stream server's count, and a clock reading), which adds to the wait: waits every 1,000 items
    from such a wrapper measured +12.1% for 10% asked (7 runs at d5eff6b). Few long waits, not many
    short ones: each stall costs the stream more than its own length (the client drains and must
    be woken again), and waits every 100 items (about 0.5 ms each) made StreamThroughput 11-16%
    slower for the 10% asked (journal, 2026-12-05)."""
    return _page_wait_patch(percent, "user_rows_page", "engine, after_id, size", "")


def _turns_loop(indent: str) -> str:
    """The empty loop turns of the recommended read's injections (`turns` of them), in ranges of at
    most LOOP_RUN (CPython's cached ints)."""
    return textwrap.indent(
        f"for _ in range(turns // {LOOP_RUN}):\n    for _ in range({LOOP_RUN}):\n        pass\n"
        f"for _ in range(turns % {LOOP_RUN}):\n    pass",
        indent,
    )


def recommended_instructions_patch(percent: float, per_item: float) -> str:
    """Redefines user_columns_pages, StreamUsersOnline's page with columns (the recommended read),
    which the call looks up as a module global at each call: after the page is read, empty loop
    turns for each of its rows (turns_per_row), in ranges of at most LOOP_RUN turns. The rows are
    added to the messages whole, with no Python call per row to redefine: the page is the finest
    place."""
    per_row = turns_per_row(percent, per_item)
    return f"""

# ect_perf calibrate: about {percent:g}% more CPU instructions per item of the recommended read
# ({per_row:.4g} empty loop turns per row, after each page, in ranges of at most {LOOP_RUN}).
_calibration_user_columns_pages = user_columns_pages


def user_columns_pages(engine, after_id, size, per_message):
    page = _calibration_user_columns_pages(engine, after_id, size, per_message)
    turns = int(page[2] * {per_row!r} + 0.5)
{_turns_loop("    ")}
    return page
"""


def connection_instructions_patch(percent: float, per_item: float) -> str:
    """Adds the work to the database connection layer, below every query of the service: the
    sqlite3 module's connections become a subclass whose cursors' fetchmany (the driver call that
    hands over the rows, ROWS_PER_FETCH at a time) runs empty loop turns for each row it returns
    (turns_per_row, sized like recommended_instructions_patch). The override calls the driver's own
    method directly (no super(), no keywords): its own cost, spread over many of the interpreter's
    functions, adds to the measured size and to what the explanation's rows must account for.
    SQLAlchemy's SQLite dialect calls sqlite3.dbapi2.connect when the pool opens a connection,
    after the servicer's module is imported; sqlite3.connect is the same function, replaced too."""
    per_row = turns_per_row(percent, per_item)
    return f"""

# ect_perf calibrate: about {percent:g}% more CPU instructions per item of the recommended read, in the
# database connection layer ({per_row:.4g} empty loop turns per row the driver hands over).
import sqlite3 as _calibration_sqlite3
import sqlite3.dbapi2 as _calibration_dbapi2


class _CalibrationCursor(_calibration_sqlite3.Cursor):
    def fetchmany(self, *args, _fetchmany=_calibration_sqlite3.Cursor.fetchmany):
        rows = _fetchmany(self, *args)
        turns = int(len(rows) * {per_row!r} + 0.5)
{_turns_loop("        ")}
        return rows


class _CalibrationConnection(_calibration_sqlite3.Connection):
    def cursor(self, factory=_CalibrationCursor):
        return super().cursor(factory)


_calibration_connect = _calibration_sqlite3.connect


def _calibration_connect_with_cursors(*args, **kwargs):
    kwargs.setdefault("factory", _CalibrationConnection)
    return _calibration_connect(*args, **kwargs)


_calibration_sqlite3.connect = _calibration_dbapi2.connect = _calibration_connect_with_cursors
"""


def _busy_wait() -> str:
    return """def _calibration_wait_until(until):
    # A busy-wait, not time.sleep: the waits are a fraction of a millisecond, which time.sleep
    # overshoots by about as much again, and a thread woken from a sleep then waits for the GIL.
    while _calibration_time.perf_counter() < until:
        pass"""


def recommended_wall_patch(percent: float) -> str:
    """Redefines user_columns_pages (see recommended_instructions_patch) to wait after each page
    (_page_wait_patch). Its instruction counts are not in the scenario's selection. The read sends
    5,000 items in 8 pages: a wait per 100 items would be a wait per message."""
    return _page_wait_patch(
        percent, "user_columns_pages", "engine, after_id, size, per_message", " of the recommended read"
    )


def _page_wait_patch(percent: float, function: str, params: str, what: str) -> str:
    """Redefines the page function `function`(`params`) to wait after each page, on the database
    thread the call waits for: `percent`% of the time since the previous page was read (its
    messages' sending and this page's read), the first page of a read `percent`% of its own read
    (the time before it is the previous read's, or the client's). The wait is a busy-wait holding
    the GIL, so the whole server stands still for it."""
    return f"""

# ect_perf calibrate: about {percent:g}% more wall-clock time per item{what}:
# after each page, wait {percent:g}% of the time since the previous page (the first page: of its own read).
import time as _calibration_time

_calibration_{function} = {function}
_calibration_since = [0.0]


{_busy_wait()}


def {function}({params}):
    start = _calibration_time.perf_counter()
    page = _calibration_{function}({params})
    ready = _calibration_time.perf_counter()
    since = start if after_id is None else _calibration_since[0]
    _calibration_wait_until(ready + (ready - since) * {percent / 100:g})
    _calibration_since[0] = _calibration_time.perf_counter()
    return page
"""


def nominal_waits(percent: float, first_item_ms: dict[str, float]) -> dict[str, float]:
    """{method: `percent`% of its read's time to the first item, in seconds}: the first trial's waits."""
    return {method: percent / 100 * first_item_ms[method] / 1e3 for method in REDEFINES["first-item"]}


def first_item_patch(percent: float, waits: dict[str, float]) -> str:
    """Wraps GetUsersOnlineStream and StreamUsersOnline (grpc takes the methods from the class when
    the server starts, after this runs): each call gets a context whose first write first waits
    `waits[method]` seconds, sized so that the client's time to the first item grows by `percent`%
    (size_first_item). Later writes and everything else go to grpc's context unchanged."""
    return f'''

# ect_perf calibrate: about {percent:g}% more time to the first item of GetUsersOnlineStream and
# StreamUsersOnline: before its first write, a call waits a time sized on this host to add {percent:g}%
# to the read's time to its first item at the revision below
# ({", ".join(f"{m} {w * 1e6:.1f} µs" for m, w in waits.items())}).
import functools as _calibration_functools
import time as _calibration_time


{_busy_wait()}


class _CalibrationFirstWrite:
    """A call's context whose first write waits first."""

    def __init__(self, context, wait):
        self._context = context
        self._wait = wait

    def __getattr__(self, name):
        return getattr(self._context, name)

    async def write(self, message):
        if self._wait is not None:
            _calibration_wait_until(_calibration_time.perf_counter() + self._wait)
            self._wait = None
        await self._context.write(message)


def _calibration_first_write_waits(method, wait):
    @_calibration_functools.wraps(method)
    async def call(self, request, context):
        await method(self, request, _CalibrationFirstWrite(context, wait))

    return call


WorkflowServicer.GetUsersOnlineStream = _calibration_first_write_waits(
    WorkflowServicer.GetUsersOnlineStream, {round(waits["GetUsersOnlineStream"], 9)!r})
WorkflowServicer.StreamUsersOnline = _calibration_first_write_waits(
    WorkflowServicer.StreamUsersOnline, {round(waits["StreamUsersOnline"], 9)!r})
'''


def inject(servicer: Path, patch: str, redefines: tuple[str, ...] = ("user_item",)) -> None:
    source = servicer.read_text()
    for name in redefines:
        if f"def {name}(" not in source:
            raise CalibrationError(f"{servicer} has no `def {name}(`: nothing to inject a slowdown into")
    servicer.write_text(source.rstrip("\n") + "\n" + patch)


def counted_calls(bench: str | None) -> str:
    """ECT_BENCH_INSTRUCTION_CALLS for a selection: the calls whose counts it selects (every call
    for None); the stream when it selects none, which then counts nothing anyway."""
    calls = [call for call, name in INSTRUCTION_COUNTS.items() if bench is None or re.search(bench, name)]
    return ",".join(calls) or "stream"


@dataclass(frozen=True)
class Options:
    rev: str = "HEAD"
    runs: int = 10
    scenarios: tuple[str, ...] = SCENARIOS
    # The gate's --bench per scenario (the benchmarks it should move; `\.`: not the recommended
    # read's, which the stream's injections do not slow); None: every benchmark.
    bench: dict[str, str | None] = field(
        default_factory=lambda: {
            "aa": None,
            "instructions": r"\.StreamInstructions",
            "wall": r"\.StreamThroughput",
            "recommended-instructions": "RecommendedStreamInstructions",
            "connection-instructions": "RecommendedStreamInstructions",
            "recommended-wall": "RecommendedStreamThroughput",
            "first-item": "TimeToFirstItem|RecommendedTimeToFirstItem",
        }
    )
    instructions_percent: float = 5.0
    recommended_instructions_percent: float = 2.0
    wall_percent: float = 10.0  # wall and recommended-wall
    first_item_percent: float = 10.0
    max_false_alarms: int = 0
    min_detection: dict[str, float] = field(
        default_factory=lambda: {
            "instructions": 1.0,
            "wall": 0.8,
            "recommended-instructions": 1.0,
            "connection-instructions": 1.0,
            "recommended-wall": 0.8,
            "first-item": 0.8,
        }
    )
    machine: str = field(default_factory=host_machine)  # this host's wall-clock machine
    config_path: Path = Path("asv.conf.json")
    # A folder of gate reports (SCENARIO-RUN.json, save_reports) from earlier runs at the same REV:
    # they count as the first runs, and only the runs still missing are made.
    kept: Path | None = None
    # Set by calibrate() for the instructions scenarios that run: {scenario: its count}.
    references: dict[str, Reference] = field(default_factory=dict)
    # Set by calibrate() for first-item: every sizing its runs kept and made were made with, in
    # order (SIZINGS_FILE), the last one this process's (size_first_item).
    first_item_sizings: tuple[FirstItemSizing, ...] = ()

    @property
    def first_item(self) -> FirstItemSizing | None:
        """The sizing of the first-item runs this process makes."""
        return self.first_item_sizings[-1] if self.first_item_sizings else None

    def turns(self) -> int:
        return loop_iterations(self.instructions_percent, self.references["instructions"].per_item)

    def turns_per_row(self, scenario: str = "recommended-instructions") -> float:
        return turns_per_row(self.recommended_instructions_percent, self.references[scenario].per_item)

    def percent(self, scenario: str) -> float | None:
        """The size the scenario asks for, in %; None for aa."""
        return {
            "instructions": self.instructions_percent,
            "recommended-instructions": self.recommended_instructions_percent,
            "connection-instructions": self.recommended_instructions_percent,
            "wall": self.wall_percent,
            "recommended-wall": self.wall_percent,
            "first-item": self.first_item_percent,
        }.get(scenario)

    def injection(self, scenario: str) -> str:
        """INJECTIONS' line with the size asked: what kept runs must share to count together."""
        percent = self.percent(scenario)
        return INJECTIONS[scenario] + (f", +{percent:g}%" if percent is not None else "")

    def patch(self, scenario: str) -> str | None:
        if scenario == "instructions":
            return instructions_patch(self.instructions_percent, self.references[scenario].per_item)
        if scenario == "recommended-instructions":
            return recommended_instructions_patch(
                self.recommended_instructions_percent, self.references[scenario].per_item
            )
        if scenario == "connection-instructions":
            return connection_instructions_patch(
                self.recommended_instructions_percent, self.references[scenario].per_item
            )
        if scenario == "wall":
            return wall_patch(self.wall_percent)
        if scenario == "recommended-wall":
            return recommended_wall_patch(self.wall_percent)
        if scenario == "first-item":
            return first_item_patch(self.first_item_percent, self.first_item.waits)
        return None

    def injected(self, scenario: str) -> str:
        percent = self.percent(scenario)
        reference = self.references.get(scenario)
        if scenario == "instructions":
            return (
                f"+{percent:g}% instructions/item ({self.turns()} loop turns; "
                f"{reference.per_item:,.0f} counted at {reference.commit[:8]})"
            )
        if scenario == "recommended-instructions":
            return (
                f"+{percent:g}% instructions/item of the recommended read ({self.turns_per_row():.3g} "
                f"loop turns a row; {reference.per_item:,.0f} counted at {reference.commit[:8]})"
            )
        if scenario == "connection-instructions":
            return (
                f"+{percent:g}% instructions/item of the recommended read in the database connection layer "
                f"({self.turns_per_row(scenario):.3g} loop turns a row fetched; {reference.per_item:,.0f} counted "
                f"at {reference.commit[:8]})"
            )
        if scenario == "wall":
            return f"+{percent:g}% wall time of GetUsersOnlineStream (waits {percent:g}% of each page's time)"
        if scenario == "recommended-wall":
            return f"+{percent:g}% wall time of the recommended read (waits {percent:g}% of each page's time)"
        if scenario == "first-item":
            how = self.first_item.describe() if self.first_item else "a wait before the first write sized on this host"
            if len(self.first_item_sizings) > 1:
                how += f"; {len(self.first_item_sizings)} sizings over the runs, each in {SIZINGS_FILE}"
            return f"+{percent:g}% time to the first item of both reads ({how})"
        return "nothing (A/A)"

    def size_range(self, scenario: str) -> tuple[float, float] | None:
        """The measured sizes, in %, that a wall-clock injection should lie within; None for the others."""
        if scenario not in SIZE_CHECKED:
            return None
        percent = self.percent(scenario)
        return percent * (1 - SIZE_TOLERANCE), percent * (1 + SIZE_TOLERANCE)


# The function each instruction injection adds its work to: the gate's explanation must name it first.
NAMED_FIRST = {
    "instructions": "user_item",
    "recommended-instructions": "user_columns_pages",
    "connection-instructions": "_CalibrationCursor.fetchmany",
}


# The share of the net change that the explanation's listed functions must account for.
EXPLAINED_MIN = 0.9


def named_first(report: Report, function: str) -> bool:
    """Whether the gate's explanation named `function` first on the server side (where the work was
    added)."""
    explanation = report.explanation
    if explanation is None:
        return False
    return any(change.side == "server" and change.first.get("function") == function for change in explanation.changes)


def explained_share(report: Report) -> float | None:
    """The share of the net change that the listed functions explain, on the server side of the call
    that moved most (relative to its count): the one the injection slowed. None without one."""
    explanation = report.explanation
    server = [c for c in explanation.changes if c.side == "server" and c.before] if explanation else []
    if not server:
        return None
    return max(server, key=lambda change: abs(change.change / change.before)).explained


def slowdown(row: Comparison) -> float | None:
    """How many times slower HEAD reads on this row: what measuring it again estimated where it was
    (the more exact figure), else its ratio after/before; inverted where higher is better (items/s);
    None without either."""
    estimate = row.confirmation.test.estimate if row.confirmation else None
    ratio = estimate or row.ratio
    if ratio is None or ratio <= 0:
        return None
    return ratio if row.better == "lower" else 1 / ratio


@dataclass
class Tally:
    """The gate runs of one scenario."""

    scenario: str
    bench: str | None  # None: every benchmark
    injected: bool
    size_rows: str | None = None  # SIZE_ROWS: the rows whose change is the injection's measured size
    calls: str = ""  # the calls bench_instructions.py counted (ECT_BENCH_INSTRUCTION_CALLS)
    codes: list[int] = field(default_factory=list)
    hits: int = 0  # aa: false alarms; injected: detections
    ratios: dict[str, list[float]] = field(default_factory=dict)
    slowdowns: dict[str, list[float]] = field(default_factory=dict)  # the size rows'
    reports: list[Report] = field(default_factory=list)  # each gate run's, in order
    named: list[bool] = field(default_factory=list)  # NAMED_FIRST's: each detection's explanation named it first
    explained: list[float | None] = field(default_factory=list)  # and the share its listed functions explain

    def add(self, report: Report) -> None:
        self.reports.append(report)
        self.codes.append(report.code)
        regressed = any(row.verdict == "regressed" and self.selects(row.benchmark) for row in report.rows)
        hit = report.code == 1 and (regressed or not self.injected)
        self.hits += int(hit)
        if hit and self.scenario in NAMED_FIRST:  # a run that caught nothing has nothing explained
            self.named.append(named_first(report, NAMED_FIRST[self.scenario]))
            self.explained.append(explained_share(report))
        for row in report.rows:
            if row.ratio is not None:
                self.ratios.setdefault(row.benchmark, []).append(row.ratio)
            if self.size_rows and re.search(self.size_rows, row.benchmark) and (factor := slowdown(row)):
                self.slowdowns.setdefault(row.benchmark, []).append(factor)

    def selects(self, benchmark: str) -> bool:
        return self.bench is None or re.search(self.bench, benchmark) is not None

    @property
    def errors(self) -> int:
        return sum(code not in (0, 1) for code in self.codes)

    def rate(self) -> str:
        return f"{'detected' if self.injected else 'false alarms'} {self.hits}/{len(self.codes)}"

    def median_minutes(self) -> float | None:
        """The gate's median duration over the runs, in minutes."""
        return statistics.median(report.seconds for report in self.reports) / 60 if self.reports else None

    def explain_shares(self) -> list[float]:
        """Of each run that explained something, the share of the gate's time its explaining took."""
        return [r.explain_seconds / r.seconds for r in self.reports if r.explain_seconds and r.seconds]

    def medians(self) -> dict[str, float]:
        return {name: statistics.median(values) for name, values in sorted(self.ratios.items())}

    def measured(self) -> dict[str, float]:
        """The injection's measured size per size row, in %: the median over the runs of its slowdown."""
        return {name: (statistics.median(values) - 1) * 100 for name, values in sorted(self.slowdowns.items())}


@dataclass
class Calibration:
    options: Options
    rev_hash: str
    commits: dict[str, str]
    tallies: list[Tally]

    def passed(self, tally: Tally) -> bool:
        """An injected scenario: caught often enough (a run that erred caught nothing) and, where it
        adds instructions, the injected function named first by every run's explanation, its listed
        functions explaining at least EXPLAINED_MIN of the change. A/A: at most max_false_alarms runs
        exited 1 and every other run exited 0."""
        if tally.injected:
            caught = tally.hits >= self.options.min_detection[tally.scenario] * len(tally.codes)
            explained = all(share is not None and share >= EXPLAINED_MIN for share in tally.explained)
            return caught and all(tally.named) and explained
        return tally.hits <= self.options.max_false_alarms and not tally.errors

    def goal(self, tally: Tally) -> str:
        if tally.injected:
            return f"≥ {self.options.min_detection[tally.scenario]:.0%}"
        return f"≤ {self.options.max_false_alarms}, the other runs exit 0"

    def within_range(self, tally: Tally) -> bool | None:
        """Whether every size row of a wall-clock injection measured within its size_range; None
        when it has no range or nothing was measured."""
        bounds = self.options.size_range(tally.scenario)
        measured = tally.measured()
        if bounds is None or not measured:
            return None
        return all(bounds[0] <= size <= bounds[1] for size in measured.values())

    @property
    def complete(self) -> bool:
        return all(len(tally.codes) == self.options.runs for tally in self.tallies)

    @property
    def code(self) -> int:
        if any(tally.errors for tally in self.tallies):
            return 2
        return 0 if all(self.passed(tally) for tally in self.tallies) else 1


def calibrate(options: Options, progress: Callable[[Calibration], None] | None = None) -> Calibration:
    """Raises BadRevision, PolicyError (verdicts.json) and CalibrationError. The runs go
    round the scenarios (run 1 of each, then run 2 of each, ...), so that a machine's slow hour
    weighs on all of them alike; `progress` gets the calibration so far after each gate run (a
    calibration stopped early keeps the report of the runs it made)."""
    root = options.config_path.resolve().parent
    rev_hash = rev_parse(root, options.rev)
    references = {
        name: counted_reference(options.config_path, rev_hash, name) for name in options.scenarios if name in COUNTS
    }
    options = replace(options, references=references)
    env_dir = asv_env_dir(options.config_path)
    with tempfile.TemporaryDirectory(prefix="ect-calibrate-") as scratch:
        clone = Path(scratch) / "repo"
        _clone(root, rev_hash, clone)
        config = clone / options.config_path.name
        if not config.is_file():
            raise CalibrationError(f"{options.rev} has no committed {config.name}")
        ensure_registered(options.machine)  # the gate's asv runs need it
        if "first-item" in options.scenarios:
            sizings = list(kept_sizings(options.kept)) if options.kept else []
            made = (
                len(kept_reports(options.kept, "first-item", rev_hash, options.injection("first-item")))
                if options.kept
                else 0
            )
            if made < options.runs or not sizings:  # runs to make: size on this host
                p50_ms = first_item_times(config, rev_hash, options.machine, env_dir, Path(scratch) / "first-item")
                sizing = size_first_item(
                    clone, config, rev_hash, options.first_item_percent, p50_ms, env_dir, Path(scratch)
                )
                sizings.append(replace(sizing, machine=options.machine))
            options = replace(options, first_item_sizings=tuple(sizings))
        commits = {name: _commit(clone, rev_hash, name, options.patch(name)) for name in options.scenarios}
        calibration = Calibration(options, rev_hash, commits, [_tally(options, name) for name in options.scenarios])
        if options.kept:
            for tally in calibration.tallies:
                kept = kept_reports(options.kept, tally.scenario, rev_hash, options.injection(tally.scenario))
                for report in kept[: options.runs]:
                    tally.add(report)
        return run_in_turn(calibration, config, env_dir, progress)


def kept_reports(folder: Path, scenario: str, rev_hash: str, injection: str | None = None) -> list[Report]:
    """The gate reports save_reports kept for `scenario`, runs 1, 2, ... up to the first missing
    one. Raises CalibrationError for a report of another REV (its BASE), and for runs of another
    injection than `injection` (Options.injection) as INJECTIONS_FILE records it."""
    recorded = kept_injections(folder).get(scenario)
    if injection is not None and recorded is not None and recorded != injection:
        if (folder / f"{scenario}-1.json").is_file():
            raise CalibrationError(
                f"the {scenario} runs kept in {folder} were made with another injection ({recorded}; now: "
                f"{injection}): move {folder}/{scenario}-*.json and .md away to make them again"
            )
    reports = []
    while (path := folder / f"{scenario}-{len(reports) + 1}.json").is_file():
        try:
            report = report_from_json(path.read_text())
        except (ValueError, KeyError, TypeError) as exc:
            raise CalibrationError(f"{path} is not a gate report this version reads ({exc})") from None
        if report.base != rev_hash:
            raise CalibrationError(f"{path} is a run at {report.base[:8]}, not at {rev_hash[:8]}")
        reports.append(report)
    return reports


def run_in_turn(
    calibration: Calibration, config: Path, env_dir: Path, progress: Callable[[Calibration], None] | None = None
) -> Calibration:
    """The gate runs of every scenario, one of each in turn, each with its selection and its calls
    counted (ECT_BENCH_INSTRUCTION_CALLS)."""
    options = calibration.options
    for run in range(options.runs):
        for tally in calibration.tallies:
            if len(tally.codes) > run:  # kept from an earlier calibration (Options.kept)
                continue
            with _environment(INSTRUCTION_CALLS, tally.calls):
                tally.add(
                    run_gate(
                        calibration.rev_hash,
                        calibration.commits[tally.scenario],
                        options.machine,
                        tally.bench,
                        config,
                        env_dir=env_dir,
                    )
                )
            print(
                f"ect_perf calibrate: {tally.scenario} run {run + 1}/{options.runs}: gate exit {tally.codes[-1]}",
                file=sys.stderr,
            )
            if progress:
                progress(calibration)
    return calibration


# The benchmark whose p50 sizes each first-item wait: the client's time to the first item of that call.
FIRST_ITEM_BENCHMARKS = {
    "GetUsersOnlineStream": "bench_latency.TimeToFirstItem.track_first_item_ms('p50')",
    "StreamUsersOnline": "bench_latency.RecommendedTimeToFirstItem.track_first_item_ms('p50')",
}


def first_item_times(config: Path, rev_hash: str, machine: str, env_dir: Path, results_dir: Path) -> dict[str, float]:
    """{method: p50 ms} of FIRST_ITEM_BENCHMARKS, from one asv run of REV into `results_dir`."""
    run = run_asv(scratch_config(config, results_dir, env_dir), [rev_hash], machine, "TimeToFirstItem")
    measured = {name: row.value for (_, name), row in run.rows(rev_hash).items()}
    times = {method: measured.get(name) for method, name in FIRST_ITEM_BENCHMARKS.items()}
    missing = [FIRST_ITEM_BENCHMARKS[method] for method, ms in times.items() if not ms or ms != ms]
    if missing:
        raise CalibrationError(
            f"could not size the first-item scenario: asv measured no {', '.join(missing)} "
            f"at {rev_hash[:8]} (asv exit {run.code})"
        )
    return times


# The first-item wait is sized by trials: the client's time to the first item grows by less or more
# than the server waits (on the Intel hosts of this machine kind by about 70% of it), so a wait of
# 10% of the p50 measured +6-7% there. Each trial measures REV against a commit with the trial's
# waits as the gate confirms a suspect (interleaved calls, whose estimate is the calibration's
# measured size); one trial reads within about ±3% on a busy host, so the waits come from a
# least-squares line through the origin over every trial (measured % = slope x wait), and each
# trial after the first waits what the line so far asks.
TRIALS = 3
MOST_SCALED = 3.0  # a fit that moves a wait further from the last trial's is not trusted: a noisy read


@dataclass(frozen=True)
class FirstItemSizing:
    """How the first-item waits were sized on this host."""

    p50_ms: dict[str, float]  # {method: its read's p50 time to the first item at REV, one asv run}
    trials: tuple[dict[str, tuple[float, float]], ...]  # each trial's {method: (wait s, measured %)}
    waits: dict[str, float]  # {method: the scenario's wait, s}
    machine: str = ""  # the host's asv machine

    def describe(self) -> str:
        reads = ", ".join(
            f"{method} {self.waits[method] * 1e6:.1f} µs, p50 {self.p50_ms[method]:.3g} ms"
            for method in sorted(self.waits)
        )
        last = self.trials[-1] if self.trials else {}
        read = ", ".join(f"{percent:+.1f}%" for _, (_, percent) in sorted(last.items()))
        trials = f"{len(self.trials)} interleaved trial(s), the last read {read}" if last else "no trial"
        return f"a wait before the first write sized on this host: {reads}; {trials}"

    def as_dict(self) -> dict:
        return {
            "machine": self.machine,
            "p50_ms_at_rev": self.p50_ms,
            "trials": [
                {method: {"wait_s": wait, "measured_percent": percent} for method, (wait, percent) in trial.items()}
                for trial in self.trials
            ],
            "waits_s": self.waits,
        }

    @classmethod
    def from_dict(cls, data: dict) -> FirstItemSizing:
        trials = tuple(
            {method: (read["wait_s"], read["measured_percent"]) for method, read in trial.items()}
            for trial in data["trials"]
        )
        return cls(dict(data["p50_ms_at_rev"]), trials, dict(data["waits_s"]), data.get("machine", ""))


def size_first_item(
    clone: Path,
    config: Path,
    rev_hash: str,
    percent: float,
    p50_ms: dict[str, float],
    env_dir: Path,
    scratch: Path,
) -> FirstItemSizing:
    """The waits that add `percent`% to each read's time to the first item on this host: TRIALS
    trials, the first waiting `percent`% of `p50_ms` (first_item_times), each later one and the
    result what fitted_waits asks of the trials before. Raises CalibrationError when a trial cannot
    be measured or the trials read a change too small to fit from."""
    waits = nominal_waits(percent, p50_ms)
    trials = []
    for trial in range(1, TRIALS + 1):
        commit = _commit(clone, rev_hash, "first-item", first_item_patch(percent, waits))
        measured = trial_sizes(config, rev_hash, commit, env_dir, scratch / f"first-item-trial-{trial}")
        trials.append({method: (waits[method], measured[method]) for method in waits})
        print(
            f"ect_perf calibrate: first-item trial {trial}/{TRIALS}: "
            + ", ".join(f"{m} waits {w * 1e6:.1f} µs: {measured[m]:+.1f}%" for m, w in sorted(waits.items())),
            file=sys.stderr,
        )
        waits = fitted_waits(trials, percent)
    return FirstItemSizing(p50_ms, tuple(trials), waits)


def fitted_waits(trials: list[dict[str, tuple[float, float]]], percent: float) -> dict[str, float]:
    """Each read's wait that the least-squares line through the origin over its trials' (wait,
    measured %) says adds `percent`%."""
    out = {}
    for method, (last, measured) in trials[-1].items():
        reads = [trial[method] for trial in trials]
        slope = sum(wait * size for wait, size in reads) / sum(wait * wait for wait, _ in reads)
        wait = percent / slope if slope > 0 else float("inf")
        if not last / MOST_SCALED <= wait <= last * MOST_SCALED:
            raise CalibrationError(
                f"could not size the first-item scenario: a wait of {last * 1e6:.1f} µs before {method}'s "
                f"first write measured {measured:+.1f}%, too far from +{percent:g}% to fit from"
            )
        out[method] = wait
    return out


def trial_sizes(config: Path, rev_hash: str, commit: str, env_dir: Path, scratch: Path) -> dict[str, float]:
    """{method: how much longer `commit` takes to its read's first item than REV, in %}, measured
    as the gate measures a suspect again (interleaved calls)."""
    rows = [
        Comparison(name, "sizing", "ms", None, None, None, "suspect", "lower", "statistics", 1.0, 0.0)
        for name in FIRST_ITEM_BENCHMARKS.values()
    ]
    scratch.mkdir(parents=True)
    # One look: a trial wants the estimate, and a second look's blocks would only refine it.
    found, left = measure_interleaved(rows, rev_hash, commit, config, scratch, env_dir, rows_tested=len(rows), looks=1)
    sizes = {}
    for method, name in FIRST_ITEM_BENCHMARKS.items():
        confirmation = found.get(("sizing", name))
        if left or confirmation is None:
            raise CalibrationError(
                f"could not size the first-item scenario: measuring {name} at {rev_hash[:8]} against a trial "
                "wait in interleaved calls failed"
            )
        sizes[method] = (confirmation.test.estimate - 1) * 100
    return sizes


def _tally(options: Options, name: str) -> Tally:
    bench = options.bench[name]
    return Tally(
        name,
        bench,
        injected=name != "aa",
        size_rows=SIZE_ROWS.get(name),
        calls=os.environ.get(INSTRUCTION_CALLS) or counted_calls(bench),
    )


@contextmanager
def _environment(name: str, value: str):
    """Set a variable for the asv processes started meanwhile (they inherit os.environ)."""
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            del os.environ[name]
        else:
            os.environ[name] = old


def _git(cwd: Path | None, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise CalibrationError(f"git {' '.join(args)} failed: {last}")
    return done.stdout.strip()


def _clone(root: Path, rev_hash: str, clone: Path) -> None:
    # --shared borrows the checkout's objects read-only, so REV resolves even off every branch.
    _git(None, "clone", "-q", "--shared", "--no-checkout", str(root), str(clone))
    _git(clone, "checkout", "-q", "--detach", rev_hash)


def _commit(clone: Path, rev_hash: str, scenario: str, patch: str | None) -> str:
    """A commit on REV (not on another scenario's commit); --allow-empty for the A/A one."""
    _git(clone, "checkout", "-q", "--detach", rev_hash)
    if patch:
        inject(clone / SERVICER, patch, REDEFINES[scenario])
    _git(
        clone, *GIT_USER, "commit", "-q", "--no-verify", "--allow-empty", "-a", "-m", f"ect_perf calibrate: {scenario}"
    )
    return _git(clone, "rev-parse", "HEAD")


def kept_sizings(folder: Path) -> tuple[FirstItemSizing, ...]:
    """SIZINGS_FILE of a reports folder; empty when there is none."""
    return _kept(
        folder / SIZINGS_FILE, "a first-item sizings file", lambda data: tuple(map(FirstItemSizing.from_dict, data))
    )


def kept_injections(folder: Path) -> dict[str, str]:
    """INJECTIONS_FILE of a reports folder: {scenario: injection}; empty when there is none."""
    return _kept(folder / INJECTIONS_FILE, "a scenario's injections file", dict)


def _kept(path: Path, what: str, read: Callable):
    """read(the JSON of `path`), or read([]) when there is no such file; CalibrationError when it
    is not `what`."""
    if not path.is_file():
        return read([])
    try:
        return read(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError) as exc:
        raise CalibrationError(f"{path} is not {what} ({exc})") from None


def save_reports(calibration: Calibration, folder: Path) -> None:
    """Each gate run's report as folder/SCENARIO-RUN.json and .md (the gate's own JSON and Markdown,
    the pull-request comment: every row, what was measured again and what each run read, and the
    explanation)."""
    folder.mkdir(parents=True, exist_ok=True)
    injections = kept_injections(folder)
    injections.update({tally.scenario: calibration.options.injection(tally.scenario) for tally in calibration.tallies})
    (folder / INJECTIONS_FILE).write_text(json.dumps(dict(sorted(injections.items())), indent=1) + "\n")
    if calibration.options.first_item_sizings:
        sizings = [sizing.as_dict() for sizing in calibration.options.first_item_sizings]
        (folder / SIZINGS_FILE).write_text(json.dumps(sizings, indent=1) + "\n")
    for tally in calibration.tallies:
        for run, report in enumerate(tally.reports, start=1):
            path = folder / f"{tally.scenario}-{run}.json"
            if not path.exists():
                path.write_text(report_json(report) + "\n")
                path.with_suffix(".md").write_text(report_markdown(report))


def _minutes(tally: Tally) -> str:
    minutes = tally.median_minutes()
    return "n/a" if minutes is None else f"{minutes:.1f} min"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")  # a regex's | would split a Markdown table cell


def _short(row: str) -> str:
    return row.split(".", 1)[-1]  # the benchmark without its module


def _bench(tally: Tally) -> str:
    return "every benchmark" if tally.bench is None else f"`{_cell(tally.bench)}`"


def _size(calibration: Calibration, tally: Tally) -> str:
    """The measured size cell: each size row's median slowdown and, for a wall-clock injection,
    whether it lies within its range (in bold when not)."""
    if not tally.injected:
        return "n/a"
    measured = tally.measured()
    if not measured:
        return "nothing measured"
    text = ", ".join(f"`{_short(name)}` {size:+.1f}%" for name, size in measured.items())
    bounds = calibration.options.size_range(tally.scenario)
    if bounds is None:
        return _cell(text)
    span = f"{bounds[0]:g}-{bounds[1]:g}%"
    return _cell(text + (f": within {span}" if calibration.within_range(tally) else f": **outside {span}**"))


def _ratios_table(tallies: list[Tally]) -> list[str]:
    """Median ratio after/before over the runs: a row per benchmark, a column per scenario."""
    names = sorted({name for tally in tallies for name in tally.ratios})
    if not names:
        return []
    medians = [tally.medians() for tally in tallies]
    lines = [
        "",
        "Median ratio after/before over the runs:",
        "",
        "| Benchmark | " + " | ".join(tally.scenario for tally in tallies) + " |",
        "|---|" + "---|" * len(tallies),
    ]
    for name in names:
        cells = [f"{m[name]:.3g}" if name in m else "" for m in medians]
        lines.append(f"| `{_cell(_short(name))}` | " + " | ".join(cells) + " |")
    return lines


def markdown(calibration: Calibration) -> str:
    options = calibration.options
    verdict = {0: "pass", 1: "FAIL", 2: "ERRORS"}[calibration.code]
    made = sum(len(tally.codes) for tally in calibration.tallies)
    if not calibration.complete:
        verdict = f"in progress, {made} of {options.runs * len(calibration.tallies)} gate runs made; so far {verdict}"
    lines = [
        f"### Gate calibration at `{calibration.rev_hash[:8]}`: {verdict} (exit code {calibration.code})",
        "",
        f"{options.runs} gate run(s) per scenario, REV against a commit on top of it, the scenarios in turn"
        f"{_machines(calibration)}.",
        "",
        "| Scenario | Injected | Benchmarks | Runs | Exit 0 | Exit 1 | Other | Rate | Goal | Met | Measured size "
        "| Gate, median |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for tally in calibration.tallies:
        other = ", ".join(f"exit {code}" for code in tally.codes if code not in (0, 1)) or "0"
        lines.append(
            f"| {tally.scenario} | {options.injected(tally.scenario)} | {_bench(tally)} | {len(tally.codes)} "
            f"| {tally.codes.count(0)} | {tally.codes.count(1)} | {_cell(other)} | {tally.rate()} "
            f"| {calibration.goal(tally)} | {'yes' if calibration.passed(tally) else '**no**'} "
            f"| {_size(calibration, tally)} | {_minutes(tally)} |"
        )
    lines += [
        "",
        "A false alarm is an A/A run exiting 1; a detection, an injected run exiting 1 with one of its "
        "benchmarks regressed; other exits are errors, and an A/A run that errs misses its goal too. "
        "Measured size: how much slower the injection made its own rows (the server's count of the read "
        "it slows, that read's items/s, the first item's p50), the median over the runs of after/before, "
        "items/s inverted. A wall-clock injection is sized at run time from the time it slows, so its "
        f"measured size should lie within ±{SIZE_TOLERANCE:.0%} of what it asked (8-12% for 10%); outside "
        "that, its detection rate is that of another size.",
        *_named_lines(calibration.tallies),
        *_explain_time_lines(calibration.tallies),
        *_ratios_table(calibration.tallies),
    ]
    return "\n".join(lines)


def _machines(calibration: Calibration) -> str:
    """Where the runs were made: one machine, or each with its number of runs (a calibration that
    went on from kept runs may span hosts of one machine kind)."""
    made = Counter(report.machine or "unknown" for tally in calibration.tallies for report in tally.reports)
    if not made:
        return ""
    if len(made) == 1:
        return f", on `{next(iter(made))}`"
    return ", on " + ", ".join(f"`{machine}` ({runs} runs)" for machine, runs in sorted(made.items()))


def _named_lines(tallies: list[Tally]) -> list[str]:
    named = [tally for tally in tallies if tally.scenario in NAMED_FIRST and tally.named]
    if not named:
        return []
    lines = [
        "",
        "The gate's explanation (where the instructions went) named the injected function first, its "
        f"listed functions explaining (goal: at least {EXPLAINED_MIN:.0%} of the net change, server side):",
        "",
    ]
    lines += [
        f"- {tally.scenario}: `{NAMED_FIRST[tally.scenario]}` in {sum(tally.named)} of the {len(tally.named)} "
        f"runs that caught it; explained {_shares(tally.explained)}"
        for tally in named
    ]
    return lines


# Explaining may add at most this share of the gate's time; the goal is EXPLAIN_TIME_GOAL.
EXPLAIN_TIME_LIMIT, EXPLAIN_TIME_GOAL = 0.5, 0.25


@dataclass
class ExplainTime:
    """What explaining cost over the runs that explained something. `adds`: its median against the
    median gate of the A/A runs, when they judged every benchmark (the gate a pull request runs);
    the injected scenarios' gates judge only the few benchmarks their injection moves, so there
    explaining weighs far more (`shares`)."""

    seconds: list[float]
    shares: list[float]  # each run's explaining over that run's whole gate
    default_gate_seconds: float | None  # the A/A runs' median, every benchmark judged

    @property
    def adds(self) -> float | None:
        if not self.seconds or not self.default_gate_seconds:
            return None
        return statistics.median(self.seconds) / self.default_gate_seconds

    def verdict(self) -> str:
        share = self.adds if self.adds is not None else statistics.median(self.shares)
        if share <= EXPLAIN_TIME_GOAL:
            return "within the goal"
        return "within the limit" if share <= EXPLAIN_TIME_LIMIT else "**over the limit**"


def explain_time(tallies: list[Tally]) -> ExplainTime | None:
    explaining = [r for tally in tallies for r in tally.reports if r.explain_seconds and r.seconds]
    if not explaining:
        return None
    default = [r.seconds for tally in tallies if tally.bench is None and not tally.injected for r in tally.reports]
    return ExplainTime(
        seconds=[r.explain_seconds for r in explaining],
        shares=[share for tally in tallies for share in tally.explain_shares()],
        default_gate_seconds=statistics.median(default) if default else None,
    )


def _explain_time_lines(tallies: list[Tally]) -> list[str]:
    cost = explain_time(tallies)
    if cost is None:
        return []
    limits = f"(at most {EXPLAIN_TIME_LIMIT:.0%}, goal {EXPLAIN_TIME_GOAL:.0%})"
    narrow = (
        f"a median {statistics.median(cost.shares):.0%} of the gate's time over the {len(cost.shares)} runs "
        f"that explained something (largest {max(cost.shares):.0%})"
    )
    if cost.adds is None:
        return ["", f"Explaining took {narrow}: {cost.verdict()} {limits}."]
    return [
        "",
        f"Explaining took a median {statistics.median(cost.seconds) / 60:.1f} min over the {len(cost.seconds)} "
        f"runs that explained something. Against the gate a pull request runs (every benchmark: the A/A "
        f"runs, median {cost.default_gate_seconds / 60:.1f} min) that adds {cost.adds:.0%}: {cost.verdict()} "
        f"{limits}. In the injected scenarios' own gates, which judge only the benchmarks their injection "
        f"moves, it took {narrow}.",
    ]


def _shares(shares: list[float | None]) -> str:
    known = [share for share in shares if share is not None]
    if not known:
        return "nothing (no net change)"
    text = f"{statistics.median(known):.0%} median, {min(known):.0%} lowest"
    return text + (f", {len(shares) - len(known)} runs with no net change" if len(known) < len(shares) else "")


def _explain_time_json(tallies: list[Tally]) -> dict | None:
    cost = explain_time(tallies)
    if cost is None:
        return None
    return {
        "median_minutes": round(statistics.median(cost.seconds) / 60, 2),
        "default_gate_median_minutes": round(cost.default_gate_seconds / 60, 2) if cost.default_gate_seconds else None,
        "adds": round(cost.adds, 3) if cost.adds is not None else None,
        "median_share_of_own_gate": round(statistics.median(cost.shares), 3),
        "verdict": cost.verdict().strip("*"),
    }


def _size_json(calibration: Calibration, tally: Tally) -> dict:
    bounds = calibration.options.size_range(tally.scenario)
    return {
        "rows": tally.size_rows,
        "asked_percent": calibration.options.percent(tally.scenario),
        "measured_percent": tally.measured(),
        "range_percent": list(bounds) if bounds else None,
        "within_range": calibration.within_range(tally),
    }


def _injected_json(options: Options) -> dict:
    stream, recommended = options.references.get("instructions"), options.references.get("recommended-instructions")
    return {
        "instructions_percent": options.instructions_percent,
        **(
            {
                "loop_iterations": options.turns(),
                "server_instructions_per_item": stream.per_item,
                "counted_at": stream.commit,
            }
            if stream
            else {}
        ),
        "recommended_instructions_percent": options.recommended_instructions_percent,
        **(
            {
                "recommended_turns_per_row": options.turns_per_row(),
                "recommended_server_instructions_per_item": recommended.per_item,
                "recommended_counted_at": recommended.commit,
            }
            if recommended
            else {}
        ),
        **(
            {"connection_turns_per_row": options.turns_per_row("connection-instructions")}
            if "connection-instructions" in options.references
            else {}
        ),
        "wall_percent": options.wall_percent,
        "first_item_percent": options.first_item_percent,
        "first_item_sizings": [sizing.as_dict() for sizing in options.first_item_sizings],
    }


def as_json(calibration: Calibration) -> str:
    options = calibration.options
    return json.dumps(
        {
            "rev": options.rev,
            "rev_hash": calibration.rev_hash,
            "runs": options.runs,
            "complete": calibration.complete,
            "exit_code": calibration.code,
            "commits": calibration.commits,
            "injected": _injected_json(options),
            "scenarios": [
                {
                    "scenario": tally.scenario,
                    "bench": tally.bench,
                    "injected": tally.injected,
                    "instruction_calls": tally.calls,
                    "exit_codes": tally.codes,
                    "errors": tally.errors,
                    ("detected" if tally.injected else "false_alarms"): tally.hits,
                    "rate": tally.rate(),
                    "goal": calibration.goal(tally),
                    "passed": calibration.passed(tally),
                    **({"size": _size_json(calibration, tally)} if tally.injected else {}),
                    **(
                        {
                            "named_first": {"function": NAMED_FIRST[tally.scenario], "runs": tally.named},
                            "explained": tally.explained,
                        }
                        if tally.scenario in NAMED_FIRST
                        else {}
                    ),
                    "median_ratios": tally.medians(),
                    "gate_minutes": [round(report.seconds / 60, 1) for report in tally.reports],
                    "machines": [report.machine for report in tally.reports],
                    "explain_shares": [round(share, 3) for share in tally.explain_shares()],
                }
                for tally in calibration.tallies
            ],
            "explaining": _explain_time_json(calibration.tallies),
        },
        indent=2,
    )
