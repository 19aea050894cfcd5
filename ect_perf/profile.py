"""python -m ect_perf profile CALL: where one call's instructions go, per library and per function.

The two runs of an instruction count (benchmarks/measuring/counting.py: the counted side under
valgrind, its peer native, once without calls and once with N), under callgrind instead of
cachegrind, so that every instruction is charged to the function that executed it and to that
function's library. The difference of the two runs over the items received is the cost per item,
as StreamInstructions & co. count it; split here by library and by function (self cost: what a
function executes itself, without its callees).
"""

from __future__ import annotations

import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ect_perf.callgrind import self_costs


class ProfileError(RuntimeError):
    pass


@dataclass
class Profile:
    call: str
    side: str
    items: int
    per_item: float  # instructions per item, the whole process
    by_library: list[tuple[str, float]]  # (library, instructions per item), costliest first
    by_function: list[tuple[str, str, float]]  # (library, function, instructions per item)


def profile(call: str, calls: int | None, side: str, top: int) -> Profile:
    """Profile `calls` calls of `call` (a call of bench_instructions.CALLS) on `side`; None: as many
    as its instruction count makes in one measured run."""
    from benchmarks.common import MISSING, USERS, seeded_database
    from benchmarks.measuring.counting import CALLS, VALGRIND, callgrind, counted_run

    if call not in CALLS:
        raise ProfileError(f"unknown call {call!r}; choose from {', '.join(CALLS)}")
    if not VALGRIND:
        raise ProfileError("valgrind is not installed (Debian: apt-get install valgrind)")
    if MISSING:
        raise ProfileError(MISSING)
    calls = calls or CALLS[call][0][side]
    url = seeded_database("ECT_BENCH_DB_URL", "ect-bench.db", USERS)
    with tempfile.TemporaryDirectory(prefix="ect-profile-") as scratch:
        base_total, _ = counted_run(url, call, 0, Path(scratch), side, tool=callgrind)
        total, items = counted_run(url, call, calls, Path(scratch), side, tool=callgrind)
        base = self_costs(Path(scratch) / f"{side}-{call}-0.out")
        measured = self_costs(Path(scratch) / f"{side}-{call}-{calls}.out")
    if not items:
        raise ProfileError(f"{calls} {call} calls delivered no items")
    difference = {key: (measured[key] - base[key]) / items for key in measured.keys() | base.keys()}
    libraries: Counter = Counter()
    for (library, _function), cost in difference.items():
        libraries[library] += cost
    functions = sorted(difference.items(), key=lambda entry: -entry[1])[:top]
    return Profile(
        call=call,
        side=side,
        items=items,
        per_item=(total - base_total) / items,
        by_library=[(library, cost) for library, cost in libraries.most_common() if abs(cost) >= 0.5],
        by_function=[(library, function, cost) for (library, function), cost in functions],
    )


def render(result: Profile) -> str:
    def short(path: str) -> str:
        return Path(path).name or path

    lines = [
        f"{result.call}, {result.side}: {result.per_item:,.0f} instructions per item "
        f"({result.items:,} items; callgrind, the run with calls minus the run without)",
        "",
        "per library:",
    ]
    lines += [f"{cost:>12,.0f}  {cost / result.per_item:6.1%}  {short(library)}" for library, cost in result.by_library]
    lines += ["", f"the {len(result.by_function)} costliest functions (their own instructions):"]
    lines += [
        f"{cost:>12,.0f}  {cost / result.per_item:6.1%}  {function}  [{short(library)}]"
        for library, function, cost in result.by_function
    ]
    return "\n".join(lines)
