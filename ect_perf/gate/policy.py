"""How each benchmark is judged: the entries of `verdicts.json` (beside this module), checked on load.

An entry names which way is better, the judge ("factor": a deterministic number, its ratio alone;
"statistics": a wall-clock number, screened and then confirmed by measuring again), the change the
gate is built to catch (`factor`), optionally a `min_change` that never counts, and for wall-clock
numbers the instruction count that covers the same code (`covered_by`). A benchmark without an
entry is an error, never a guess.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

VERDICTS = Path(__file__).resolve().parent / "verdicts.json"
BETTER = ("lower", "higher")
JUDGES = ("statistics", "factor")
ENTRY_KEYS = {"better", "judge", "factor", "min_change", "covered_by"}


class PolicyError(ValueError):
    """verdicts.json is missing, malformed, or has no entry for a benchmark; the message says which."""


@dataclass(frozen=True)
class Policy:
    better: str  # "lower" or "higher"
    judge: str  # "statistics" or "factor"
    factor: float  # >= 1.0; 1.0: any worsening counts
    min_change: float = 0.0  # in the benchmark's unit; a smaller change never counts
    covered_by: str | None = None  # the instruction count of the same code path, if any


@dataclass(frozen=True)
class Policies:
    path: Path
    entries: dict[str, Policy]

    def for_benchmark(self, row: str) -> Policy:
        try:
            return self.entries[benchmark_of(row)]
        except KeyError:
            raise PolicyError(
                f"benchmark {benchmark_of(row)} has no entry in {self.path}: add one "
                f'({{"better": ..., "judge": ..., "factor": ...}})'
            ) from None


def benchmark_of(row: str) -> str:
    """ "bench.C.track_x('server', 0)" -> "bench.C.track_x"."""
    return row.split("(")[0]


def load_policies(path: str | Path = VERDICTS) -> Policies:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise PolicyError(f"{path} not found: the gate judges every benchmark by its entry there") from None
    except json.JSONDecodeError as exc:
        raise PolicyError(f"{path} is not valid JSON: {exc}") from None
    entries = data.get("benchmarks") if isinstance(data, dict) else None
    if not isinstance(entries, dict):
        raise PolicyError(f'{path} has no "benchmarks" object')
    policies = {}
    for name, entry in entries.items():
        problem = entry_problem(entry, entries)
        if problem:
            raise PolicyError(f"{path}: {name}: {problem}")
        policies[name] = Policy(
            entry["better"],
            entry["judge"],
            float(entry["factor"]),
            float(entry.get("min_change", 0)),
            entry.get("covered_by"),
        )
    return Policies(path, policies)


def entry_problem(entry, entries: dict | None = None) -> str | None:
    """What is wrong with one verdicts.json entry, or None. Unknown keys are refused (typos)."""
    if not isinstance(entry, dict):
        return "not an object"
    if set(entry) - ENTRY_KEYS:
        return f"unknown keys {sorted(set(entry) - ENTRY_KEYS)}; allowed: {sorted(ENTRY_KEYS)}"
    if entry.get("better") not in BETTER:
        return f"better must be one of {BETTER}, got {entry.get('better')!r}"
    if entry.get("judge") not in JUDGES:
        return f"judge must be one of {JUDGES}, got {entry.get('judge')!r}"
    if not _number(entry.get("factor")) or entry["factor"] < 1:
        return f"factor must be a number >= 1.0, got {entry.get('factor')!r}"
    if "min_change" in entry and (not _number(entry["min_change"]) or entry["min_change"] < 0):
        return f"min_change must be a number >= 0, got {entry['min_change']!r}"
    if "covered_by" in entry:
        count = (entries or {}).get(entry["covered_by"])
        if entry["judge"] != "statistics":
            return "covered_by belongs to wall-clock (statistics) entries"
        if entries is not None and not (isinstance(count, dict) and count.get("judge") == "factor"):
            return f"covered_by {entry['covered_by']!r} is not a counted (factor) entry of this file"
    return None


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
