"""The pull-request gate: benchmark two revisions with asv, judge every benchmark, confirm suspects.

    python -m ect_perf gate BASE [HEAD] [--bench REGEX] [--factor F] [--markdown F] [--json F]

1. `asv run` measures both revisions, rounds interleaved, into a scratch results directory (the
   committed history is never touched): run_asv.py.
2. Every row is judged by its entry in `verdicts.json` (policy.py, judge.py): counted
   numbers by their ratio; a wall-clock move the bad way is only a suspect.
3. The suspects are measured again, both revisions' calls in turn where they can be (interleave.py,
   in up to two looks) and else in interleaved pairs of processes (confirm.py), and regress only
   when the change reproduces (stats.py).
4. The instruction counts that moved are explained: where their instructions went (explained.py,
   ect_perf.explain); the memory rows that moved, by allocation site (ect_perf.explain.memory); a
   wall-clock regression with no CPU change says so.
5. The report: Markdown for the pull request and JSON (render.py).

Exit codes: 0 nothing got worse; 1 something regressed; 2 a benchmark failed or newly skipped in
HEAD, a revision did not build, asv stopped with an error, a benchmark has no entry, or a bad
revision; 3 nothing was measured in both revisions (e.g. --bench matched nothing).
"""

from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path

from ect_perf.gate.confirm import measure_again
from ect_perf.gate.explained import calls_to_explain, memory_calls_to_explain, waiting_notes
from ect_perf.gate.interleave import measure_interleaved
from ect_perf.gate.judge import (
    FAILED,
    NOTHING_MEASURED,
    OK,
    REGRESSED,
    Comparison,
    Outcome,
    Report,
    built,
    compare,
    confirmed,
    covered_by_regressed_count,
    exit_code,
    notes,
)
from ect_perf.gate.policy import PolicyError, load_policies
from ect_perf.gate.render import as_json, markdown
from ect_perf.gate.results import benchmark_rows, benchmark_units
from ect_perf.gate.run_asv import (
    ASV_FAILED,
    ASV_OK,
    BadRevision,
    rev_parse,
    run_asv,
    scratch_config,
)
from ect_perf.gate.stats import pairs_needed

__all__ = [
    "OK",
    "REGRESSED",
    "FAILED",
    "NOTHING_MEASURED",
    "BadRevision",
    "PolicyError",
    "Report",
    "Comparison",
    "gate",
    "rev_parse",
    "run_gate",
]


def run_gate(
    base: str,
    head: str,
    machine: str,
    bench: str | None,
    config_path: Path,
    factor_override: float | None = None,
    env_dir: Path | None = None,
    confirm_pairs: int | None = None,
    explain: bool = True,
) -> Report:
    """Raises BadRevision and PolicyError. env_dir: asv's environments (default the configuration's,
    next to it, where builds stay cached). confirm_pairs: pairs of processes a suspect is measured
    again with (default: as many as the exact test needs for the number of suspects). explain: count
    the calls whose instruction counts moved again, by function."""
    started = time.monotonic()
    root = config_path.resolve().parent
    base_hash, head_hash = rev_parse(root, base), rev_parse(root, head)
    policies = load_policies()
    with tempfile.TemporaryDirectory(prefix="ect-gate-") as scratch:
        config = scratch_config(config_path, Path(scratch) / "screen", env_dir)
        run = run_asv(config, [base_hash, head_hash], machine, bench)
        before, after = run.rows(base_hash), run.rows(head_hash)
        outcome = Outcome(_asv_outcome(run.code, run.results_dir, bench), built(before), built(after))
        rows = compare(before, after, policies, benchmark_units(run.results_dir), factor_override)
        rows = covered_by_regressed_count(rows, policies)
        suspects = [row for row in rows if row.verdict == "suspect"]
        pairs = confirm_pairs or pairs_needed(len(suspects))
        if suspects and outcome.asv == "compared":
            found, left = measure_interleaved(
                suspects, base_hash, head_hash, config_path, Path(scratch), env_dir, rows_tested=len(suspects)
            )
            pairs = (confirm_pairs or pairs_needed(len(suspects))) if left else 0
            if left:
                found.update(
                    measure_again(
                        left,
                        base_hash,
                        head_hash,
                        pairs,
                        config_path,
                        Path(scratch),
                        machine,
                        env_dir,
                        rows_tested=len(suspects),
                    )
                )
            rows = [confirmed(row, found[row.key]) if row.verdict == "suspect" else row for row in rows]
    code = exit_code(rows, outcome)
    explanation, explain_error, explain_seconds = None, "", 0.0
    wanted = calls_to_explain(rows) if explain and outcome.asv == "compared" else {}
    if wanted:
        explanation, explain_error, explain_seconds = _explain(wanted, base_hash, head_hash, config_path, env_dir)
    memory, memory_error = None, ""
    memory_calls = memory_calls_to_explain(rows) if explain and outcome.asv == "compared" else ()
    if memory_calls:
        started_memory = time.monotonic()
        memory, memory_error = _explain_memory(memory_calls, base_hash, head_hash, config_path, env_dir)
        explain_seconds += time.monotonic() - started_memory
    return Report(
        base,
        head,
        code,
        rows,
        notes(rows, outcome, base, head),
        factor_override,
        time.monotonic() - started,
        pairs if suspects else 0,
        explanation,
        explain_error,
        explain_seconds,
        waiting_notes(rows),
        memory,
        memory_error,
        machine,
    )


def _explain(wanted: dict[str, set[str]], base: str, head: str, config_path: Path, env_dir: Path | None):
    """(explanation or None, why not, seconds) for the calls and sides whose counts moved."""
    from ect_perf.explain import ExplainError, explain

    started = time.monotonic()
    sides = tuple(side for side in ("server", "client") if any(side in found for found in wanted.values()))
    try:
        found = explain(config_path, base, head, tuple(wanted), sides, env_dir=env_dir)
    except (ExplainError, RuntimeError) as exc:
        return None, str(exc), time.monotonic() - started
    found.changes = [change for change in found.changes if change.side in wanted[change.call]]
    return found, "", time.monotonic() - started


def _explain_memory(calls: tuple[str, ...], base: str, head: str, config_path: Path, env_dir: Path | None):
    """(memory explanation or None, why not) for the calls whose memory rows moved."""
    from ect_perf.explain import ExplainError
    from ect_perf.explain.memory import AllocationSitesError, explain_memory

    try:
        return explain_memory(config_path, base, head, calls, env_dir=env_dir), ""
    except (ExplainError, AllocationSitesError, RuntimeError) as exc:
        return None, str(exc)


def _asv_outcome(code: int, results_dir: Path, bench: str | None) -> str:
    """asv run's exit code: 0 all ran, 2 some benchmark failed (the rows say which); 1 it stopped
    early, either because --bench selected nothing of what it discovered, or for another reason."""
    if code in (ASV_OK, ASV_FAILED):
        return "compared"
    discovered = benchmark_rows(results_dir)
    if discovered and bench and not any(re.search(bench, row) for row in discovered):
        return "nothing selected"
    return "error"


def gate(
    base: str,
    head: str,
    factor: float | None,
    machine: str,
    bench: str | None,
    config_path: Path,
    markdown_path: Path | None,
    json_path: Path | None,
    env_dir: Path | None = None,
    confirm_pairs: int | None = None,
    explain: bool = True,
) -> int:
    report = run_gate(base, head, machine, bench, config_path, factor, env_dir, confirm_pairs, explain)
    text = markdown(report)
    print(text)
    if markdown_path:
        markdown_path.write_text(text + "\n")
    if json_path:
        json_path.write_text(as_json(report) + "\n")
    return report.code
