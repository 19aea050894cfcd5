"""The pull-request gate: benchmark two revisions with `asv continuous`, judge every benchmark.

    python -m ect_perf gate BASE [HEAD] [--factor 1.10] [--bench REGEX] [--markdown F] [--json F]

asv builds and benchmarks both revisions into a scratch results directory (the committed history
is never touched). The verdict uses asv's own significance test, with one correction: asv counts
every larger number as worse, but for throughput and ratios (units "items/s", "x") larger is
better, so those are judged the other way round.

Exit codes: 0 nothing got worse; 1 something regressed; 2 a benchmark failed in HEAD, or a revision
could not be built; 3 nothing was measured in both revisions (e.g. --bench matched nothing).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from asv.benchmarks import Benchmarks
from asv.commands.compare import _is_result_better, _isna, unroll_result
from asv.results import iter_results_for_machine_and_hash
from asv.util import load_json

from ect_perf.asv_results import load_config

HIGHER_IS_BETTER_UNITS = {"items/s", "x"}
OK, REGRESSED, FAILED, NOTHING_MEASURED = 0, 1, 2, 3


@dataclass(frozen=True)
class Comparison:
    benchmark: str
    unit: str
    before: float | None  # None: failed; NaN: skipped
    after: float | None
    ratio: float | None  # after / before
    verdict: str  # regressed, improved, unchanged, failed, fixed, skipped


def run_continuous(config_path: Path, base: str, head: str, factor: float, machine: str,
                   bench: str | None, results_dir: Path) -> tuple[int, str, object]:
    """`asv continuous` with results kept in `results_dir`; returns asv's exit code, its log and the
    scratch configuration (whose results_dir holds both revisions' results)."""
    config = load_json(str(config_path), js_comments=True)
    root = config_path.resolve().parent
    config.update(
        repo=str((root / config.get("repo", ".")).resolve()),
        benchmark_dir=str(root / config.get("benchmark_dir", "benchmarks")),
        env_dir=str(root / config.get("env_dir", "env")),
        results_dir=str(results_dir),
        html_dir=str(results_dir / "html"),
    )
    scratch_config = results_dir / "asv.conf.json"
    scratch_config.write_text(json.dumps(config))
    command = [sys.executable, "-m", "asv", "--config", str(scratch_config), "continuous",
               "--factor", str(factor), "--machine", machine, "--show-stderr", base, head]
    if bench:
        command[6:6] = ["--bench", bench]
    # asv's log goes to stderr, so that stdout carries only the summary; the log is kept to tell
    # "no benchmark selected" from a failed build (asv exits 1 for both).
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log = []
    for line in process.stdout:
        sys.stderr.write(line)
        log.append(line)
    return process.wait(), "".join(log), load_config(scratch_config)


def compare(config, machine: str, base_hash: str, head_hash: str, factor: float) -> list[Comparison]:
    if not (Path(config.results_dir) / "benchmarks.json").is_file():
        return []  # asv stopped before discovering the benchmarks (e.g. the build failed)
    units = {name: (b.get("unit") or "") for name, b in Benchmarks.load(config).items()}
    before, after = _unrolled(config, machine, base_hash), _unrolled(config, machine, head_hash)
    rows = []
    for name in sorted(set(before) | set(after)):
        key = name.split("(")[0]
        unit = units.get(key, "")
        missing = (float("nan"), None)  # not run in that revision: like skipped
        (value_1, ss_1), (value_2, ss_2) = before.get(name, missing), after.get(name, missing)
        rows.append(_judge(name, unit, value_1, ss_1, value_2, ss_2, factor))
    return rows


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


def _judge(name, unit, before, ss_before, after, ss_after, factor) -> Comparison:
    ratio = None if _isna(before) or _isna(after) or not before else after / before
    if after is None:  # also when it failed in BASE too: HEAD still fails
        verdict = "failed"
    elif before is None:
        verdict = "fixed"
    elif _isna(before) or _isna(after):
        verdict = "skipped"
    else:
        if unit in HIGHER_IS_BETTER_UNITS:
            # Judge 1/x so that "smaller is better" holds; asv's intervals are for x, so none here.
            a, b, sa, sb = 1 / before if before else float("inf"), 1 / after if after else float("inf"), None, None
        else:
            a, b, sa, sb = before, after, ss_before, ss_after
        if _is_result_better(a, b, sa, sb, factor):
            verdict = "regressed"
        elif _is_result_better(b, a, sb, sa, factor):
            verdict = "improved"
        else:
            verdict = "unchanged"
    return Comparison(name, unit, before, after, ratio, verdict)


def exit_code(rows: list[Comparison], built: bool) -> int:
    if not built:
        return FAILED
    verdicts = {row.verdict for row in rows}
    if "failed" in verdicts:
        return FAILED
    if not verdicts - {"skipped"}:
        return NOTHING_MEASURED
    return REGRESSED if "regressed" in verdicts else OK


MARKS = {"regressed": "🔴 regressed", "improved": "🟢 improved", "unchanged": "unchanged",
         "failed": "❌ failed", "fixed": "✅ fixed", "skipped": "skipped"}
ORDER = ["failed", "regressed", "improved", "fixed", "unchanged", "skipped"]
VERDICT_TEXT = {OK: "no benchmark got worse", REGRESSED: "performance regressed",
                FAILED: "a benchmark failed", NOTHING_MEASURED: "nothing was measured in both revisions"}


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "failed"
    if value != value:
        return "n/a"
    if unit == "seconds":
        for scale, suffix in ((1, "s"), (1e-3, "ms"), (1e-6, "µs")):
            if value >= scale:
                return f"{value / scale:.3g} {suffix}"
        return f"{value * 1e9:.3g} ns"
    if unit == "bytes":
        return f"{value / 2**20:.3g} MiB"
    return f"{value:.4g} {unit}".strip()


def markdown(rows: list[Comparison], base: str, head: str, factor: float, code: int) -> str:
    lines = [
        f"### Performance gate: {VERDICT_TEXT[code]}",
        "",
        f"`{base}` → `{head}`, threshold {factor:.2f}x (exit code {code})",
        "",
        "| Benchmark | Before | After | Ratio | Change |",
        "|---|---|---|---|---|",
    ]
    for row in sorted(rows, key=lambda r: (ORDER.index(r.verdict), r.benchmark)):
        ratio = "n/a" if row.ratio is None else f"{row.ratio:.2f}"
        lines.append(f"| `{row.benchmark}` | {_fmt(row.before, row.unit)} | {_fmt(row.after, row.unit)} "
                     f"| {ratio} | {MARKS[row.verdict]} |")
    return "\n".join(lines)


def as_json(rows: list[Comparison], base: str, head: str, factor: float, code: int) -> str:
    def clean(value):
        return None if value is None or value != value else value

    return json.dumps({
        "base": base, "head": head, "factor": factor, "exit_code": code, "verdict": VERDICT_TEXT[code],
        "benchmarks": [{**asdict(row), "before": clean(row.before), "after": clean(row.after)} for row in rows],
    }, indent=2)


class BadRevision(ValueError):
    pass


def gate(base: str, head: str, factor: float, machine: str, bench: str | None, config_path: Path,
         markdown_path: Path | None, json_path: Path | None) -> int:
    base_hash, head_hash = (_rev_parse(config_path.resolve().parent, rev) for rev in (base, head))
    with tempfile.TemporaryDirectory(prefix="ect-gate-") as scratch:
        asv_code, log, config = run_continuous(config_path, base_hash, head_hash, factor, machine, bench,
                                               Path(scratch))
        # asv continuous exits 2, without its table, when a benchmark failed: the results say which.
        rows = compare(config, machine, base_hash, head_hash, factor)
    if not rows and "No benchmarks selected" in log:
        code = NOTHING_MEASURED
    else:
        code = exit_code(rows, built=bool(rows))  # no rows at all: a revision did not build
    report = markdown(rows, base, head, factor, code)
    print(report)
    if markdown_path:
        markdown_path.write_text(report + "\n")
    if json_path:
        json_path.write_text(as_json(rows, base, head, factor, code) + "\n")
    return code


def _rev_parse(repo: Path, rev: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise BadRevision(f"unknown revision {rev!r} in {repo}")
    return done.stdout.strip()
