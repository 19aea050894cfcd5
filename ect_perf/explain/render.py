"""An explanation as a reader takes it in: a few lines per call and side (what moved, the function
named first, the libraries), the tables in a details block; and the same as JSON, read back by
side_from_json."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from ect_perf.explain.compare import FunctionRow, PythonRow, SideChange, first_named, library_name


def short_source(path: str) -> str:
    """A source file as its project names it: its last two parts (Python/ceval.c, not the build's
    temporary folder before them)."""
    return "/".join(Path(path).parts[-2:]) if "/" in path else path


def _signed(value: float) -> str:
    return f"{value:+,.0f}" if abs(value) >= 10 else f"{value:+,.2f}"


def _percent(change: float, before: float) -> str:
    return f"{change / before:+.1%}" if before else "n/a"


def first_line(change: SideChange) -> str:
    first = change.first
    if not first:
        return "nothing was counted"
    if first["kind"] == "python":
        where = f"`{first['file']}:{first['line']}` `{first['function']}`"
        return f"{where} (Python: {_signed(first['change'])} own bytecodes per item)"
    source = f", `{short_source(first['file'])}:{first['line']}`" if first["line"] else ""
    return f"`{first['function']}` in {first['library']}{source} ({_signed(first['change'])} own instructions per item)"


def summary(change: SideChange, libraries: int = 3) -> list[str]:
    """The lines a reader takes in at a glance."""
    lines = [
        f"**{change.call}, {change.side}**: {_signed(change.change)} instructions per item "
        f"({_percent(change.change, change.before)}: {change.before:,.0f} → {change.after:,.0f}); "
        f"first: {first_line(change)}."
    ]
    moved = [
        (name, after - before) for name, before, after in change.libraries[:libraries] if abs(after - before) >= 0.5
    ]
    if moved:
        lines.append(
            "By library: " + ", ".join(f"{library_name(name)} {_signed(delta)}" for name, delta in moved) + "."
        )
    if change.explained is not None:
        lines.append(
            f"The {len(change.functions)} functions below explain {change.explained:.0%} of the net change "
            "(own instructions, none counted twice)."
        )
    return lines


def details(change: SideChange) -> list[str]:
    lines = [
        "| Native function (own instructions per item) | Library | Source | Before | After | Change |",
        "|---|---|---|---|---|---|",
    ]
    for row in change.functions:
        source = short_source(row.file) + (f":{row.line}" if row.line else "")
        lines.append(
            f"| `{row.function}` | {library_name(row.library)} | {source} | {row.before:,.1f} | {row.after:,.1f} | "
            f"{_signed(row.change)} |"
        )
    if change.python:
        lines += [
            "",
            f"Python functions, own bytecodes per item (all of them: {_signed(change.python_change)}), calls "
            "per item (a coroutine's or generator's resumptions included):",
            "",
            "| Python function | Calls before | Calls after | Bytecodes before | Bytecodes after | Change |",
            "|---|---|---|---|---|---|",
        ]
        lines += [_python_row(row) for row in change.python]
    return lines


def _python_row(row: PythonRow) -> str:
    return (
        f"| `{row.name}` | {row.calls_before:,.3g} | {row.calls_after:,.3g} | {row.bytecodes_before:,.1f} | "
        f"{row.bytecodes_after:,.1f} | {_signed(row.change)} |"
    )


def markdown(explanation, heading: str = "###") -> str:
    lines = [
        f"{heading} Where the instructions went: `{explanation.base[:8]}` → `{explanation.head[:8]}`",
        "",
    ]
    for change in explanation.changes:
        lines += summary(change)
        lines += ["", "<details><summary>By function</summary>", "", *details(change), "", "</details>", ""]
    lines += [f"_{note}_" for note in explanation.notes]
    lines.append(
        f"Counted under callgrind as the instruction counts are (`python -m ect_perf explain "
        f"{explanation.base[:8]} {explanation.head[:8]}`), in {explanation.minutes:.1f} min."
    )
    return "\n".join(lines) + "\n"


def as_json(explanation) -> str:
    def side(change: SideChange) -> dict:
        data = asdict(change)
        data["change"] = change.change
        data["libraries"] = [
            {"library": library_name(name), "path": name, "before": before, "after": after}
            for name, before, after in change.libraries
        ]
        return data

    return json.dumps(
        {
            "base": explanation.base,
            "head": explanation.head,
            "minutes": explanation.minutes,
            "notes": explanation.notes,
            "changes": [side(change) for change in explanation.changes],
        },
        indent=1,
    )


def side_from_json(data: dict) -> SideChange:
    """One side as as_json wrote it; `first` named again by this version's rule (first_named), so
    that explanations kept from earlier versions name what they would name now."""
    change = SideChange(
        data["call"],
        data["side"],
        data["before"],
        data["after"],
        [(entry["path"], entry["before"], entry["after"]) for entry in data["libraries"]],
        [FunctionRow(**row) for row in data["functions"]],
        [PythonRow(**row) for row in data["python"]],
        data["python_change"],
        data["explained"],
    )
    change.first = first_named(change)
    return change


def from_json(data: dict):
    """An explanation as as_json wrote it (ect_perf.explain.Explanation), each side read by
    side_from_json."""
    from ect_perf.explain import Explanation

    changes = [side_from_json(change) for change in data["changes"]]
    return Explanation(data["base"], data["head"], changes, data["minutes"], data.get("notes", []))
