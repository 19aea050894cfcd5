"""The gate's report: Markdown for the pull request (the table first, then what was measured
again and what each run read) and the same as JSON, read back by from_json."""

from __future__ import annotations

import json
from dataclasses import asdict, fields

from ect_perf.gate.judge import (
    FAILED,
    NOTHING_MEASURED,
    OK,
    REGRESSED,
    Comparison,
    Confirmation,
    Report,
    screen_factor,
)
from ect_perf.gate.stats import FAMILY_ALPHA, Test

MARKS = {
    "regressed": "🔴 regressed",
    "improved": "🟢 improved",
    "unchanged": "unchanged",
    "failed": "❌ failed",
    "fixed": "✅ fixed",
    "skipped": "skipped",
    "new": "🆕 new",
    "suspect": "suspect",
}
ORDER = ["failed", "regressed", "suspect", "improved", "fixed", "new", "unchanged", "skipped"]
VERDICT_TEXT = {
    OK: "no benchmark got worse",
    REGRESSED: "performance regressed",
    FAILED: "a benchmark or build failed",
    NOTHING_MEASURED: "nothing was measured in both revisions",
}
JUDGE_SHORT = {"statistics": "wall", "factor": "count"}
HOW = (
    "**count** rows (instruction counts, deterministic): the ratio beyond the threshold counts. "
    "**wall** rows (wall-clock): a move the bad way beyond half the threshold is a suspect, measured "
    "again: where it can be, with both revisions' servers running and their calls made in turn, in blocks "
    "that start both afresh (a one-sided t-test on the blocks' log-ratios at half the row's level, and "
    "as many blocks again, tested with the first at the other half, when the first left a change beyond half "
    "the threshold unproven), else in interleaved pairs of "
    "processes (BASE, HEAD, HEAD, BASE, ..., an exact one-sided Mann–Whitney test on one replicate per "
    f"process); it regresses only if that test is significant at {FAMILY_ALPHA:g} shared among the "
    "suspects (Bonferroni) and the change is still beyond half the threshold, or if its instruction count "
    "regressed too. **min**: a smaller absolute change "
    "never counts. **improved (one run)**: a wall row better beyond its threshold in one run, not measured "
    "again. Entries: `ect_perf/gate/verdicts.json`; the method: `docs/gate.md`."
)


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "failed"
    if value != value:
        return "n/a"
    if unit == "seconds":
        for scale, suffix in ((1, "s"), (1e-3, "ms"), (1e-6, "µs")):
            if abs(value) >= scale:
                return f"{value / scale:.3g} {suffix}"
        return f"{value * 1e9:.3g} ns"
    if unit == "bytes":
        return f"{value / 2**20:.3g} MiB"
    if abs(value) >= 10_000:
        return f"{value:,.0f} {unit}".strip()
    return f"{value:.4g} {unit}".strip()


def threshold(row: Comparison) -> str:
    """e.g. "10%", "1%, min 600"."""
    text = f"{(row.factor - 1) * 100:.3g}%" if row.factor > 1 else "any"
    if row.min_change:
        text += f", min {row.min_change:g} {row.unit}".rstrip()
    return text


def detects(row: Comparison) -> str:
    """The smallest change this row catches: its threshold (half of it for wall rows, when the
    replicates' spread allows), or what the spread allows."""
    floor = (row.factor - 1) * 100 if row.judge == "factor" else (screen_factor(row.factor) - 1) * 100
    noise = row.confirmation.detectable if row.confirmation else None
    if noise is None:
        return f"{floor:.3g}%"
    return f"{max(floor, noise * 100):.3g}%"


def mark(row: Comparison) -> str:
    """A wall-clock improvement is one measurement of each revision, never measured again (only
    suspects are): on a shared machine it may be noise, and the mark says so."""
    if row.verdict == "improved" and row.judge == "statistics":
        return MARKS["improved"] + " (one run)"
    return MARKS[row.verdict]


def _name(row: Comparison, envs: set[str]) -> str:
    return f"`{row.benchmark}`" + (f" [{row.env}]" if len(envs) > 1 else "")


def markdown(report: Report) -> str:
    code = report.code
    envs = {row.env for row in report.rows}
    lines = [
        f"### Performance gate: {VERDICT_TEXT[code]}",
        "",
        f"`{report.base}` → `{report.head}` (exit code {code}; the gate took {report.seconds / 60:.1f} min)",
        "",
    ]
    lines += [f"- {note}" for note in report.notes] + ([""] if report.notes else [])
    if report.factor_override is not None:
        lines += [f"`--factor {report.factor_override:g}` replaced the threshold of the wall rows.", ""]
    lines += [
        "| Benchmark | Before | After | Ratio | Better | Judge | Threshold | Detects | Change |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in sorted(report.rows, key=lambda r: (ORDER.index(r.verdict), r.env, r.benchmark)):
        ratio = "n/a" if row.ratio is None else f"{row.ratio:.3g}"
        lines.append(
            f"| {_name(row, envs)} | {fmt(row.before, row.unit)} | {fmt(row.after, row.unit)} "
            f"| {ratio} | {row.better} | {JUDGE_SHORT[row.judge]} | {threshold(row)} | {detects(row)} "
            f"| {mark(row)} |"
        )
    lines += _why(report, envs)
    again = [row for row in report.rows if row.reason]
    if again:
        lines += ["", "**Measured again** (what each run read):", ""]
        for row in sorted(again, key=lambda r: (ORDER.index(r.verdict), r.benchmark)):
            lines.append(f"- {_name(row, envs)}: {MARKS[row.verdict]}, {row.reason}")
            if row.confirmation:
                lines.append(
                    f"  {_design(row.confirmation)}: BASE {_reads(row.confirmation.before, row.unit)}; "
                    f"HEAD {_reads(row.confirmation.after, row.unit)}"
                )
    lines += ["", HOW]
    return "\n".join(lines)


def _why(report: Report, envs: set[str]) -> list[str]:
    """Under the table: where the instructions of each count that moved went, and which wall-clock
    regressions came with no change of CPU work."""
    from ect_perf.explain.render import details, summary

    lines = []
    explanation = report.explanation
    if explanation is not None and explanation.changes:
        lines += [
            "",
            f"**Where the instructions went** (counted again by function in {report.explain_seconds / 60:.1f} min):",
            "",
        ]
        for change in explanation.changes:
            lines += [f"- {' '.join(summary(change))}"]
        lines += ["", "<details><summary>By function</summary>", ""]
        for change in explanation.changes:
            lines += [f"**{change.call}, {change.side}**", "", *details(change), ""]
        lines += ["</details>"]
    elif report.explain_error:
        lines += ["", f"The counts that moved could not be explained: {report.explain_error}"]
    lines += _memory(report)
    if report.waiting:
        lines += [""]
        lines += [
            f"- {_name(row, envs)}: {report.waiting[row.benchmark]}"
            for row in report.rows
            if row.benchmark in report.waiting
        ]
    return lines


def _memory(report: Report) -> list[str]:
    """Under the table: the allocation sites whose size changed, for the memory rows that moved."""
    from ect_perf.explain.memory import details, summary

    if report.memory is None:
        if not report.memory_error:
            return []
        return ["", f"The memory that moved could not be explained: {report.memory_error}"]
    lines = ["", f"**Where the memory went** (tracemalloc, by line, in {report.memory.minutes:.1f} min):", ""]
    lines += [f"- {' '.join(summary(change))}" for change in report.memory.changes]
    lines += ["", "<details><summary>By allocation site</summary>", ""]
    for change in report.memory.changes:
        lines += [f"**{change.call}, {change.side}**", "", *details(change), ""]
    return lines + ["</details>"]


def _design(confirmation) -> str:
    if confirmation.design == "interleaved calls":
        ratios = ", ".join(f"{ratio:.3g}" for ratio in confirmation.ratios)
        looks = f", in {confirmation.looks} looks" if confirmation.looks > 1 else ""
        return (
            f"{len(confirmation.ratios)} blocks of both revisions' calls in turn{looks} (HEAD/BASE per block: "
            f"{ratios}), each block's median"
        )
    return f"{len(confirmation.before)} interleaved pairs of processes, each process's median"


def _reads(values, unit: str) -> str:
    return ", ".join(fmt(value, unit) for value in values)


def _explanation_json(report: Report) -> dict | None:
    if report.explanation is None:
        return {"error": report.explain_error} if report.explain_error else None
    from ect_perf.explain.render import as_json as explanation_json

    return {**json.loads(explanation_json(report.explanation)), "seconds": round(report.explain_seconds, 1)}


def _memory_json(report: Report) -> dict | None:
    if report.memory is None:
        return {"error": report.memory_error} if report.memory_error else None
    from ect_perf.explain.memory import as_json as memory_json

    return json.loads(memory_json(report.memory))


def as_json(report: Report) -> str:
    def clean(value):
        return None if value is None or value != value else value

    def row_json(row: Comparison) -> dict:
        data = asdict(row)
        data.update(before=clean(row.before), after=clean(row.after), threshold=threshold(row), detects=detects(row))
        return data

    return json.dumps(
        {
            "base": report.base,
            "head": report.head,
            "exit_code": report.code,
            "verdict": VERDICT_TEXT[report.code],
            "notes": report.notes,
            "factor_override": report.factor_override,
            "machine": report.machine,
            "seconds": round(report.seconds, 1),
            "explain_seconds": round(report.explain_seconds, 1),
            "confirm_pairs": report.confirm_pairs,
            "benchmarks": [row_json(row) for row in report.rows],
            "explanation": _explanation_json(report),
            "memory": _memory_json(report),
            "waiting": report.waiting,
        },
        indent=2,
    )


def from_json(text: str) -> Report:
    """A report as as_json wrote it, for what reads reports back (the calibration that goes on from
    kept runs). A value that was NaN (skipped, or not run in that revision) comes back as None."""
    from ect_perf.explain.memory import from_json as memory_from_json
    from ect_perf.explain.render import from_json as explanation_from_json

    data = json.loads(text)
    names = {field.name for field in fields(Comparison)} - {"confirmation"}
    rows = []
    for row in data["benchmarks"]:
        found = row.get("confirmation")
        confirmation = None
        if found:
            confirmation = Confirmation(
                tuple(found["before"]),
                tuple(found["after"]),
                Test(**found["test"]),
                found["detectable"],
                found["design"],
                tuple(found.get("ratios", ())),
                found.get("looks", 1),
            )
        rows.append(Comparison(**{name: row[name] for name in names}, confirmation=confirmation))
    explanation, memory = data.get("explanation") or {}, data.get("memory") or {}
    return Report(
        data["base"],
        data["head"],
        data["exit_code"],
        rows,
        data["notes"],
        data["factor_override"],
        data["seconds"],
        data["confirm_pairs"],
        explanation_from_json(explanation) if "changes" in explanation else None,
        explanation.get("error", ""),
        data.get("explain_seconds", explanation.get("seconds", 0.0)),
        data.get("waiting", {}),
        memory_from_json(memory) if "changes" in memory else None,
        memory.get("error", ""),
        data.get("machine", ""),
    )
