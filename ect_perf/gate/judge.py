"""The gate's verdicts: one row per benchmark, environment and parameter combination, and the exit code.

Counted numbers ("factor") are judged on their ratio alone. A wall-clock number ("statistics") that
moved the bad way by more than half its factor is a suspect: it regresses only when measuring
again confirms it (confirm.py), or when the instruction count that covers it regressed in the same
run. Half the factor, so that a change of the full factor is caught although one measurement of it
reads lower about half the time.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ect_perf.gate.policy import Policies, Policy, benchmark_of
from ect_perf.gate.results import Measurement
from ect_perf.gate.stats import Test, ratio

OK, REGRESSED, FAILED, NOTHING_MEASURED = 0, 1, 2, 3
SCREEN_SHARE = 0.5  # a wall-clock move beyond this share of its factor is re-measured
MISSING = Measurement(float("nan"))  # not run in that revision: like skipped


@dataclass(frozen=True)
class Confirmation:
    """What measuring a suspect again read: one replicate per process (pairs of processes) or per
    block (interleaved calls) and revision."""

    before: tuple[float, ...]
    after: tuple[float, ...]
    test: Test
    detectable: float | None  # about the smallest relative change this confirmation finds
    design: str = "pairs of processes"  # or "interleaved calls" (interleave.py)
    ratios: tuple[float, ...] = ()  # interleaved calls: each block's ratio HEAD/BASE
    looks: int = 1  # interleaved calls: measured once, or twice (interleave.py)


@dataclass(frozen=True)
class Comparison:
    benchmark: str  # the row: benchmark name with its parameters
    env: str  # the environment (its database server, or asv's environment name)
    unit: str
    before: float | None  # None: failed; NaN: skipped, or not run in that revision
    after: float | None
    ratio: float | None
    verdict: str  # regressed, improved, unchanged, suspect, failed, fixed, skipped, new
    better: str
    judge: str
    factor: float
    min_change: float
    reason: str = ""  # why a wall-clock row has its verdict
    confirmation: Confirmation | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.env, self.benchmark


def judge_row(
    env: str,
    name: str,
    policy: Policy,
    before: Measurement,
    after: Measurement,
    factor_override: float | None = None,
    unit: str = "",
) -> Comparison:
    """A row's verdict from one measurement of each revision; wall-clock moves come out "suspect"."""
    factor = policy.factor
    if factor_override is not None and policy.judge == "statistics":
        factor = factor_override
    verdict = missing_verdict(before, after) or change_verdict(policy, factor, before.value, after.value)
    ratio_ = None if verdict in ("failed", "fixed", "new", "skipped") else ratio(before.value, after.value)
    return Comparison(
        name,
        env,
        unit,
        before.value,
        after.value,
        ratio_,
        verdict,
        policy.better,
        policy.judge,
        factor,
        policy.min_change,
    )


def missing_verdict(before: Measurement, after: Measurement) -> str | None:
    """The verdict when a side has no number, else None."""
    if after.failed:
        return "failed"  # also when it failed in BASE too: HEAD still fails
    if after.missing:
        # A benchmark that newly skips hides a breakage; one that failed in BASE measured nothing either.
        return "skipped" if before.missing or before.failed else "failed"
    if before.failed:
        return "fixed"
    if before.missing:
        return "new"
    return None


def change_verdict(policy: Policy, factor: float, before: float, after: float) -> str:
    if before == after or abs(after - before) < policy.min_change:
        return "unchanged"
    if policy.judge == "factor":
        if worse(policy.better, factor, before, after):
            return "regressed"
        return "improved" if worse(policy.better, factor, after, before) else "unchanged"
    if worse(policy.better, screen_factor(factor), before, after):
        return "suspect"
    return "improved" if worse(policy.better, factor, after, before) else "unchanged"


def screen_factor(factor: float) -> float:
    return 1 + SCREEN_SHARE * (factor - 1)


def estimate_beyond_screen(row: Comparison, test: Test) -> bool:
    """Does measuring again still estimate a change the bad way beyond half the row's threshold?"""
    return test.estimate is not None and worse(row.better, screen_factor(row.factor), 1.0, test.estimate)


def worse(better: str, factor: float, a: float, b: float) -> bool:
    """Is b worse than a by more than the factor?

    Both positive: by the ratio (lower is better: b > a * factor; higher is better: b < a / factor).
    Otherwise a ratio means nothing (-60 -> -61 is 1.02 but lower), so the difference counts: a move
    the bad way of more than (factor - 1) times the larger magnitude."""
    if a > 0 and b > 0:
        return b > a * factor if better == "lower" else b < a / factor
    bad_move = b - a if better == "lower" else a - b
    return bad_move > (factor - 1) * max(abs(a), abs(b))


def compare(
    before: dict, after: dict, policies: Policies, units: dict[str, str], factor_override: float | None = None
) -> list[Comparison]:
    """Judge every (environment, row) of either revision; raises PolicyError for one without an entry."""
    rows = []
    for env, name in sorted(set(before) | set(after)):
        rows.append(
            judge_row(
                env,
                name,
                policies.for_benchmark(name),
                before.get((env, name), MISSING),
                after.get((env, name), MISSING),
                factor_override,
                units.get(benchmark_of(name), ""),
            )
        )
    return rows


def covered_by_regressed_count(rows: list[Comparison], policies: Policies) -> list[Comparison]:
    """A suspect whose instruction count (same environment and parameters, where it has them)
    regressed in this run is a regression the count already confirms: it is not measured again."""
    regressed = {(row.env, benchmark_of(row.benchmark)) for row in rows if row.verdict == "regressed"}
    out = []
    for row in rows:
        count = policies.for_benchmark(row.benchmark).covered_by
        if row.verdict == "suspect" and count and (row.env, count) in regressed:
            row = replace(row, verdict="regressed", reason=f"its instruction count `{count}` regressed too")
        out.append(row)
    return out


def confirmed(row: Comparison, confirmation: Confirmation | None) -> Comparison:
    """A suspect's verdict after measuring it again."""
    if confirmation is None:  # a run of it failed or did not measure it: never a silent pass
        return replace(row, verdict="failed", reason="could not be measured again (a run failed or skipped it)")
    test = confirmation.test
    if test.significant and estimate_beyond_screen(row, test):
        return replace(
            row,
            verdict="regressed",
            confirmation=confirmation,
            reason=f"reproduced: p = {test.p_value:.2g} < {test.alpha:.2g}, {_x(test.estimate)}",
        )
    why = f"p = {test.p_value:.2g} ≥ {test.alpha:.2g}" if not test.significant else f"only {_x(test.estimate)}"
    return replace(row, verdict="unchanged", confirmation=confirmation, reason=f"not reproduced: {why}")


def _x(estimate: float | None) -> str:
    return "n/a" if estimate is None else f"{estimate:.3g}x"


@dataclass(frozen=True)
class Outcome:
    """How asv ended besides the values."""

    asv: str = "compared"  # compared | nothing selected | error
    base_built: bool = True
    head_built: bool = True


def built(rows: dict) -> bool:
    """A revision whose build failed has every value failed (None), or no result file at all."""
    return any(not m.failed for m in rows.values())


def exit_code(rows: list[Comparison], outcome: Outcome = Outcome()) -> int:
    """A failure is never turned into 0; a benchmark failing in BASE and running in HEAD is a fix."""
    verdicts = {row.verdict for row in rows}
    if outcome.asv == "nothing selected":
        return NOTHING_MEASURED
    if outcome.asv == "error" or not (outcome.base_built and outcome.head_built) or "failed" in verdicts:
        return FAILED
    if not verdicts & {"regressed", "improved", "unchanged", "suspect"}:
        return NOTHING_MEASURED
    return REGRESSED if "regressed" in verdicts else OK


def notes(rows: list[Comparison], outcome: Outcome, base: str, head: str) -> list[str]:
    """Why the exit code is 2 or 3, in words for the report."""
    if outcome.asv == "nothing selected":
        return ["asv selected no benchmark (does --bench match any?)"]
    out = []
    if outcome.asv == "error":
        out.append("asv run stopped before measuring (its log above says why)")
    for label, rev, ok in (("BASE", base, outcome.base_built), ("HEAD", head, outcome.head_built)):
        if not ok and outcome.asv != "error":
            out.append(f"{label} `{rev}` has no value at all: it did not build, or every benchmark failed")
    failed = sum(row.verdict == "failed" for row in rows)
    if failed:
        out.append(f"{failed} benchmark(s) failed or newly skipped in HEAD")
    if not out and not {row.verdict for row in rows} & {"regressed", "improved", "unchanged"}:
        out.append("no benchmark has a value in both revisions")
    return out


@dataclass
class Report:
    base: str
    head: str
    code: int
    rows: list[Comparison]
    notes: list[str] = field(default_factory=list)
    factor_override: float | None = None
    seconds: float = 0.0  # how long the gate took
    confirm_pairs: int = 0  # interleaved pairs of processes measured per suspect
    explanation: object | None = None  # ect_perf.explain.Explanation of the counts that moved
    explain_error: str = ""  # why they could not be explained
    explain_seconds: float = 0.0  # of `seconds`, the explaining's
    waiting: dict[str, str] = field(default_factory=dict)  # {row: why} of wall-clock rows with no CPU change
    memory: object | None = None  # ect_perf.explain.memory.MemoryExplanation of the memory rows that moved
    memory_error: str = ""  # why they could not be explained
    machine: str = ""  # the asv machine it measured on
