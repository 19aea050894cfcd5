"""Why a verdict: the gate's explanation of the rows it judged regressed or improved.

An instruction count that moved is explained by `ect_perf explain` for its call and side (where
the instructions went, by library, native function and Python function); a memory row that moved, by
`ect_perf explain --memory` for its calls (the allocation sites whose size changed). A wall-clock row that
regressed while no instruction count and no CPU time per item moved gets that said (the time went
to waiting, not to work), with the other wall-clock components that moved the same way.
"""

from __future__ import annotations

import re

from ect_perf.gate.judge import Comparison, screen_factor, worse

# bench_instructions' classes and the call each counts (their `call`).
COUNTED_CALLS = {
    "StreamInstructions": "stream",
    "BufferedInstructions": "buffered",
    "UnaryInstructions": "unary",
    "RecommendedStreamInstructions": "recommended",
}
_COUNT_ROW = re.compile(r"^bench_instructions\.(\w+)\.track_instructions_per_item\('(server|client)'\)$")
# bench_memory's rows and the calls whose memory each measures (allocation_sites.py's calls).
MEMORY_CALLS = {
    "bench_memory.StreamingVsBufferingPeakMemory.peakmem_stream": ("stream",),
    "bench_memory.StreamingVsBufferingPeakMemory.peakmem_buffered": ("buffered",),
    "bench_memory.AllocatedMemory.track_allocated_kb('stream')": ("stream",),
    "bench_memory.AllocatedMemory.track_allocated_kb('buffered')": ("buffered",),
    "bench_memory.AllocatedMemory.track_buffered_to_stream_ratio": ("stream", "buffered"),
    "bench_memory.RecommendedStreamMemory.track_allocated_kb": ("recommended",),
    "bench_memory.RecommendedStreamMemory.track_buffered_to_stream_ratio": ("recommended", "buffered"),
}
CPU_ROWS = "bench_cpu.CpuPerItem."
MOVED = ("regressed", "improved")
# The wall-clock parts of a read, shown beside a wall-clock verdict when they moved the same way.
COMPONENTS = (
    ("server wait", "bench_concurrency.Backpressure.track_server_wait_ms"),
    ("client CPU", "bench_cpu.CpuPerItem.track_cpu_us_per_item('client')"),
    ("server CPU", "bench_cpu.CpuPerItem.track_cpu_us_per_item('server')"),
    ("first item", "bench_latency.RecommendedTimeToFirstItem.track_first_item_ms('p50')"),
    ("first item (one per message)", "bench_latency.TimeToFirstItem.track_first_item_ms('p50')"),
)


def counted_call(row: Comparison) -> tuple[str, str] | None:
    """(call, side) of an instruction-count row; None for any other row."""
    found = _COUNT_ROW.match(row.benchmark)
    if not found or found.group(1) not in COUNTED_CALLS:
        return None
    return COUNTED_CALLS[found.group(1)], found.group(2)


def calls_to_explain(rows: list[Comparison]) -> dict[str, set[str]]:
    """{call: {side, ...}} of the instruction counts judged regressed or improved."""
    wanted: dict[str, set[str]] = {}
    for row in rows:
        found = counted_call(row)
        if found and row.verdict in MOVED:
            wanted.setdefault(found[0], set()).add(found[1])
    return wanted


def memory_calls_to_explain(rows: list[Comparison]) -> tuple[str, ...]:
    """The calls whose memory rows were judged regressed or improved, in allocation_sites.py's order."""
    from ect_perf.explain.memory import CALLS  # here: ect_perf.explain imports the gate's modules

    wanted = {call for row in rows if row.verdict in MOVED for call in MEMORY_CALLS.get(row.benchmark, ())}
    return tuple(call for call in CALLS if call in wanted)


def waiting_notes(rows: list[Comparison]) -> dict[str, str]:
    """{row: note} for each wall-clock row judged regressed while the CPU work did not move: every
    instruction count and CPU-time row measured is unchanged."""
    work = [row for row in rows if counted_call(row) or row.benchmark.startswith(CPU_ROWS)]
    if not work or any(row.verdict in (*MOVED, "suspect") for row in work):
        return {}
    by_name = {row.benchmark: row for row in rows}
    notes = {}
    for row in rows:
        if row.judge != "statistics" or row.verdict != "regressed" or row in work:
            continue
        moved = []
        for label, name in COMPONENTS:
            part = by_name.get(name)
            if part is None or part is row or not part.before or not part.after or part.before != part.before:
                continue
            if worse(part.better, screen_factor(part.factor), part.before, part.after):
                moved.append(f"{label} {part.after / part.before:.3g}x")
        note = "CPU work unchanged (no instruction count or CPU time per item moved): the time went to waiting"
        notes[row.benchmark] = note + (f"; moved with it: {', '.join(moved)}" if moved else "")
    return notes
