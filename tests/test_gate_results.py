"""The gate reads asv's result files itself (results format 2) and uses no private asv API and no
log text; its statistics are scipy's exact Mann-Whitney test with Bonferroni's correction."""

import json
import math
import re
from pathlib import Path

import pytest

from ect_perf.gate import stats
from ect_perf.gate.results import ResultsError, benchmark_rows, read_result_file, rows_by_env

ROOT = Path(__file__).resolve().parent.parent


def committed_result() -> Path:
    return next(iter(sorted((ROOT / "results").glob("python-svc-*/*.json"))))


def test_a_committed_result_file_reads_as_asv_names_its_rows():
    path = committed_result()
    data = json.loads(path.read_text())
    result = read_result_file(path)
    assert result.commit == data["commit_hash"] and result.env == data["env_name"]
    value = result.rows["bench_cpu.CpuPerItem.track_cpu_us_per_item('server')"].value
    assert value == data["results"]["bench_cpu.CpuPerItem.track_cpu_us_per_item"][0][0]
    assert "bench_memory.GcPressure.track_gc_collections('client', 2)" in result.rows  # two parameters
    assert "bench_throughput.UnaryBaseline.time_get_workflow" in result.rows  # none


def write_result(path: Path, results: dict, env_vars=None, commit="a" * 40) -> Path:
    columns = [
        "result",
        "params",
        "version",
        "started_at",
        "duration",
        "stats_ci_99_a",
        "stats_ci_99_b",
        "stats_q_25",
        "stats_q_75",
        "stats_number",
        "stats_repeat",
        "samples",
        "profile",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "commit_hash": commit,
                "env_name": "virtualenv-py3.11",
                "env_vars": env_vars or {},
                "result_columns": columns,
                "results": results,
                "version": 2,
            }
        )
    )
    return path


def test_failed_skipped_and_samples(tmp_path):
    samples = [None] * 11
    path = write_result(
        tmp_path / "m" / "aaaaaaaa-virtualenv-py3.11.json",
        {
            "b.C.track_x": [
                [1.5, None, float("nan")],
                [["'a'", "'b'", "'c'"]],
                "v",
                0,
                0,
                *[[0, 0, 0]] * 6,
                [[1.0, 1.5, 2.0], None, None],
            ],
            "b.C.time_y": [None, [], "v"],  # a build or setup that failed before any value
        },
    )
    del samples
    rows = read_result_file(path).rows
    assert rows["b.C.track_x('a')"].samples == (1.0, 1.5, 2.0)
    assert rows["b.C.track_x('b')"].failed and rows["b.C.track_x('c')"].missing
    assert rows["b.C.time_y"].failed


def test_each_database_environment_is_keyed_apart(tmp_path):
    for database in ("postgresql", "mariadb"):
        write_result(
            tmp_path / "m" / f"aaaaaaaa-env-{database}.json",
            {"b.C.time_y": [[2.0], [], "v"]},
            env_vars={"ECT_BENCH_DATABASE": database},
        )
    assert set(rows_by_env(tmp_path, "m", "a" * 40)) == {("postgresql", "b.C.time_y"), ("mariadb", "b.C.time_y")}
    assert rows_by_env(tmp_path, "m", "a" * 8 + "b" * 32) == {}  # same prefix, another commit


def test_an_unknown_format_is_refused(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"version": 1}))
    with pytest.raises(ResultsError, match="format 1"):
        read_result_file(path)


def test_discovered_rows_are_named_as_asv_bench_regexes_match_them():
    rows = benchmark_rows(ROOT / "results")
    assert "bench_latency.RecommendedTimeToFirstItem.track_first_item_ms('p50')" in rows
    assert "bench_throughput.UnaryBaseline.time_get_workflow" in rows


def test_no_private_asv_api_and_no_log_text():
    sources = "\n".join(path.read_text() for path in (ROOT / "ect_perf").rglob("*.py"))
    assert not re.search(r"from asv(\.\w+)* import .*\b_\w+|asv\._|from asv\._", sources)
    for text in ("No benchmarks selected", "PERFORMANCE DECREASED"):
        assert text not in sources, text
    gate = "\n".join(path.read_text() for path in (ROOT / "ect_perf" / "gate").glob("*.py"))
    assert "from asv" not in gate and "import asv" not in gate  # files and the command line only
    assert "asv.machine" not in sources  # machines are registered in asv's machine file (machine_file.py)


# Statistics.


def test_the_test_is_one_sided_in_the_worse_direction():
    base = [100.0, 101, 99, 102, 98, 100.5]
    slower = [x * 1.1 for x in base]
    assert stats.worse_test(base, slower, "lower", 0.01).significant
    assert not stats.worse_test(slower, base, "lower", 0.01).significant  # faster is not worse
    assert stats.worse_test(slower, base, "higher", 0.01).significant  # fewer items/s is
    assert stats.worse_test(base, slower, "lower", 0.01).estimate == pytest.approx(1.1)


def test_complete_separation_of_six_pairs_is_the_smallest_p_value():
    test = stats.worse_test([1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12], "lower", 0.01)
    assert test.p_value == pytest.approx(1 / math.comb(12, 6)) == pytest.approx(stats.smallest_p_value(6))


@pytest.mark.parametrize("rows", [1, 3, 9, 30])
def test_enough_pairs_that_one_inversion_still_passes_bonferroni(rows):
    pairs = stats.pairs_needed(rows)
    alpha = stats.row_alpha(rows)
    assert alpha == pytest.approx(stats.FAMILY_ALPHA / rows)
    one_inversion = stats.worse_test(
        list(range(pairs)), [pairs - 1.5] + [pairs + i for i in range(1, pairs)], "lower", alpha
    )
    assert one_inversion.significant
    assert 2 * stats.smallest_p_value(pairs - 1) >= alpha  # and no fewer pairs would do


def test_the_detectable_change_grows_with_the_spread():
    quiet, noisy = [100, 101, 99, 100, 101, 99], [100, 110, 90, 105, 95, 100]
    assert stats.detectable_change(quiet, 6, 0.01) < 0.03 < stats.detectable_change(noisy, 6, 0.01)
    assert stats.detectable_change([1.0, 1.0], 6, 0.01) is None


def test_the_blocks_test_is_one_sided_in_the_worse_direction():
    """Blocks of interleaved calls: each block's median ratio of its rounds, a t-test on their logs."""
    base = [[100.0, 102.0, 98.0, 100.0]] * 3 + [[90.0, 91.0, 89.0, 90.0]] * 3  # the machine slowed down
    slower = [[v * 1.1 for v in block] for block in base]
    ratios = stats.block_ratios(base, slower)
    assert ratios == pytest.approx([1.1] * 6)
    assert stats.blocks_worse_test(ratios, "lower", 0.01).significant  # 10% more time: worse
    assert not stats.blocks_worse_test(ratios, "higher", 0.01).significant  # 10% more items/s: not worse
    noisy = [1.1, 0.95, 1.2, 0.9, 1.05, 1.0]
    test = stats.blocks_worse_test(noisy, "lower", 0.01)
    assert not test.significant and test.estimate == pytest.approx(math.exp(sum(map(math.log, noisy)) / 6))


def test_the_blocks_detectable_change_grows_with_their_spread():
    tight, loose = [1.0, 1.01, 0.99, 1.0, 1.005, 0.995], [1.0, 1.1, 0.9, 1.05, 0.95, 1.0]
    assert stats.blocks_detectable_change(tight, 0.01) < 0.05 < stats.blocks_detectable_change(loose, 0.01)
    assert stats.blocks_detectable_change([1.0, 1.1], 0.01) is None
