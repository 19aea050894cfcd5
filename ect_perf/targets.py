"""Performance targets, filled from the latest asv results of a machine.

    python -m ect_perf targets [--machine NAME] [--commit HASH] [--targets FILE] [--format text|markdown|json]

The targets are data: ect_perf/targets.json (the specification's table) unless --targets names
another file of the same form (ect_perf/targets-at-least.json: the speed issue's bar). A target
may name another asv machine, whose result of the same commit it reads (the instruction counts;
with --database, that machine's result on the same server, else SQLite's, and the row says which).
Exit code: 0 when every target with a threshold passes, 1 when one fails or has no result, 2 when
there are no results or the targets file is invalid.
"""

from __future__ import annotations

import json
import operator
from dataclasses import dataclass
from pathlib import Path

from ect_perf.asv_results import values

TARGETS = Path(__file__).resolve().parent / "targets.json"
COMPARISONS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
READS = ("value", "highest_level", "degradation")


class TargetsError(ValueError):
    """An unreadable or invalid targets file; the message names the file and the entry."""


@dataclass(frozen=True)
class Target:
    name: str
    benchmark: str
    unit: str
    params: tuple = ()
    read: str = "value"
    pass_if: str | None = None  # None: listed for reference, never fails
    threshold: float | None = None
    machine: str | None = None  # read from this asv machine's result of the same commit (e.g. valgrind)

    @property
    def goal(self) -> str:
        if self.pass_if is None:
            return "(reference)"
        return f"{self.pass_if} {_number(self.threshold)} {self.unit}"

    def value(self, result) -> float | None:
        found = values(result, self.benchmark)
        if self.read == "highest_level":
            return _highest_level(found)
        value = found.get(self.params)
        if self.read == "degradation" and value is not None and value == value:
            return (1 - value) * 100
        return value


def _highest_level(found: dict) -> float | None:
    """The largest level whose value reaches the level (all N streams had their first item before
    any finished); 0 when none does, None when nothing was measured."""
    measured = [(level, value) for (level,), value in found.items() if value is not None and value == value]
    if not measured:
        return None
    return float(max([level for level, value in measured if value >= level], default=0))


@dataclass(frozen=True)
class Row:
    target: Target
    current: float | None
    database: str | None = None  # of the result read; None: the report's own result

    @property
    def status(self) -> str:
        if self.target.pass_if is None:
            return "info"
        if self.current is None or self.current != self.current:  # failed (None) or skipped (NaN)
            return "missing"
        return "pass" if COMPARISONS[self.target.pass_if](self.current, self.target.threshold) else "fail"


def load_targets(path: Path) -> list[Target]:
    try:
        entries = json.loads(path.read_text())["targets"]
    except FileNotFoundError:
        raise TargetsError(f"{path} not found") from None
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise TargetsError(f"{path} is not a targets file ({exc.__class__.__name__}: {exc})") from None
    targets = []
    for number, entry in enumerate(entries, start=1):
        try:
            target = Target(
                entry["name"],
                entry["benchmark"],
                entry["unit"],
                tuple(entry.get("params", ())),
                entry.get("read", "value"),
                entry.get("pass_if"),
                entry.get("threshold"),
                entry.get("machine"),
            )
        except (KeyError, TypeError) as exc:
            raise TargetsError(f"{path}: target {number} lacks {exc}") from None
        if target.read not in READS:
            raise TargetsError(f"{path}: target {number} ({target.name}): read must be one of {', '.join(READS)}")
        if (target.pass_if is None) != (target.threshold is None) or (
            target.pass_if is not None and target.pass_if not in COMPARISONS
        ):
            raise TargetsError(
                f"{path}: target {number} ({target.name}): give pass_if (one of "
                f"{' '.join(COMPARISONS)}) and threshold together, or neither"
            )
        targets.append(target)
    return targets


def evaluate(result, targets: list[Target], result_of=lambda machine: None) -> list[Row]:
    """Each target's value in `result`, or, for a target naming a machine, in result_of(machine):
    that machine's result of the same commit (None when it has none: the target is missing)."""
    own = _database(result)
    rows = []
    for target in targets:
        source = result if target.machine is None else result_of(target.machine)
        if source is None:
            rows.append(Row(target, None))
            continue
        rows.append(Row(target, target.value(source), None if _database(source) == own else _database(source)))
    return rows


def _database(result) -> str:
    """The database server a result was measured on: asv.databases.conf.json's variable, else SQLite."""
    return result.database or "sqlite"


def all_pass(rows: list[Row]) -> bool:
    return all(row.status in ("pass", "info") for row in rows)


def _number(value: float | None) -> str:
    if value is None or value != value:
        return "n/a"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def render(rows: list[Row], result, fmt: str) -> str:
    commit = result.commit[:8]
    database = result.database
    on = f" on {database}" if database else ""  # asv.databases.conf.json's results
    machine = result.params.get("machine", "")
    if fmt == "json":
        return json.dumps(
            {
                "commit": result.commit,
                "machine": machine,
                "database": _database(result),
                "all_pass": all_pass(rows),
                "targets": [
                    {
                        "name": r.target.name,
                        "benchmark": r.target.benchmark,
                        "machine": r.target.machine,
                        "target": r.target.goal,
                        "unit": r.target.unit,
                        "current": None if r.status == "missing" else r.current,
                        "status": r.status,
                        **({"database": r.database} if r.database else {}),
                    }
                    for r in rows
                ],
            },
            indent=2,
        )
    table = [
        (r.target.name, r.target.goal, f"{_number(r.current)} {r.target.unit}" + _read_on(r.database), r.status)
        for r in rows
    ]
    header = ("Metric", "Target", "Current", "Status")
    if fmt == "markdown":
        lines = [
            f"Performance targets at commit `{commit}`{on} (machine `{machine}`)",
            "",
            "| " + " | ".join(header) + " |",
            "|---|---|---|---|",
        ]
        marks = {"pass": "✅ pass", "fail": "❌ fail", "missing": "⚠️ missing", "info": "reference"}
        lines += [f"| {a} | {b} | {c} | {marks[d]} |" for a, b, c, d in table]
        return "\n".join(lines)
    widths = [max(len(str(row[i])) for row in [header, *table]) for i in range(4)]
    lines = [f"Performance targets at commit {commit}{on} (machine {machine})"]
    lines += [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip() for row in [header, *table]
    ]
    return "\n".join(lines)


def _read_on(database: str | None) -> str:
    """Marks a value read from another database's result: " (SQLite's count)"."""
    if database is None:
        return ""
    return f" ({'SQLite' if database == 'sqlite' else database}'s count)"
