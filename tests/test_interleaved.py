"""The gate's interleaved confirmation, for real: two revisions' `ect_service` folders served side
by side by one environment, a benchmark's own track_ method called on each in turn
(benchmarks/measuring/interleaved.py), and the gate's reading of what it wrote (ect_perf.gate.interleave)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ect_perf.calibrate import first_item_patch, inject
from ect_perf.gate import interleave
from ect_perf.gate.judge import Comparison

ROOT = Path(__file__).resolve().parent.parent
FIRST_ITEM = "bench_latency.TimeToFirstItem.track_first_item_ms('p50')"
WORKERS = "bench_workers.WorkerProcesses.track_two_vs_one"


def run_driver(tmp_path: Path, rows: list[str], base: Path, head: Path) -> dict:
    (tmp_path / "rows.json").write_text(json.dumps(rows))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.measuring.interleaved",
            "rows.json",
            "out.json",
            "--base",
            str(base),
            "--head",
            str(head),
            "--blocks",
            "2",
            "--rounds",
            "2",
        ],
        cwd=tmp_path,
        env={**__import__("os").environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads((tmp_path / "out.json").read_text())


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Path]:
    """BASE: this checkout's ect_service; HEAD: the same, its first item 20 ms later."""
    found = {}
    for side in ("base", "head"):
        folder = tmp_path_factory.mktemp(side)
        shutil.copytree(ROOT / "ect_service", folder / "ect_service", ignore=shutil.ignore_patterns("__pycache__"))
        found[side] = folder
    patch = first_item_patch(100, {"GetUsersOnlineStream": 0.02, "StreamUsersOnline": 0.02})  # 20 ms, in s
    inject(found["head"] / "ect_service" / "servicer.py", patch, ("GetUsersOnlineStream", "StreamUsersOnline"))
    return found


def test_each_revision_serves_its_own_code_and_the_rest_are_left_for_pairs(tmp_path, sources):
    """The driver's folder holds yet another ect_service: the servers must not pick it up."""
    shutil.copytree(ROOT / "ect_service", tmp_path / "ect_service", ignore=shutil.ignore_patterns("__pycache__"))
    out = run_driver(tmp_path, [FIRST_ITEM, WORKERS], sources["base"], sources["head"])
    assert out["unsupported"] == [WORKERS] and out["failed"] == {}
    base, head = out["rows"][FIRST_ITEM]["base"], out["rows"][FIRST_ITEM]["head"]
    assert [len(block) for block in base + head] == [2] * 4  # 2 blocks of 2 rounds a side
    assert max(max(block) for block in base) < 20 <= min(min(block) for block in head)  # ms


def test_a_row_that_fails_is_reported_and_the_others_still_measured(tmp_path, sources):
    broken = "bench_latency.TimeToFirstItem.track_first_item_ms"  # its percentile missing: a TypeError
    out = run_driver(tmp_path, [broken, FIRST_ITEM], sources["base"], sources["base"])
    assert list(out["failed"]) == [broken] and "TypeError" in out["failed"][broken]
    assert len(out["rows"][FIRST_ITEM]["base"]) == 2


def suspect(benchmark: str) -> Comparison:
    return Comparison(benchmark, "", "ms", 1.0, 1.2, 1.2, "suspect", "lower", "statistics", 1.1, 0.0)


def test_a_matrix_of_database_servers_goes_to_pairs_of_processes(tmp_path):
    rows = [suspect(FIRST_ITEM)]
    assert interleave.environment_python(ROOT / "asv.databases.conf.json", tmp_path) is None
    assert interleave.measure_interleaved(
        rows, "HEAD", "HEAD", ROOT / "asv.databases.conf.json", tmp_path, tmp_path, 1
    ) == ({}, rows)


def test_revisions_with_other_packages_or_stubs_go_to_pairs_of_processes(tmp_path):
    """One environment serves both revisions only when they share its packages and stubs."""
    changed = subprocess.run(
        ["git", "-C", str(ROOT), "log", "-1", "--format=%H", "--", "pyproject.toml"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert not interleave.same_packages(ROOT, f"{changed}~1", changed)
    assert interleave.same_packages(ROOT, "HEAD", "HEAD")
    rows = [suspect(FIRST_ITEM)]
    assert interleave.measure_interleaved(
        rows, f"{changed}~1", changed, ROOT / "asv.conf.json", tmp_path, ROOT / ".asv" / "env", 1
    ) == ({}, rows)


def test_a_slow_benchmark_gets_fewer_rounds_never_fewer_than_two():
    from benchmarks.measuring.interleaved import rounds_within

    assert rounds_within(60, 8, 0.1, 8) == 8  # 0.1 s a call: 8 rounds of 8 blocks take 13 s
    assert rounds_within(60, 8, 1.0, 8) == 3  # 1 s a call: 3 rounds (48 s)
    assert rounds_within(60, 8, 5.0, 8) == 2  # never fewer than 2
