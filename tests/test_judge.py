"""The gate's judgement without running asv: the verdict table, screening and confirmation, the exit
codes, environments kept apart, the policy file and the report."""

import json
import math
from pathlib import Path

import pytest

from ect_perf.gate import interleave, stats
from ect_perf.gate.judge import (
    Comparison,
    Confirmation,
    Outcome,
    Report,
    built,
    compare,
    confirmed,
    covered_by_regressed_count,
    exit_code,
    judge_row,
    notes,
)
from ect_perf.gate.policy import BETTER, JUDGES, Policies, Policy, PolicyError, load_policies
from ect_perf.gate.render import as_json, markdown
from ect_perf.gate.results import Measurement
from ect_perf.gate.stats import worse_test

ROOT = Path(__file__).resolve().parent.parent
NAN = float("nan")

LOWER_WALL = Policy("lower", "statistics", 1.10)
HIGHER_WALL = Policy("higher", "statistics", 1.10)
LOWER_COUNT = Policy("lower", "factor", 1.01)


def m(value, samples=()):
    return Measurement(value, tuple(samples))


def plain(policy, before, after, **kwargs) -> Comparison:
    return judge_row("", "bench.B.x", policy, m(before), m(after), **kwargs)


# Counted numbers: the ratio alone.


@pytest.mark.parametrize(
    "before, after, verdict",
    [(100, 101.5, "regressed"), (100, 100.5, "unchanged"), (100, 98, "improved"), (100, 100, "unchanged")],
)
def test_counts_are_judged_on_their_ratio(before, after, verdict):
    assert plain(LOWER_COUNT, before, after).verdict == verdict


# Wall-clock numbers: a bad move beyond half the factor is a suspect, never a regression by itself.


@pytest.mark.parametrize(
    "policy, k, verdict",
    [
        (LOWER_WALL, 1.5, "suspect"),
        (LOWER_WALL, 1.06, "suspect"),  # beyond half of 10%
        (LOWER_WALL, 1.04, "unchanged"),
        (LOWER_WALL, 0.8, "improved"),
        (LOWER_WALL, 0.95, "unchanged"),
        (HIGHER_WALL, 0.93, "suspect"),  # fewer items/s
        (HIGHER_WALL, 0.97, "unchanged"),
        (HIGHER_WALL, 1.2, "improved"),
    ],
)
def test_wall_clock_moves_are_suspects(policy, k, verdict):
    row = plain(policy, 100.0, 100.0 * k)
    assert row.verdict == verdict
    assert row.ratio == pytest.approx(k)


def confirmation(before, after, better="lower", alpha=0.01):
    return Confirmation(tuple(before), tuple(after), worse_test(before, after, better, alpha), None)


BASE_REPS = [100, 102, 98, 101, 99, 103]


def test_a_suspect_regresses_only_when_measuring_again_reproduces_it():
    suspect = plain(LOWER_WALL, 100.0, 112.0)
    again = confirmed(suspect, confirmation(BASE_REPS, [x * 1.12 for x in BASE_REPS]))
    assert again.verdict == "regressed" and "reproduced" in again.reason
    noise = confirmed(suspect, confirmation(BASE_REPS, [101, 99, 103, 100, 98, 102]))
    assert noise.verdict == "unchanged" and noise.reason.startswith("not reproduced: p =")


def test_a_significant_but_small_change_is_not_a_regression():
    suspect = plain(LOWER_WALL, 100.0, 112.0)
    quiet = [100 + 0.01 * i for i in range(6)]
    small = confirmed(suspect, confirmation(quiet, [x * 1.02 for x in quiet]))
    assert small.confirmation.test.significant
    assert small.verdict == "unchanged" and "only 1.02x" in small.reason


def test_higher_is_better_suspects_are_tested_the_other_way():
    suspect = plain(HIGHER_WALL, 100.0, 88.0)
    fewer = confirmed(suspect, confirmation(BASE_REPS, [x * 0.88 for x in BASE_REPS], better="higher"))
    assert fewer.verdict == "regressed"
    more = confirmed(suspect, confirmation(BASE_REPS, [x * 1.12 for x in BASE_REPS], better="higher"))
    assert more.verdict == "unchanged"


def test_a_suspect_that_could_not_be_measured_again_fails():
    assert confirmed(plain(LOWER_WALL, 100.0, 120.0), None).verdict == "failed"


def test_a_suspect_whose_count_regressed_too_is_a_regression_without_measuring_again():
    policies = Policies(
        Path("v.json"),
        {
            "bench.I.track_instructions": LOWER_COUNT,
            "bench.T.track_rate": Policy("higher", "statistics", 1.10, covered_by="bench.I.track_instructions"),
            "bench.F.track_first_ms": LOWER_WALL,
        },
    )
    before = {
        ("", "bench.I.track_instructions('server')"): m(100.0),
        ("", "bench.T.track_rate"): m(100.0),
        ("", "bench.F.track_first_ms"): m(1.0),
    }
    after = {
        ("", "bench.I.track_instructions('server')"): m(103.0),
        ("", "bench.T.track_rate"): m(80.0),
        ("", "bench.F.track_first_ms"): m(1.3),
    }
    rows = {r.benchmark: r for r in covered_by_regressed_count(compare(before, after, policies, {}), policies)}
    assert rows["bench.T.track_rate"].verdict == "regressed"
    assert "bench.I.track_instructions" in rows["bench.T.track_rate"].reason
    assert rows["bench.F.track_first_ms"].verdict == "suspect"  # no count of its own


# Signed values and zero: the difference, not the ratio.


def test_a_more_negative_value_is_lower_not_a_regression():
    row = plain(LOWER_COUNT, -60, -61)
    assert row.verdict == "improved"
    assert plain(LOWER_COUNT, -61, -60).verdict == "regressed"


@pytest.mark.parametrize(
    "better, before, after, verdict, ratio",
    [
        ("lower", 0, 0, "unchanged", None),
        ("lower", 0, 5, "suspect", None),
        ("higher", 0, 5, "improved", None),
        ("lower", 5, 0, "improved", 0.0),
        ("higher", 5, 0, "suspect", 0.0),
    ],
)
def test_zero(better, before, after, verdict, ratio):
    row = plain(Policy(better, "statistics", 1.10), before, after)
    assert (row.verdict, row.ratio) == (verdict, ratio)


def test_min_change():
    gc = Policy("lower", "statistics", 1.10, min_change=1)
    assert plain(gc, 3, 3.5).verdict == "unchanged"  # +17%, yet less than one collection
    assert plain(gc, 3, 5).verdict == "suspect"


# Failed, skipped, missing.


@pytest.mark.parametrize(
    "before, after, verdict",
    [
        (NAN, 1.0, "new"),
        (1.0, NAN, "failed"),
        (1.0, None, "failed"),
        (None, None, "failed"),
        (NAN, None, "failed"),
        (None, 1.0, "fixed"),
        (NAN, NAN, "skipped"),
        (None, NAN, "skipped"),
    ],
)
def test_failed_skipped_and_missing(before, after, verdict):
    row = plain(LOWER_WALL, before, after)
    assert row.verdict == verdict and row.ratio is None


def test_factor_override_applies_to_wall_clock_entries_only():
    assert plain(LOWER_WALL, 100, 108, factor_override=1.2).verdict == "unchanged"  # within half of 20%
    assert plain(LOWER_WALL, 100, 108).verdict == "suspect"
    kept = plain(LOWER_COUNT, 100, 102, factor_override=1.2)
    assert (kept.verdict, kept.factor) == ("regressed", 1.01)


# Environments: each database's environment is judged on its own.

POLICIES = Policies(Path("ect_perf/gate/verdicts.json"), {"bench_x.C.track_y": LOWER_WALL})


def test_each_environment_is_judged_on_its_own():
    """asv.databases.conf.json: one result file per database; BASE on PostgreSQL is never compared
    with HEAD on MariaDB."""
    before = {("postgresql", "bench_x.C.track_y"): m(100.0), ("mariadb", "bench_x.C.track_y"): m(300.0)}
    after = {("postgresql", "bench_x.C.track_y"): m(101.0), ("mariadb", "bench_x.C.track_y"): m(302.0)}
    rows = compare(before, after, POLICIES, {})
    assert [(r.env, r.before, r.after, r.verdict) for r in rows] == [
        ("mariadb", 300.0, 302.0, "unchanged"),
        ("postgresql", 100.0, 101.0, "unchanged"),
    ]


def test_a_benchmark_without_an_entry_is_an_error_naming_it():
    with pytest.raises(PolicyError, match=r"bench_x\.C\.track_z has no entry in ect_perf/gate/verdicts\.json"):
        compare({("", "bench_x.C.track_z(1)"): m(1.0)}, {}, POLICIES, {})


# The policy file.


@pytest.mark.parametrize(
    "entry, problem",
    [
        ({"better": "up", "judge": "factor", "factor": 1.1}, "better must be one of"),
        ({"better": "lower", "judge": "ratio", "factor": 1.1}, "judge must be one of"),
        ({"better": "lower", "judge": "factor", "factor": 0.9}, "factor must be a number >= 1.0"),
        ({"better": "lower", "judge": "factor"}, "factor must be a number >= 1.0"),
        ({"better": "lower", "judge": "factor", "factor": 1.1, "min_change": -1}, "min_change must be"),
        ({"better": "lower", "judge": "factor", "factor": 1.1, "min_chnage": 1}, "unknown keys"),
        ({"better": "lower", "judge": "statistics", "factor": 1.1, "covered_by": "b.C.none"}, "is not a counted"),
        ({"better": "lower", "judge": "factor", "factor": 1.1, "covered_by": "b.C.x"}, "belongs to wall-clock"),
    ],
)
def test_bad_entries_are_refused(tmp_path, entry, problem):
    (tmp_path / "verdicts.json").write_text(json.dumps({"benchmarks": {"b.C.x": entry}}))
    with pytest.raises(PolicyError, match=problem):
        load_policies(tmp_path / "verdicts.json")


def test_the_suite_policy_is_valid_and_covers_only_with_counts():
    policies = load_policies().entries
    assert set(BETTER) == {"higher", "lower"} and set(JUDGES) == {"statistics", "factor"}
    for name, policy in policies.items():
        assert math.isfinite(policy.factor) and policy.factor >= 1, name
        assert (policy.judge == "factor") == name.startswith("bench_instructions."), name
    covered = {name for name, policy in policies.items() if policy.covered_by}
    assert "bench_throughput.RecommendedStreamThroughput.track_items_per_second" in covered
    assert not any(
        "first_item" in name or "Worker" in name or "Concurren" in name or "memory" in name for name in covered
    )  # always suspects: no count of their own


# Exit codes.


def row(verdict: str) -> Comparison:
    return Comparison(f"bench.B.{verdict}", "", "", 1.0, 1.0, 1.0, verdict, "lower", "statistics", 1.1, 0.0)


@pytest.mark.parametrize(
    "verdicts, outcome, code",
    [
        (["unchanged", "improved"], Outcome(), 0),
        (["unchanged", "skipped", "new"], Outcome(), 0),
        (["unchanged", "regressed"], Outcome(), 1),
        (["regressed", "failed"], Outcome(), 2),
        (["unchanged", "fixed"], Outcome(), 0),  # a benchmark failing in BASE and running in HEAD: a fix
        (["unchanged"], Outcome(base_built=False), 2),  # BASE did not build at all: nothing to judge against
        (["fixed"], Outcome(base_built=False), 2),
        (["unchanged"], Outcome(head_built=False), 2),
        (["unchanged"], Outcome("error"), 2),
        ([], Outcome("error", False, False), 2),
        ([], Outcome("nothing selected", False, False), 3),
        (["skipped"], Outcome(), 3),
        (["new", "skipped"], Outcome(), 3),
    ],
)
def test_exit_code(verdicts, outcome, code):
    assert exit_code([row(v) for v in verdicts], outcome) == code


def test_a_revision_without_any_value_did_not_build():
    assert not built({})
    assert not built({"a": m(None), "b": m(None)})
    assert built({"a": m(None), "b": m(NAN)})  # skipped: it built and ran setup


def test_notes_name_the_unbuilt_revision():
    assert notes([row("fixed")], Outcome(base_built=False), "origin/main", "HEAD") == [
        "BASE `origin/main` has no value at all: it did not build, or every benchmark failed"
    ]


# The report.


def test_markdown_shows_judge_threshold_detection_and_what_was_measured_again():
    suspect = judge_row("", "bench.B.time_x", LOWER_WALL, m(1.0), m(1.2), unit="seconds")
    rows = [
        confirmed(
            suspect,
            Confirmation(
                (1.0, 1.01, 0.99, 1.0, 1.02),
                (1.2, 1.21, 1.19, 1.2, 1.22),
                worse_test([1.0, 1.01, 0.99, 1.0, 1.02], [1.2, 1.21, 1.19, 1.2, 1.22], "lower", 0.01),
                0.031,
            ),
        ),
        judge_row("", "bench.I.track_instructions", LOWER_COUNT, m(100.0), m(100.5), unit="instructions"),
    ]
    report = Report("origin/main", "HEAD", exit_code(rows), rows, seconds=754.0, confirm_pairs=5)
    text = markdown(report)
    assert text.startswith("### Performance gate: performance regressed")
    assert "(exit code 1; the gate took 12.6 min)" in text
    assert "| Benchmark | Before | After | Ratio | Better | Judge | Threshold | Detects | Change |" in text
    assert "| `bench.B.time_x` | 1 s | 1.2 s | 1.2 | lower | wall | 10% | 5% | 🔴 regressed |" in text
    assert "| count | 1% | 1% | unchanged |" in text
    assert "**Measured again** (what each run read)" in text
    assert (
        "5 interleaved pairs of processes, each process's median: BASE 1 s, 1.01 s, 990 ms, 1 s, 1.02 s; HEAD 1.2 s"
        in text
    )
    data = json.loads(as_json(report))
    assert data["exit_code"] == 1 and data["seconds"] == 754.0
    first = data["benchmarks"][0]
    assert first["confirmation"]["test"]["p_value"] < 0.01 and first["detects"] == "5%"


def test_a_report_reads_back_from_its_json_whole():
    """What reads a kept report back (a calibration that goes on) gets every row, confirmation,
    explanation and memory change, the machine and the timings: written again, the same JSON."""
    from ect_perf.explain import Explanation
    from ect_perf.explain.compare import Side, compare_side
    from ect_perf.explain.memory import MemoryExplanation, compare_memory
    from ect_perf.gate.render import from_json

    suspect = judge_row("", "bench.B.track_items", HIGHER_WALL, m(100.0), m(80.0), unit="items/s")
    before, after = [100.0, 101.0, 99.0], [80.0, 81.0, 79.0]
    test = worse_test(before, after, "higher", 0.01)
    rows = [
        confirmed(suspect, Confirmation(tuple(before), tuple(after), test, 0.03, "interleaved calls", (0.8, 0.8, 0.8))),
        judge_row("", "bench.I.track_instructions", LOWER_COUNT, m(100.0), m(103.0), unit="instructions"),
        judge_row("", "bench.S.track_skipped", LOWER_COUNT, m(NAN), m(1.0), unit="instructions"),
    ]
    lib = "/usr/lib/libpython3.11.so.1.0"
    sides = [Side(5_000, total, {(lib, "_PyEval_EvalFrameDefault"): total}, {}, {}) for total in (100.0, 103.0)]
    explanation = Explanation("a" * 40, "b" * 40, [compare_side("stream", "server", *sides, top=5)], 2.5, [])
    site = ("/s/ect_service/servicer.py", 12, "rows = list(page)")
    memory = MemoryExplanation(
        "a" * 40,
        "b" * 40,
        [compare_memory("stream", "server", {"peak_bytes": 10_000, "sites": [[*site, 10_000, 3]]},
                        {"peak_bytes": 90_000, "sites": [[*site, 90_000, 9]]}, ("/s", "/s"))],
        0.4,
    )  # fmt: skip
    report = Report(
        "a" * 40, "b" * 40, exit_code(rows), rows, ["a note"], None, 754.0, 0, explanation, "", 180.0,
        {"bench.B.track_items": "waits"}, memory, "", "python-svc-amd25.17-6.18.44-fc-v1272",
    )  # fmt: skip
    again = from_json(as_json(report))
    assert as_json(again) == as_json(report)
    assert again.machine == "python-svc-amd25.17-6.18.44-fc-v1272" and again.explain_seconds == 180.0
    assert again.rows[0].confirmation.test.estimate == pytest.approx(0.8)
    assert again.explanation.changes[0].first == explanation.changes[0].first
    assert again.memory.changes[0].first.text == "rows = list(page)"


def test_markdown_names_environments_when_there_are_several():
    rows = compare(
        {("postgresql", "bench_x.C.track_y"): m(1.0), ("mariadb", "bench_x.C.track_y"): m(1.0)},
        {("postgresql", "bench_x.C.track_y"): m(1.0), ("mariadb", "bench_x.C.track_y"): m(1.0)},
        POLICIES,
        {},
    )
    text = markdown(Report("a", "b", exit_code(rows), rows))
    assert "`bench_x.C.track_y` [mariadb]" in text and "`bench_x.C.track_y` [postgresql]" in text


def test_a_wall_clock_improvement_says_it_was_measured_once():
    rows = [
        judge_row("", "bench.W.track_items", HIGHER_WALL, m(100.0), m(130.0), unit="items/s"),
        judge_row("", "bench.I.track_instructions", LOWER_COUNT, m(100.0), m(97.0), unit="instructions"),
    ]
    text = markdown(Report("a", "b", exit_code(rows), rows))
    assert "| wall | 10% | 5% | 🟢 improved (one run) |" in text
    assert "| count | 1% | 1% | 🟢 improved |" in text


def test_an_interleaved_confirmation_shows_each_blocks_ratio():
    suspect = judge_row("", "bench.B.track_items", HIGHER_WALL, m(100.0), m(80.0), unit="items/s")
    before, after = [[100.0, 101.0, 99.0]] * 4, [[80.0, 81.0, 79.0]] * 4
    found = interleave.confirmation(before, after, "higher", 0.01)
    row = confirmed(suspect, found)
    text = markdown(Report("main", "HEAD", exit_code([row]), [row]))
    assert row.verdict == "regressed" and found.test.estimate == pytest.approx(0.8, rel=0.01)
    assert (
        "4 blocks of both revisions' calls in turn (HEAD/BASE per block: 0.8, 0.8, 0.8, 0.8), each block's "
        "median: BASE 100 items/s, 100 items/s, 100 items/s, 100 items/s; HEAD 80 items/s"
    ) in text


def test_an_interleaved_block_that_lost_rounds_is_not_a_confirmation():
    complete = {"base": [[1.0, 1.0]], "head": [[1.0, 1.0]], "rounds": 2}
    lost = {"base": [[1.0, 1.0], [1.0]], "head": [[1.0, 1.0], [1.0, 1.0]], "rounds": 2}
    assert interleave.confirmation_of([lost], "lower", 0.01) is None
    assert interleave.confirmation_of([complete, lost], "lower", 0.01) is None  # in either look
    assert interleave.confirmation_of([complete, complete], "lower", 0.01).looks == 2


# The blocks' ratios of a real confirmation: `wall` run 9 of the calibration at d5eff6b
# (docs/calibration/d5eff6b-runs/wall-9.md), a -12% change whose eighth block read +10%.
NOISY_RATIOS = [0.889, 0.961, 0.751, 0.78, 0.879, 0.893, 0.844, 1.1]
ITEMS = "bench_throughput.StreamThroughput.track_items_per_second"


def look(ratios, rounds=2):
    """The driver's output for one row: blocks whose rounds read BASE 100 and HEAD 100 x ratio."""
    base, head = [[100.0] * rounds for _ in ratios], [[100.0 * r] * rounds for r in ratios]
    return {"base": base, "head": head, "rounds": rounds}


class Driver:
    """Stands in for benchmarks/measuring/interleaved.py with outputs given per look."""

    def __init__(self, *outputs):
        self.outputs, self.asked = list(outputs), []

    def __call__(self, rows, look_number):
        self.asked.append(([row.benchmark for row in rows], look_number))
        return self.outputs.pop(0)


def test_a_noisy_first_look_gets_a_second_that_proves_the_change():
    suspect = judge_row("", ITEMS, HIGHER_WALL, m(100.0), m(88.0), unit="items/s")
    assert suspect.verdict == "suspect"
    alpha = stats.row_alpha(2) / interleave.LOOKS
    first = interleave.confirmation_of([look(NOISY_RATIOS)], "higher", alpha)
    assert not first.test.significant and interleave.worth_a_second_look(suspect, first)
    driver = Driver(
        {"rows": {ITEMS: look(NOISY_RATIOS)}, "failed": {}},
        {"rows": {ITEMS: look([0.9, 0.87, 0.93, 0.91, 0.95, 0.86, 0.9, 0.92])}, "failed": {}},
    )
    found, left = interleave.confirm_in_looks([suspect], driver, alpha)
    assert left == [] and [n for _, n in driver.asked] == [1, 2]
    again = found[suspect.key]
    assert again.looks == 2 and len(again.ratios) == 16 and again.test.alpha == alpha
    row = confirmed(suspect, again)
    assert row.verdict == "regressed", row.reason
    assert "16 blocks of both revisions' calls in turn, in 2 looks" in markdown(Report("a", "b", 1, [row]))


def test_a_first_look_near_no_change_gets_no_second_look():
    suspect = judge_row("", ITEMS, HIGHER_WALL, m(100.0), m(93.0), unit="items/s")
    unchanged = [1.02, 0.97, 1.01, 0.99, 1.04, 0.98, 1.0, 0.96]
    driver = Driver({"rows": {ITEMS: look(unchanged)}, "failed": {}})
    found, _ = interleave.confirm_in_looks([suspect], driver, 0.005)
    assert len(driver.asked) == 1 and found[suspect.key].looks == 1
    assert confirmed(suspect, found[suspect.key]).verdict == "unchanged"


@pytest.mark.parametrize("second", [None, {"rows": {}, "failed": {ITEMS: "RuntimeError: the server died"}}])
def test_a_second_look_that_fails_fails_the_row(second):
    """Never a silent pass: a row that could not be measured again reads failed (the gate exits 2)."""
    suspect = judge_row("", ITEMS, HIGHER_WALL, m(100.0), m(88.0), unit="items/s")
    driver = Driver({"rows": {ITEMS: look(NOISY_RATIOS)}, "failed": {}}, second)
    found, _ = interleave.confirm_in_looks([suspect], driver, 0.0025)
    assert len(driver.asked) == 2 and found[suspect.key] is None
    assert confirmed(suspect, found[suspect.key]).verdict == "failed"


def test_two_looks_keep_the_chance_of_a_false_alarm_at_the_rows_level():
    """Unchanged code, simulated: blocks' log-ratios from one normal distribution. A row confirmed at
    either look counts as a false alarm; over many rows that share must stay within the row's level."""
    import random

    rng = random.Random(20261206)
    level, alarms, trials = 0.05, 0, 4000  # a large level, so that the share is measurable
    suspect = judge_row("", ITEMS, HIGHER_WALL, m(100.0), m(88.0), unit="items/s")
    for _ in range(trials):
        draws = [[math.exp(rng.gauss(0.0, 0.08)) for _ in range(8)] for _ in range(2)]
        driver = Driver(*({"rows": {ITEMS: look(draw)}, "failed": {}} for draw in draws))
        found, _ = interleave.confirm_in_looks([suspect], driver, level / interleave.LOOKS)
        alarms += found[suspect.key].test.significant
    assert alarms / trials <= level
