"""The specification's "Performance Targets" table, filled from the latest asv results of a machine.

    python -m ect_perf targets [--machine python-svc] [--commit HASH] [--format text|markdown|json]

Exit code: 0 when every target passes, 1 when one fails or has no result, 2 when there are no
results to read at all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable

from ect_perf.asv_results import values


@dataclass(frozen=True)
class Target:
    name: str
    goal: str
    unit: str
    read: Callable  # result -> float | None
    passes: Callable[[float], bool]


@dataclass(frozen=True)
class Row:
    target: Target
    current: float | None

    @property
    def status(self) -> str:
        if self.current is None or self.current != self.current:  # failed (None) or skipped (NaN)
            return "missing"
        return "pass" if self.target.passes(self.current) else "fail"


def _value(benchmark: str, param: tuple = ()):
    def read(result):
        return values(result, benchmark).get(param)

    return read


def _highest_concurrent_level(result):
    """The largest level at which every stream had its first item before any stream finished."""
    levels = values(result, "bench_concurrency.ConcurrentStreams.track_concurrent_streams")
    measured = [(level, value) for (level,), value in levels.items() if value is not None and value == value]
    if not measured:
        return None
    return float(max([level for level, value in measured if value >= level], default=0))


def _degradation_at_50(result):
    """(1 - items/s at 50 streams / items/s at 1) x 100: positive means 50 streams are slower."""
    ratio = values(result, "bench_concurrency.ConcurrencyDegradation.track_throughput_50_vs_1").get(())
    if ratio is None or ratio != ratio:
        return ratio
    return (1 - ratio) * 100


def _above(limit):
    return lambda value: value > limit


def _below(limit):
    return lambda value: value < limit


TARGETS = [
    Target("Streaming throughput", "> 100,000", "items/s",
           _value("bench_throughput.StreamThroughput.track_items_per_second"), _above(100_000)),
    Target("Time to first item (p50)", "< 10", "ms",
           _value("bench_latency.TimeToFirstItem.track_first_item_ms", ("p50",)), _below(10)),
    Target("Average per-item latency", "< 200", "us/item",
           _value("bench_throughput.StreamThroughput.track_microseconds_per_item"), _below(200)),
    Target("Streaming memory per 5K items", "< 500", "KB",
           _value("bench_memory.AllocatedMemory.track_allocated_kb", ("stream",)), _below(500)),
    Target("Streaming vs buffering efficiency", "> 5", "x",
           _value("bench_memory.AllocatedMemory.track_buffered_to_stream_ratio"), _above(5)),
    Target("Concurrent streams (all started before any finished)", ">= 100", "streams", _highest_concurrent_level,
           lambda v: v >= 100),
    Target("Degradation at 50 streams", "< 20", "%", _degradation_at_50, _below(20)),
]


def evaluate(result) -> list[Row]:
    return [Row(target, target.read(result)) for target in TARGETS]


def _number(value: float | None) -> str:
    if value is None or value != value:
        return "n/a"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def render(rows: list[Row], result, fmt: str) -> str:
    commit = result.commit_hash[:8]
    if fmt == "json":
        return json.dumps(
            {
                "commit": result.commit_hash,
                "all_pass": all(row.status == "pass" for row in rows),
                "targets": [
                    {"name": r.target.name, "target": f"{r.target.goal} {r.target.unit}", "unit": r.target.unit,
                     "current": None if r.status == "missing" else r.current, "status": r.status}
                    for r in rows
                ],
            },
            indent=2,
        )
    table = [(r.target.name, f"{r.target.goal} {r.target.unit}", f"{_number(r.current)} {r.target.unit}", r.status)
             for r in rows]
    header = ("Metric", "Target", "Current", "Status")
    if fmt == "markdown":
        lines = [f"Performance targets at commit `{commit}`", "", "| " + " | ".join(header) + " |",
                 "|---|---|---|---|"]
        marks = {"pass": "✅ pass", "fail": "❌ fail", "missing": "⚠️ missing"}
        lines += [f"| {a} | {b} | {c} | {marks[d]} |" for a, b, c, d in table]
        return "\n".join(lines)
    widths = [max(len(str(row[i])) for row in [header, *table]) for i in range(4)]
    lines = [f"Performance targets at commit {commit}"]
    lines += ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip() for row in [header, *table]]
    return "\n".join(lines)
