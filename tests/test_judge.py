"""The gate's judgement, without running asv: `_judge`'s table, the exit codes, the policy file.

Samples and statistics are shaped like asv's (`unroll_result` gives `(stats, samples)` pairs; stats
has ci_99_a/ci_99_b, q_25/q_75, repeat, number), so the significance test is asv's own.
"""

import json
import math
import statistics
from pathlib import Path

import pytest

from ect_perf.gate import (
    BETTER, JUDGES, Comparison, Outcome, Policies, Policy, PolicyError, Report, _built, _judge, as_json,
    asv_outcome, compare, exit_code, load_policies, markdown, notes,
)

ROOT = Path(__file__).resolve().parent.parent
NAN = float("nan")

LOWER_STATS = Policy("lower", "statistics", 1.10)
HIGHER_STATS = Policy("higher", "statistics", 1.10)
LOWER_FACTOR = Policy("lower", "factor", 1.015)
HIGHER_FACTOR = Policy("higher", "factor", 1.50)

TIGHT = [1.00 + 0.01 * i for i in range(10)]  # 1.00 .. 1.09: a quiet measurement
WIDE = [0.1 + 0.2 * i for i in range(10)]  # 0.1 .. 1.9: a noisy one, median 1.0


def scaled(samples, k):
    return [x * k for x in samples]


def measured(samples, repeat=None):
    """(value, (stats, samples)) as asv records a benchmark: the median and its statistics."""
    s = sorted(samples)
    n = len(s)
    stats = {"ci_99_a": s[0], "ci_99_b": s[-1], "q_25": s[n // 4], "q_75": s[(3 * n) // 4],
             "repeat": repeat or n, "number": 1}
    return statistics.median(samples), (stats, list(samples))


def judge(policy, before_samples, after_samples, **kwargs) -> Comparison:
    return _judge("bench.B.x", policy, *measured(before_samples), *measured(after_samples), **kwargs)


def plain(policy, before, after, **kwargs) -> Comparison:
    """Values without statistics (failed, skipped, or one number): the factor alone decides."""
    return _judge("bench.B.x", policy, before, None, after, None, **kwargs)


# Both directions, with statistics: clearly different samples beyond the factor count.

@pytest.mark.parametrize("policy, k, verdict", [
    (LOWER_STATS, 1.5, "regressed"),
    (LOWER_STATS, 0.6, "improved"),
    (LOWER_STATS, 1.05, "unchanged"),  # within 10%, significant or not
    (HIGHER_STATS, 0.6, "regressed"),  # fewer items/s
    (HIGHER_STATS, 1.5, "improved"),
    (HIGHER_STATS, 0.95, "unchanged"),
])
def test_clearly_different_samples_beyond_the_factor(policy, k, verdict):
    row = judge(policy, scaled(TIGHT, 100), scaled(TIGHT, 100 * k))
    assert row.verdict == verdict
    assert row.ratio == pytest.approx(k)


@pytest.mark.parametrize("policy, k", [(LOWER_STATS, 1.2), (LOWER_STATS, 0.8), (HIGHER_STATS, 0.8),
                                       (HIGHER_STATS, 1.2)])
def test_overlapping_samples_are_unchanged_despite_a_ratio_beyond_the_factor(policy, k):
    """Higher-is-better keeps its statistics: 20% fewer items/s in overlapping samples is noise."""
    row = judge(policy, WIDE, scaled(WIDE, k))
    assert row.ratio == pytest.approx(k)
    assert row.verdict == "unchanged"


def test_with_one_repeat_or_no_statistics_the_factor_alone_decides_as_in_asv():
    one = _judge("b", LOWER_STATS, 1.0, measured([1.0], repeat=1)[1], 1.2, measured([1.2], repeat=1)[1])
    assert one.verdict == "regressed"
    assert plain(LOWER_STATS, 1.0, 1.2).verdict == "regressed"
    assert plain(HIGHER_STATS, 1.0, 0.8).verdict == "regressed"
    assert plain(LOWER_STATS, 1.0, 1.05).verdict == "unchanged"


# "factor" entries: the ratio alone, statistics ignored both ways.

def test_factor_entries_ignore_the_statistics():
    assert judge(LOWER_FACTOR, WIDE, scaled(WIDE, 1.02)).verdict == "regressed"  # overlapping, yet counted
    assert judge(LOWER_FACTOR, WIDE, scaled(WIDE, 0.98)).verdict == "improved"
    tight = [100 + 0.001 * i for i in range(10)]
    assert judge(LOWER_FACTOR, tight, scaled(tight, 1.01)).verdict == "unchanged"  # significant, within 1.5%
    assert judge(HIGHER_FACTOR, WIDE, scaled(WIDE, 0.6)).verdict == "regressed"
    assert judge(HIGHER_FACTOR, WIDE, scaled(WIDE, 0.7)).verdict == "unchanged"  # 1/0.7 < 1.5


def test_factor_one_counts_any_worsening():
    streams = Policy("higher", "factor", 1.0)
    assert plain(streams, 100, 99).verdict == "regressed"
    assert plain(streams, 100, 100).verdict == "unchanged"
    assert plain(streams, 99, 100).verdict == "improved"
    assert plain(streams, 100, 0).verdict == "regressed"


# Signed values and zero: the difference, not the ratio.

def test_a_more_negative_value_is_lower_not_a_regression():
    policy = Policy("lower", "factor", 1.01)
    row = plain(policy, -60, -61)
    assert row.verdict == "improved"  # its ratio, 1.017, would read as 1.7% worse
    assert row.ratio == pytest.approx(61 / 60)
    assert plain(policy, -61, -60).verdict == "regressed"
    assert plain(Policy("lower", "factor", 1.10), -60, -61).verdict == "unchanged"  # 1 < 10% of 61


@pytest.mark.parametrize("better, before, after, verdict", [
    ("lower", -10, 5, "regressed"),
    ("lower", 5, -10, "improved"),
    ("higher", -10, 5, "improved"),
    ("higher", 5, -10, "regressed"),
    ("lower", -10, -10.5, "unchanged"),  # 0.5 < 10% of 10.5
])
def test_sign_changes_are_judged_by_the_difference(better, before, after, verdict):
    row = plain(Policy(better, "statistics", 1.10), before, after)
    assert row.verdict == verdict
    assert row.ratio is None or before * after > 0


def test_signed_statistics_entries_still_need_different_samples():
    policy = Policy("lower", "statistics", 1.10)  # e.g. a degradation in %
    quiet = [-60 + 0.1 * i for i in range(10)]
    assert judge(policy, quiet, [x + 20 for x in quiet]).verdict == "regressed"  # -59.5 -> -39.5
    noisy = [-80 + 8 * i for i in range(10)]  # -80 .. -8
    assert judge(policy, noisy, [x + 20 for x in noisy]).verdict == "unchanged"


@pytest.mark.parametrize("better, before, after, verdict, ratio", [
    ("lower", 0, 0, "unchanged", None),
    ("lower", 0, 5, "regressed", None),
    ("higher", 0, 5, "improved", None),
    ("lower", 5, 0, "improved", 0.0),
    ("higher", 5, 0, "regressed", 0.0),
])
def test_zero(better, before, after, verdict, ratio):
    row = plain(Policy(better, "statistics", 1.10), before, after)
    assert (row.verdict, row.ratio) == (verdict, ratio)


# min_change: a small absolute change never counts.

def test_min_change():
    gc = Policy("lower", "statistics", 1.10, min_change=1)
    assert plain(gc, 3, 3.5).verdict == "unchanged"  # +17%, yet less than one collection
    assert plain(gc, 3, 5).verdict == "regressed"
    kb = Policy("lower", "statistics", 1.10, min_change=16)
    assert judge(kb, scaled(TIGHT, 6.45), scaled(TIGHT, 20)).verdict == "unchanged"  # x3, significant, < 16 KB
    assert judge(kb, scaled(TIGHT, 6.45), scaled(TIGHT, 30)).verdict == "regressed"


# Failed, skipped, missing (passed as NaN, as gate.compare does).

@pytest.mark.parametrize("before, after, verdict", [
    (NAN, 1.0, "new"),  # not in BASE (or skipped there), measured in HEAD
    (1.0, NAN, "failed"),  # missing or newly skipped in HEAD
    (1.0, None, "failed"),
    (None, None, "failed"),  # still failing in HEAD
    (NAN, None, "failed"),
    (None, 1.0, "fixed"),
    (NAN, NAN, "skipped"),
    (None, NAN, "skipped"),  # failed in BASE, not run in HEAD: nothing measured in HEAD
])
def test_failed_skipped_and_missing(before, after, verdict):
    row = plain(LOWER_STATS, before, after)
    assert row.verdict == verdict
    assert row.ratio is None


# --factor replaces the factor of "statistics" entries only.

def test_factor_override_applies_to_statistics_entries_only():
    before, after = scaled(TIGHT, 100), scaled(TIGHT, 115)
    assert judge(LOWER_STATS, before, after).verdict == "regressed"
    overridden = judge(LOWER_STATS, before, after, factor_override=1.20)
    assert (overridden.verdict, overridden.factor) == ("unchanged", 1.20)
    quiet = [100 + 0.1 * i for i in range(10)]
    assert judge(LOWER_STATS, quiet, scaled(quiet, 1.05)).verdict == "unchanged"
    assert judge(LOWER_STATS, quiet, scaled(quiet, 1.05), factor_override=1.01).verdict == "regressed"
    kept = judge(LOWER_FACTOR, before, scaled(TIGHT, 102), factor_override=1.20)
    assert (kept.verdict, kept.factor) == ("regressed", 1.015)


def test_the_row_carries_its_policy():
    row = _judge("bench.B.x", Policy("higher", "factor", 1.5, 2), 10, None, 20, None, unit="items/s")
    assert (row.better, row.judge, row.factor, row.min_change, row.unit) == ("higher", "factor", 1.5, 2, "items/s")


# Policies: the entry of a parameterised benchmark, and no guessing.

POLICIES = Policies(Path("benchmarks/verdicts.json"), {"bench_x.C.track_y": LOWER_STATS})


def test_a_parameterised_name_uses_its_benchmark_entry():
    assert POLICIES.for_benchmark("bench_x.C.track_y('server', 0)") is LOWER_STATS


def test_a_benchmark_without_an_entry_is_an_error_naming_it():
    with pytest.raises(PolicyError, match=r"bench_x\.C\.track_z has no entry in benchmarks/verdicts\.json"):
        compare({"bench_x.C.track_z(1)": (1.0, None)}, {}, POLICIES, {})


def test_compare_treats_a_missing_side_like_skipped():
    before = {"bench_x.C.track_y(1)": (1.0, None)}
    after = {"bench_x.C.track_y(2)": (1.0, None)}
    rows = compare(before, after, POLICIES, {"bench_x.C.track_y": "ms"})
    assert [(r.benchmark, r.verdict, r.unit) for r in rows] == [
        ("bench_x.C.track_y(1)", "failed", "ms"), ("bench_x.C.track_y(2)", "new", "ms")]


@pytest.mark.parametrize("entry, problem", [
    ({"better": "up", "judge": "factor", "factor": 1.1}, "better must be one of"),
    ({"better": "lower", "judge": "ratio", "factor": 1.1}, "judge must be one of"),
    ({"better": "lower", "judge": "factor", "factor": 0.9}, "factor must be a number >= 1.0"),
    ({"better": "lower", "judge": "factor", "factor": "1.1"}, "factor must be a number >= 1.0"),
    ({"better": "lower", "judge": "factor"}, "factor must be a number >= 1.0"),
    ({"better": "lower", "judge": "factor", "factor": 1.1, "min_change": -1}, "min_change must be"),
    ({"better": "lower", "judge": "factor", "factor": 1.1, "min_chnage": 1}, "unknown keys"),
])
def test_bad_entries_are_refused(tmp_path, entry, problem):
    (tmp_path / "verdicts.json").write_text(json.dumps({"benchmarks": {"b.C.x": entry}}))
    with pytest.raises(PolicyError, match=problem):
        load_policies(tmp_path)


def test_a_missing_policy_file_is_an_error(tmp_path):
    with pytest.raises(PolicyError, match="verdicts.json not found"):
        load_policies(tmp_path)


def test_every_entry_of_the_suite_policy_is_valid():
    entries = json.loads((ROOT / "benchmarks" / "verdicts.json").read_text())["benchmarks"]
    assert entries
    for name, entry in entries.items():
        assert entry.get("better") in ("higher", "lower"), name
        assert entry.get("judge") in ("statistics", "factor"), name
        factor = entry.get("factor")
        assert isinstance(factor, (int, float)) and not isinstance(factor, bool) and factor >= 1.0, name
        assert math.isfinite(factor), name
    assert set(BETTER) == {"higher", "lower"} and set(JUDGES) == {"statistics", "factor"}
    assert set(load_policies(ROOT / "benchmarks").entries) == set(entries)


# Exit codes.

def row(verdict: str) -> Comparison:
    return Comparison(f"bench.B.{verdict}", "", 1.0, 1.0, 1.0, verdict, "lower", "statistics", 1.1, 0.0)


@pytest.mark.parametrize("verdicts, outcome, code", [
    (["unchanged", "improved"], Outcome(), 0),
    (["unchanged", "skipped", "new"], Outcome(), 0),
    (["unchanged", "regressed"], Outcome(), 1),
    (["regressed", "failed"], Outcome(), 2),  # a failure in HEAD outranks a regression
    (["unchanged", "failed"], Outcome("failed"), 2),
    (["unchanged"], Outcome(base_built=False), 2),  # BASE did not build: never "fine"
    (["fixed"], Outcome("failed", base_built=False), 2),
    (["unchanged"], Outcome(head_built=False), 2),
    (["unchanged", "fixed"], Outcome("failed"), 2),  # asv's exit 2 is never turned into 0
    (["unchanged"], Outcome("error"), 2),
    ([], Outcome("error", False, False), 2),  # e.g. neither revision built: asv exits 1, no results
    ([], Outcome("nothing selected", False, False), 3),
    (["skipped"], Outcome(), 3),
    (["new", "skipped"], Outcome(), 3),  # nothing measured in both
    (["unchanged"], Outcome("compared"), 0),  # asv said "worse" by its unit-blind rule: the rows decide
])
def test_exit_code(verdicts, outcome, code):
    assert exit_code([row(v) for v in verdicts], outcome) == code


@pytest.mark.parametrize("code, log, outcome", [
    (0, "BENCHMARKS NOT SIGNIFICANTLY CHANGED.", "compared"),
    (1, "SOME BENCHMARKS HAVE CHANGED SIGNIFICANTLY.\nPERFORMANCE DECREASED.", "compared"),
    (1, "· No benchmarks selected", "nothing selected"),
    (1, "· Unknown commit abc", "error"),
    (2, "", "failed"),
    (-9, "", "error"),
])
def test_asv_outcome(code, log, outcome):
    assert asv_outcome(code, log) == outcome


def test_a_revision_without_any_value_did_not_build():
    assert not _built({})
    assert not _built({"a": (None, None), "b": (None, None)})  # asv's failed build: every value None
    assert _built({"a": (None, None), "b": (NAN, None)})  # skipped means it built and ran setup


def test_notes_name_the_unbuilt_revision():
    assert notes([row("fixed")], Outcome("failed", base_built=False), "origin/main", "HEAD") == [
        "BASE `origin/main` has no value at all: it did not build, or every benchmark failed"]


# The reports.

def test_markdown_shows_judge_and_threshold_per_row_and_explains_them():
    rows = [
        _judge("bench.B.time_x", LOWER_STATS, 1.0, None, 2.0, None, unit="seconds"),
        _judge("bench.I.track_instructions", LOWER_FACTOR, 100.0, None, 100.5, None, unit="instructions"),
        _judge("bench.M.track_kb", Policy("lower", "statistics", 1.10, 16), 6.0, None, 7.0, None, unit="KB"),
    ]
    report = Report("origin/main", "HEAD", exit_code(rows), rows, factor_override=None)
    text = markdown(report)
    assert "| Benchmark | Before | After | Ratio | Better | Judge | Threshold | Change |" in text
    assert "| `bench.B.time_x` | 1 s | 2 s | 2 | lower | stats | 10% | 🔴 regressed |" in text
    assert "| factor | 1.5% | unchanged |" in text
    assert "| stats | 10%, min 16 KB | unchanged |" in text
    assert "Threshold t:" in text and "**stats**" in text and "**factor**" in text
    assert text.startswith("### Performance gate: performance regressed")
    data = json.loads(as_json(report))
    assert data["exit_code"] == 1
    assert [(b["judge"], b["threshold"]) for b in data["benchmarks"]] == [
        ("statistics", "10%"), ("factor", "1.5%"), ("statistics", "10%, min 16 KB")]


def test_markdown_names_the_factor_override_and_the_notes():
    rows = [_judge("bench.B.x", LOWER_STATS, 1.0, None, NAN, None)]
    outcome = Outcome()
    report = Report("a", "b", exit_code(rows, outcome), rows, notes(rows, outcome, "a", "b"), 1.25)
    text = markdown(report)
    assert "- 1 benchmark(s) failed or newly skipped in HEAD" in text
    assert "`--factor 1.25` replaced the threshold of the stats rows." in text
    assert "| n/a | n/a | lower | stats | 10% | ❌ failed |" in text
