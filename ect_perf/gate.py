"""The pull-request gate: benchmark two revisions with `asv continuous`, judge every benchmark.

    python -m ect_perf gate BASE [HEAD] [--factor F] [--bench REGEX] [--markdown F] [--json F]

asv builds and benchmarks both revisions into a scratch results directory (the committed history
is never touched). Each benchmark is judged by its entry in `<benchmark_dir>/verdicts.json`:
which way is better, "statistics" (asv's significance test on the samples and a change beyond the
factor) or "factor" (the ratio alone), the factor, and optionally a `min_change` that never counts.
A benchmark without an entry is an error, never a guess. `--factor` replaces the factor of the
"statistics" entries only.

Exit codes: 0 nothing got worse; 1 something regressed; 2 a benchmark failed or newly skipped in
HEAD, a revision did not build, asv reported a failure, a benchmark has no entry, or a bad revision;
3 nothing was measured in both revisions (e.g. --bench matched nothing).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

# Private asv API, pinned by asv==0.6.6 (pyproject.toml): unroll_result and _isna as before, and
# _stats.is_different, the significance test behind compare._is_result_better (see _significant).
from asv import _stats
from asv.benchmarks import Benchmarks
from asv.commands.compare import _isna, unroll_result
from asv.results import iter_results_for_machine_and_hash
from asv.util import load_json

from ect_perf.asv_results import load_config

OK, REGRESSED, FAILED, NOTHING_MEASURED = 0, 1, 2, 3
VERDICTS_FILE = "verdicts.json"
BETTER = ("lower", "higher")
JUDGES = ("statistics", "factor")
ENTRY_KEYS = {"better", "judge", "factor", "min_change"}


class BadRevision(ValueError):
    pass


class PolicyError(ValueError):
    """verdicts.json is missing, malformed, or has no entry for a benchmark; the message says which."""


@dataclass(frozen=True)
class Policy:
    """How one benchmark is judged: one entry of verdicts.json."""

    better: str  # "lower" or "higher"
    judge: str  # "statistics" or "factor"
    factor: float  # >= 1.0; 1.0: any worsening counts
    min_change: float = 0.0  # in the benchmark's unit; a smaller change never counts


@dataclass(frozen=True)
class Policies:
    path: Path
    entries: dict[str, Policy]

    def for_benchmark(self, name: str) -> Policy:
        key = name.split("(")[0]  # "bench.C.track_x('server', 0)" after unroll_result
        try:
            return self.entries[key]
        except KeyError:
            raise PolicyError(f"benchmark {key} has no entry in {self.path}: add one "
                              f'({{"better": ..., "judge": ..., "factor": ...}})') from None


def load_policies(benchmark_dir: str | Path) -> Policies:
    path = Path(benchmark_dir) / VERDICTS_FILE
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
        problem = entry_problem(entry)
        if problem:
            raise PolicyError(f"{path}: {name}: {problem}")
        policies[name] = Policy(entry["better"], entry["judge"], float(entry["factor"]),
                                float(entry.get("min_change", 0)))
    return Policies(path, policies)


def entry_problem(entry) -> str | None:
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
    return None


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


@dataclass(frozen=True)
class Comparison:
    benchmark: str
    unit: str
    before: float | None  # None: failed; NaN: skipped, or not run in that revision
    after: float | None
    ratio: float | None  # after / before; None without two numbers of the same sign, or before == 0
    verdict: str  # regressed, improved, unchanged, failed, fixed, skipped, new
    better: str
    judge: str
    factor: float  # the one applied (after --factor)
    min_change: float


def _judge(name: str, policy: Policy, before, ss_before, after, ss_after,
           factor_override: float | None = None, unit: str = "") -> Comparison:
    """One benchmark's verdict. ss_* are asv's (stats, samples) pairs from unroll_result; a
    benchmark missing from a revision's results is passed as NaN, like a skipped one."""
    factor = policy.factor
    if factor_override is not None and policy.judge == "statistics":
        factor = factor_override
    verdict = _missing_verdict(before, after) or _change_verdict(policy, factor, before, ss_before, after, ss_after)
    return Comparison(name, unit, before, after, _ratio(before, after), verdict,
                      policy.better, policy.judge, factor, policy.min_change)


def _missing_verdict(before, after) -> str | None:
    """The verdict when a side has no number, else None."""
    if after is None:
        return "failed"  # also when it failed in BASE too: HEAD still fails
    if _isna(after):  # skipped in HEAD, or not run there
        return "skipped" if _isna(before) else "failed"  # a benchmark that newly skips hides a breakage
    if before is None:
        return "fixed"
    if _isna(before):
        return "new"
    return None


def _change_verdict(policy: Policy, factor: float, before: float, ss_before, after: float, ss_after) -> str:
    if before == after or abs(after - before) < policy.min_change:
        return "unchanged"
    if policy.judge == "statistics" and not _significant(ss_before, ss_after):
        return "unchanged"
    if _worse(policy.better, factor, before, after):
        return "regressed"
    if _worse(policy.better, factor, after, before):
        return "improved"
    return "unchanged"


def _worse(better: str, factor: float, a: float, b: float) -> bool:
    """Is b worse than a by more than the factor?

    Both positive: by the ratio, as asv does (lower is better: b > a * factor; higher is better:
    b < a / factor, i.e. 1/b > factor/a). Otherwise a ratio means nothing (-60 -> -61 is 1.02 but
    lower), so the difference counts: a move the bad way of more than (factor - 1) times the larger
    magnitude."""
    if a > 0 and b > 0:
        return b > a * factor if better == "lower" else b < a / factor
    bad_move = b - a if better == "lower" else a - b
    return bad_move > (factor - 1) * max(abs(a), abs(b))


def _significant(ss_before, ss_after) -> bool:
    """asv's test of whether two sample sets differ, as in compare._is_result_better: Mann-Whitney
    on the samples, else whether the 99% intervals overlap; with one repeat or no statistics on a
    side there is nothing to test and, as in asv, the factor alone decides.

    The test is two-sided and depends only on the order of values (ranks, interval bounds), which
    1/x or -x merely reverse: so it runs on the raw samples whichever way is better, and
    higher-is-better benchmarks keep their statistics."""
    stats_1, samples_1 = ss_before or (None, None)
    stats_2, samples_2 = ss_after or (None, None)
    if not stats_1 or not stats_2 or 1 in (stats_1.get("repeat", 0), stats_2.get("repeat", 0)):
        return True
    return _stats.is_different(samples_1, samples_2, stats_1, stats_2)


def _ratio(before, after) -> float | None:
    if _isna(before) or _isna(after) or before == 0 or before * after < 0:
        return None
    return after / before


@dataclass(frozen=True)
class Outcome:
    """What `asv continuous` left besides the values: how it ended, and whether each revision has
    any value at all (a revision that did not build has every benchmark failed, or no result file)."""

    asv: str = "compared"  # compared | failed (asv exit 2) | nothing selected | error
    base_built: bool = True
    head_built: bool = True


def asv_outcome(code: int, log: str) -> str:
    """Read asv 0.6.6's `continuous` exit code (commands/continuous.py, run.py, main.py):

    0: both revisions ran and asv's own comparison saw nothing worse;
    1: asv's comparison saw something worse ("PERFORMANCE DECREASED", by its unit-blind rule, which
       the gate replaces), or it stopped early: "No benchmarks selected", an unknown commit, no
       revision could be built for discovery (every asv UserError exits 1);
    2: some benchmark of either revision failed (errcode != 0), a failed build included: asv then
       records every benchmark of that revision as failed and prints no comparison.
    """
    if code == 0:
        return "compared"
    if code == 1 and "No benchmarks selected" in log:
        return "nothing selected"
    if code == 1 and "PERFORMANCE DECREASED" in log:
        return "compared"
    if code == 2:
        return "failed"
    return "error"


def exit_code(rows: list[Comparison], outcome: Outcome = Outcome()) -> int:
    """A failure asv reports (exit 2, or it stopping early) is never turned into 0."""
    verdicts = {row.verdict for row in rows}
    if outcome.asv == "nothing selected":
        return NOTHING_MEASURED
    if outcome.asv in ("error", "failed") or not (outcome.base_built and outcome.head_built) or "failed" in verdicts:
        return FAILED
    if not verdicts & {"regressed", "improved", "unchanged"}:
        return NOTHING_MEASURED
    return REGRESSED if "regressed" in verdicts else OK


def notes(rows: list[Comparison], outcome: Outcome, base: str, head: str) -> list[str]:
    """Why the exit code is 2 or 3, in words for the report."""
    if outcome.asv == "nothing selected":
        return ["asv selected no benchmark (does --bench match any?)"]
    out = []
    if outcome.asv == "error":
        out.append("asv continuous stopped before comparing (its log above says why)")
    for label, rev, built in (("BASE", base, outcome.base_built), ("HEAD", head, outcome.head_built)):
        if not built and outcome.asv != "error":
            out.append(f"{label} `{rev}` has no value at all: it did not build, or every benchmark failed")
    failed = sum(row.verdict == "failed" for row in rows)
    if failed:
        out.append(f"{failed} benchmark(s) failed or newly skipped in HEAD")
    if outcome.asv == "failed" and not out:
        out.append("asv reported a failed benchmark (exit code 2): see the rows marked fixed, failed in BASE")
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


def run_gate(base: str, head: str, machine: str, bench: str | None, config_path: Path,
             factor_override: float | None = None, env_dir: Path | None = None) -> Report:
    """Benchmark BASE and HEAD with asv continuous and judge every benchmark.

    env_dir: asv's environments; default the configuration's, next to it (builds are cached there).
    Raises BadRevision and PolicyError."""
    root = config_path.resolve().parent
    base_hash, head_hash = (_rev_parse(root, rev) for rev in (base, head))
    with tempfile.TemporaryDirectory(prefix="ect-gate-") as scratch:
        config = scratch_config(config_path, Path(scratch), env_dir)
        policies = load_policies(config.benchmark_dir)  # before asv: a missing file fails at once
        asv_code, log = run_continuous(config, base_hash, head_hash, machine, bench)
        before, after = _unrolled(config, machine, base_hash), _unrolled(config, machine, head_hash)
        units = _units(config)
    rows = compare(before, after, policies, units, factor_override)
    outcome = Outcome(asv_outcome(asv_code, log), _built(before), _built(after))
    return Report(base, head, exit_code(rows, outcome), rows, notes(rows, outcome, base, head), factor_override)


def gate(base: str, head: str, factor: float | None, machine: str, bench: str | None, config_path: Path,
         markdown_path: Path | None, json_path: Path | None, env_dir: Path | None = None) -> int:
    report = run_gate(base, head, machine, bench, config_path, factor, env_dir)
    text = markdown(report)
    print(text)
    if markdown_path:
        markdown_path.write_text(text + "\n")
    if json_path:
        json_path.write_text(as_json(report) + "\n")
    return report.code


def scratch_config(config_path: Path, results_dir: Path, env_dir: Path | None = None):
    """The configuration with results (and html) in `results_dir`, everything else resolved next to
    the original: the checkout's own benchmark suite and, by default, its asv environments."""
    config = load_json(str(config_path), js_comments=True)
    root = config_path.resolve().parent
    config.update(
        repo=str((root / config.get("repo", ".")).resolve()),
        benchmark_dir=str(root / config.get("benchmark_dir", "benchmarks")),
        env_dir=str(env_dir or root / config.get("env_dir", "env")),
        results_dir=str(results_dir),
        html_dir=str(results_dir / "html"),
    )
    path = results_dir / "asv.conf.json"
    path.write_text(json.dumps(config))
    return load_config(path)


def run_continuous(config, base: str, head: str, machine: str, bench: str | None) -> tuple[int, str]:
    """`asv continuous` on the scratch configuration; returns asv's exit code and its log.

    No --factor: asv's own verdict is unit-blind and the gate replaces it."""
    command = [sys.executable, "-m", "asv", "--config", str(Path(config.results_dir) / "asv.conf.json"),
               "continuous", *(["--bench", bench] if bench else []), "--machine", machine, "--show-stderr",
               base, head]
    # The log is kept to read how asv ended (asv_outcome); it is shown on stderr as it comes.
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log = []
    for line in process.stdout:
        sys.stderr.write(line)
        log.append(line)
    return process.wait(), "".join(log)


def compare(before: dict, after: dict, policies: Policies, units: dict[str, str],
            factor_override: float | None = None) -> list[Comparison]:
    """Judge every benchmark of either revision; raises PolicyError for one without an entry."""
    rows = []
    for name in sorted(set(before) | set(after)):
        missing = (float("nan"), None)  # not run in that revision: like skipped
        (value_1, ss_1), (value_2, ss_2) = before.get(name, missing), after.get(name, missing)
        rows.append(_judge(name, policies.for_benchmark(name), value_1, ss_1, value_2, ss_2,
                           factor_override, units.get(name.split("(")[0], "")))
    return rows


def _units(config) -> dict[str, str]:
    if not (Path(config.results_dir) / "benchmarks.json").is_file():
        return {}  # asv stopped before discovering the benchmarks
    return {name: (b.get("unit") or "") for name, b in Benchmarks.load(config).items()}


def _unrolled(config, machine: str, commit: str) -> dict[str, tuple]:
    out = {}
    for result in iter_results_for_machine_and_hash(config.results_dir, machine, commit):
        for key in result.get_all_result_keys():
            params = result.get_result_params(key)
            for name, value, stats, samples in unroll_result(
                key, params, result.get_result_value(key, params),
                result.get_result_stats(key, params), result.get_result_samples(key, params),
            ):
                out[name] = (value, (stats, samples))
    return out


def _built(unrolled: dict[str, tuple]) -> bool:
    """A revision whose build failed has a result file with every value None (or none at all)."""
    return any(value is not None for value, _ in unrolled.values())


MARKS = {"regressed": "🔴 regressed", "improved": "🟢 improved", "unchanged": "unchanged",
         "failed": "❌ failed", "fixed": "✅ fixed", "skipped": "skipped", "new": "🆕 new"}
ORDER = ["failed", "regressed", "improved", "fixed", "new", "unchanged", "skipped"]
VERDICT_TEXT = {OK: "no benchmark got worse", REGRESSED: "performance regressed",
                FAILED: "a benchmark or build failed", NOTHING_MEASURED: "nothing was measured in both revisions"}
JUDGE_SHORT = {"statistics": "stats", "factor": "factor"}
THRESHOLDS = (
    "Threshold t: after/before beyond 1 + t counts (below 1/(1 + t) when higher is better); "
    "with a value ≤ 0, a move of more than t × the larger magnitude. "
    "**stats**: only if asv's significance test (Mann–Whitney on the samples, else 99% intervals) "
    "also finds the samples different; **factor**: the ratio alone (deterministic counts, one sample). "
    "**min**: a smaller absolute change never counts. Entries: `benchmarks/verdicts.json`."
)


def _fmt(value: float | None, unit: str) -> str:
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
    """e.g. "10%", "1.5%", "10%, min 16 KB"."""
    text = f"{(row.factor - 1) * 100:.3g}%" if row.factor > 1 else "any"
    if row.min_change:
        text += f", min {row.min_change:g} {row.unit}".rstrip()
    return text


def markdown(report: Report) -> str:
    code = report.code
    lines = [f"### Performance gate: {VERDICT_TEXT[code]}", "",
             f"`{report.base}` → `{report.head}` (exit code {code})", ""]
    lines += [f"- {note}" for note in report.notes] + ([""] if report.notes else [])
    lines += [THRESHOLDS, ""]
    if report.factor_override is not None:
        lines += [f"`--factor {report.factor_override:g}` replaced the threshold of the stats rows.", ""]
    lines += ["| Benchmark | Before | After | Ratio | Better | Judge | Threshold | Change |",
              "|---|---|---|---|---|---|---|---|"]
    for row in sorted(report.rows, key=lambda r: (ORDER.index(r.verdict), r.benchmark)):
        ratio = "n/a" if row.ratio is None else f"{row.ratio:.3g}"
        lines.append(f"| `{row.benchmark}` | {_fmt(row.before, row.unit)} | {_fmt(row.after, row.unit)} "
                     f"| {ratio} | {row.better} | {JUDGE_SHORT[row.judge]} | {threshold(row)} "
                     f"| {MARKS[row.verdict]} |")
    return "\n".join(lines)


def as_json(report: Report) -> str:
    def clean(value):
        return None if value is None or value != value else value

    return json.dumps({
        "base": report.base, "head": report.head, "exit_code": report.code,
        "verdict": VERDICT_TEXT[report.code], "notes": report.notes,
        "factor_override": report.factor_override,
        "benchmarks": [{**asdict(row), "before": clean(row.before), "after": clean(row.after),
                        "threshold": threshold(row)} for row in report.rows],
    }, indent=2)


def _rev_parse(repo: Path, rev: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise BadRevision(f"unknown revision {rev!r} in {repo}")
    return done.stdout.strip()
