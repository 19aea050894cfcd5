"""Where a call's instructions went between two revisions: the per-item difference by library, by
native function and by Python function, from the files benchmarks/measuring/explaining.py wrote.

Per item, as the instruction counts compute it: (mean of the measured runs - mean of the baselines)
/ items, here for each function's own (exclusive) instructions, so that the rows add up to the
total and no instruction is counted twice. The Python functions' figures are bytecodes and calls
per item from separate, native runs: they name the Python code that the interpreter's
instructions executed.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ect_perf import callgrind

# The interpreter: its instructions execute Python code, which the Python functions' counts name.
INTERPRETER = re.compile(r"^(libpython3[\d.]*\.so.*|python3[\d.]*)$")
# Readable names of the libraries a call runs in (matched on the file's name).
LIBRARY_NAMES = (
    (INTERPRETER, "CPython"),
    (re.compile(r"^libsqlite3"), "SQLite"),
    (re.compile(r"^_sqlite3"), "sqlite3 module"),
    (re.compile(r"^(libc\.so|libc-|ld-linux)"), "C library"),
    (re.compile(r"^libm\.so"), "libm"),
    (re.compile(r"^(_message|_upb)"), "upb (protobuf)"),
    (re.compile(r"^cygrpc"), "grpc"),
    (re.compile(r"^libpq"), "libpq"),
    (re.compile(r"^(libmaodbc|libodbc|pyodbc)"), "ODBC"),
    (re.compile(r"^vgpreload|^valgrind"), "valgrind"),
)
PYTHON_ROOTS = (re.compile(r".*/site-packages/"), re.compile(r".*/lib/python3\.\d+/"))


def library_name(path: str) -> str:
    """'SQLite (libsqlite3.so.0.8.6)' for a library's path; its file name where none is known."""
    name = Path(path).name or path
    for pattern, label in LIBRARY_NAMES:
        if pattern.search(name):
            return f"{label} ({name})"
    return name


def is_interpreter(path: str) -> bool:
    return bool(INTERPRETER.match(Path(path).name))


def python_file(path: str, source: str | None = None) -> str:
    """A Python file's name as a reader knows it: relative to the revision's source folder
    (ect_service/servicer.py), to site-packages (sqlalchemy/engine/result.py) or to the standard
    library (asyncio/base_events.py)."""
    if source and path.startswith(source.rstrip("/") + "/"):
        return path[len(source.rstrip("/")) + 1 :]
    for root in PYTHON_ROOTS:
        if found := root.match(path):
            return path[found.end() :]
    return path


@dataclass
class Side:
    """One side of one call, one revision: per item."""

    items: int
    total: float  # instructions per item
    functions: dict[tuple[str, str], float]  # (library, function): own instructions per item
    sources: dict[tuple[str, str], tuple[str, int]]  # (library, function): (file, line)
    # (file, qualified name): (calls, bytecodes) per item. Not keyed by line: a change above a
    # function moves its line, and it is still the same function.
    python: dict[tuple[str, str], tuple[float, float]]
    python_lines: dict[tuple[str, str], int] = field(default_factory=dict)  # where each is defined


def _mean(counters: list[Counter]) -> Counter:
    total: Counter = Counter()
    for counter in counters:
        total.update(counter)
    return Counter({key: value / len(counters) for key, value in total.items()})


def read_side(folder: Path, manifest_side: dict, call: str, source: str | None = None) -> Side:
    """A side's per-item figures for `call` from the runs explaining.py left in `folder`."""
    run = manifest_side["calls"][call]
    items = run["items"]
    baselines = [callgrind.read(folder / name) for name in manifest_side["baselines"]]
    measured = [callgrind.read(folder / name) for name in run["measured"]]
    base, counted = _mean([f.costs for f in baselines]), _mean([f.costs for f in measured])
    functions = {key: (counted[key] - base[key]) / items for key in counted.keys() | base.keys()}
    sources: dict[tuple[str, str], tuple[str, int]] = {}
    for read in (*measured, *baselines):
        for key, (file, line) in read.sources.items():
            if key not in sources or (sources[key][1] == 0 and line):
                sources[key] = (file, line)
    python_base, _ = _python_counts(folder / manifest_side["python_baseline"], source)
    python_measured, lines = _python_counts(folder / run["python"], source)
    python = {}
    for key in python_measured.keys() | python_base.keys():
        calls_before, codes_before = python_base.get(key, (0, 0))
        calls_after, codes_after = python_measured.get(key, (0, 0))
        python[key] = ((calls_after - calls_before) / items, (codes_after - codes_before) / items)
    return Side(items, sum(functions.values()), functions, sources, python, lines)


def _python_counts(path: Path, source: str | None) -> tuple[dict[tuple[str, str], tuple[int, int]], dict]:
    """({(file, name): (calls, bytecodes)}, {(file, name): line}). Code objects of one name in one
    file add up (a function redefined further down, a module run twice); the line is that of the
    one that ran most bytecodes."""
    counts: dict[tuple[str, str], tuple[int, int]] = {}
    lines: dict[tuple[str, str], tuple[int, int]] = {}  # (file, name): (bytecodes, line) of the busiest
    for file, line, name, calls, codes in json.loads(path.read_text()):
        key = (python_file(file, source), name)
        before = counts.get(key, (0, 0))
        counts[key] = (before[0] + calls, before[1] + codes)
        if key not in lines or codes > lines[key][0]:
            lines[key] = (codes, line)
    return counts, {key: line for key, (_, line) in lines.items()}


@dataclass
class FunctionRow:
    library: str
    function: str
    file: str
    line: int
    before: float
    after: float

    @property
    def change(self) -> float:
        return self.after - self.before


@dataclass
class PythonRow:
    file: str
    line: int
    function: str
    calls_before: float
    calls_after: float
    bytecodes_before: float
    bytecodes_after: float

    @property
    def change(self) -> float:
        return self.bytecodes_after - self.bytecodes_before

    @property
    def name(self) -> str:
        return f"{self.file}:{self.line} {self.function}"


@dataclass
class SideChange:
    """One side of one call: BASE against HEAD."""

    call: str
    side: str
    before: float  # instructions per item
    after: float
    libraries: list[tuple[str, float, float]]  # (library, before, after), largest change first
    functions: list[FunctionRow]  # the top ones by absolute change of own instructions
    python: list[PythonRow]  # the top ones by absolute change of own bytecodes
    python_change: float  # bytecodes per item, every Python function
    explained: float | None  # the listed functions' share of the net change; None when there is none
    first: dict = field(default_factory=dict)  # what the explanation names first

    @property
    def change(self) -> float:
        return self.after - self.before


# The functions listed: at least `top`, and more, up to MOST_LISTED, until they explain
# EXPLAINED_TARGET of the net change. Work added in Python spreads over many of the interpreter's
# functions (the frame, the ints, the allocator): a fixed ten may leave a fifth of it unlisted.
# The count's own run-to-run noise (tens of instructions an item) spreads thinner still: 2% added
# in the database driver takes 20-30 functions to reach 90%, and at times more than 50. The rows
# beyond the first few go in the report's details block.
EXPLAINED_TARGET = 0.9
MOST_LISTED = 100


def listed_functions(rows: list[FunctionRow], net: float, top: int) -> list[FunctionRow]:
    """The first rows (largest change first) that a reader is shown."""
    listed = rows[:top]
    if abs(net) < 1:
        return listed
    explained = sum(row.change for row in listed)
    for row in rows[top:MOST_LISTED]:
        if explained / net >= EXPLAINED_TARGET:
            break
        listed.append(row)
        explained += row.change
    return listed


def compare_side(call: str, side: str, before: Side, after: Side, top: int) -> SideChange:
    keys = before.functions.keys() | after.functions.keys()
    rows = []
    for key in keys:
        file, line = after.sources.get(key) or before.sources.get(key) or (callgrind.UNKNOWN_FILE, 0)
        rows.append(
            FunctionRow(key[0], key[1], file, line, before.functions.get(key, 0.0), after.functions.get(key, 0.0))
        )
    rows.sort(key=lambda row: (-abs(row.change), row.library, row.function))
    net = after.total - before.total
    listed = listed_functions(rows, net, top)
    # A net change of under one instruction an item is no change to explain.
    explained = sum(row.change for row in listed) / net if abs(net) >= 1 else None
    libraries: dict[str, list[float]] = {}
    for row in rows:
        entry = libraries.setdefault(row.library, [0.0, 0.0])
        entry[0] += row.before
        entry[1] += row.after
    by_library = sorted(
        ((name, b, a) for name, (b, a) in libraries.items()), key=lambda entry: -abs(entry[2] - entry[1])
    )
    python_rows = []
    for key in before.python.keys() | after.python.keys():
        calls_before, codes_before = before.python.get(key, (0.0, 0.0))
        calls_after, codes_after = after.python.get(key, (0.0, 0.0))
        line = after.python_lines.get(key) or before.python_lines.get(key) or 0
        python_rows.append(PythonRow(key[0], line, key[1], calls_before, calls_after, codes_before, codes_after))
    python_rows.sort(key=lambda row: (-abs(row.change), row.file, row.line))
    change = SideChange(
        call,
        side,
        before.total,
        after.total,
        by_library,
        listed,
        python_rows[:top],
        sum(row.change for row in python_rows),
        explained,
    )
    change.first = first_named(change)
    return change


# A Python function is named first only when its own bytecodes moved by at least this much per item:
# less is noise of the event loop's turns, and the interpreter's change lies in what its bytecodes
# cost (the native functions say where), not in how many ran.
PYTHON_NAMED_MIN = 0.5


def moved_most(rows: list, way: int, moved: Callable[[object], float]):
    """Of `rows`, the one whose `moved(row)` is largest the way `way` says (1 up, -1 down); with
    way 0, the largest either way. None when none moved that way."""
    along = [row for row in rows if way * moved(row) > 0] if way else list(rows)
    return max(along, key=lambda row: abs(moved(row)), default=None)


def first_named(change: SideChange) -> dict:
    """What the explanation names first: what moved most the way the net change went (a function
    that got cheaper does not explain a regression). Where the interpreter's instructions moved most
    (the largest such library change is CPython's), the Python function whose own bytecodes moved
    most, since that is the code those instructions ran, if it moved by PYTHON_NAMED_MIN; else the
    native function whose own instructions did. With no net change to follow, the largest change
    either way."""
    if not change.functions:
        return {}
    way = 1 if change.change >= 1 else -1 if change.change <= -1 else 0
    library = moved_most(change.libraries, way, lambda entry: entry[2] - entry[1])
    python = moved_most(change.python, way, lambda row: row.change)
    if library and is_interpreter(library[0]) and python and abs(python.change) >= PYTHON_NAMED_MIN:
        return {
            "kind": "python",
            "file": python.file,
            "line": python.line,
            "function": python.function,
            "change": python.change,
        }
    row = moved_most(change.functions, way, lambda row: row.change) or change.functions[0]
    return {
        "kind": "native",
        "library": library_name(row.library),
        "file": row.file,
        "line": row.line,
        "function": row.function,
        "change": row.change,
    }
