"""The calibration's injected slowdowns, without asv: the patched servicer imports, its redefined
`user_item` returns the same message, the amounts are as documented; scenario commits and the
command line. (The real calibration runs in test_calibrate_smoke.py, slow.)"""

import collections
import importlib.util
import json
import subprocess
import sys
import types
from datetime import datetime
from pathlib import Path

import pytest

from ect_perf import calibrate
from ect_perf.calibrate import (
    CalibrationError, inject, instructions_patch, loop_iterations, wall_patch,
)
from ect_service import servicer

ROOT = Path(__file__).resolve().parent.parent
# Like a SQLAlchemy Row of queries.ONLINE_USERS: by attribute and by position.
ROW = collections.namedtuple("Row", "id name last_active")("user-1", "Ada", datetime(2024, 5, 1, 12, 30, 15, 250_000))


def patched_servicer(tmp_path: Path, patch: str, name: str):
    """This checkout's servicer.py with the patch appended, imported as a module of its own."""
    path = tmp_path / "servicer.py"
    path.write_text((ROOT / calibrate.SERVICER).read_text())
    inject(path, patch)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_amounts_are_as_documented():
    # 5% of 121,500 instructions per item, less the wrapper's 1,200, at 113 a loop turn: 43.1.
    assert loop_iterations(5, 121_500) == 43
    assert loop_iterations(2, 121_500) == 11  # the goal: a 2% change caught
    assert loop_iterations(10, 121_500) == 97
    assert loop_iterations(2, 109_300) == 9  # a faster service: fewer turns make the same 2%
    assert loop_iterations(0.01, 121_500) == 1  # below the wrapper's own cost


def first_counted(rev: str) -> tuple[str, float]:
    """The first commit of `git rev-list rev` with a committed instruction count, read from its file."""
    files = {path.name[:8]: path for path in (ROOT / "results" / "valgrind").glob("*-*.json")}
    for commit in git(ROOT, "rev-list", rev).split():
        if commit[:8] in files:
            result = json.loads(files[commit[:8]].read_text())["results"][calibrate.STREAM_COUNT]
            return commit, result[0][result[1][0].index("'server'")]
    raise AssertionError(f"no commit before {rev} is counted")


@pytest.mark.parametrize("rev", ["HEAD", "HEAD~1"])
def test_the_reference_is_the_newest_count_at_or_before_rev(rev):
    commit, per_item = first_counted(rev)
    reference = calibrate.counted_reference(ROOT / "asv.conf.json", git(ROOT, "rev-parse", rev))
    assert (reference.commit, reference.per_item) == (commit, pytest.approx(per_item))


def test_a_revision_without_any_count_is_refused(tmp_path):
    (tmp_path / "asv.conf.json").write_text((ROOT / "asv.conf.json").read_text())
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, *calibrate.GIT_USER, "commit", "-qm", "no results")
    rev = git(tmp_path, "rev-parse", "HEAD")
    with pytest.raises(CalibrationError, match=f"no instruction count of {rev[:8]} or of any commit before it"):
        calibrate.counted_reference(tmp_path / "asv.conf.json", rev)


def test_instructions_patch_returns_the_same_message(tmp_path):
    module = patched_servicer(tmp_path, instructions_patch(5, 121_500), "calibration_instructions_servicer")
    assert module.user_item is not module._calibration_user_item  # redefined
    assert module.user_item(ROW) == servicer.user_item(ROW)
    assert f"range({loop_iterations(5, 121_500)})" in (tmp_path / "servicer.py").read_text()


class FakeClock:
    """A clock the test advances; sleep() advances it by what was asked plus an overshoot, as
    time.sleep does for short sleeps."""

    def __init__(self, overshoot: float) -> None:
        self.now, self.overshoot, self.slept = 0.0, overshoot, 0.0

    def perf_counter(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds + self.overshoot
        self.slept += seconds + self.overshoot


def stream(module, clock: FakeClock, items: int, seconds_per_item: float) -> float:
    """The time `items` take without the sleeps."""
    for _ in range(items):
        clock.now += seconds_per_item
        assert module.user_item(ROW) == servicer.user_item(ROW)
    return items * seconds_per_item


@pytest.mark.parametrize("percent", [10, 20])
@pytest.mark.parametrize("overshoot", [0.0, 50e-6])
def test_wall_patch_adds_the_percentage_of_the_items_own_time(tmp_path, percent, overshoot):
    """At 30 µs per item, 10% is 0.3 ms per 100 items; a sleep that overshoots by 50 µs would add
    17%, so the overshoot is owed back."""
    module = patched_servicer(tmp_path, wall_patch(percent), f"calibration_wall_{percent}_{overshoot}")
    clock = module._calibration_time = FakeClock(overshoot)
    module._calibration_since[0] = 0.0
    busy = stream(module, clock, 10_000, 30e-6)
    assert clock.slept == pytest.approx(busy * percent / 100, abs=overshoot + 1e-9)


def test_wall_patch_does_not_sleep_after_a_pause_between_streams(tmp_path):
    module = patched_servicer(tmp_path, wall_patch(10), "calibration_wall_gap")
    clock = module._calibration_time = FakeClock(0.0)
    module._calibration_since[0] = 0.0
    stream(module, clock, 300, 0.01)  # 100 items take 1 s: each 100th item starts a new stream
    assert clock.slept == 0


def _global_names(code) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


@pytest.mark.parametrize("method", ["GetUsersOnlineStream", "GetUsersOnline"])
def test_the_calls_look_user_item_up_at_run_time(method):
    """Why a redefinition appended to the module takes effect: the calls name the global."""
    assert "user_item" in _global_names(getattr(servicer.WorkflowServicer, method).__code__)


def test_a_servicer_without_user_item_is_refused(tmp_path):
    path = tmp_path / "servicer.py"
    path.write_text("def item_of(row):\n    return row\n")
    with pytest.raises(CalibrationError, match=r"has no `def user_item\(`"):
        inject(path, instructions_patch(5, 121_500))
    assert path.read_text() == "def item_of(row):\n    return row\n"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def test_each_scenario_is_one_commit_on_rev_in_a_clone(tmp_path):
    origin = tmp_path / "origin"
    (origin / "ect_service").mkdir(parents=True)
    (origin / "ect_service" / "servicer.py").write_text("def user_item(row):\n    return row\n")
    git(origin, "init", "-q")
    git(origin, "add", ".")
    git(origin, *calibrate.GIT_USER, "commit", "-qm", "base")
    rev = git(origin, "rev-parse", "HEAD")
    clone = tmp_path / "clone"
    calibrate._clone(origin, rev, clone)
    commits = {name: calibrate._commit(clone, rev, name, patch) for name, patch in
               [("aa", None), ("instructions", instructions_patch(5, 121_500)), ("wall", wall_patch(10))]}
    for name, commit in commits.items():
        assert git(clone, "rev-parse", f"{commit}^") == rev, name
    assert git(clone, "diff", "--name-only", rev, commits["aa"]) == ""
    assert git(clone, "diff", "--name-only", rev, commits["instructions"]) == "ect_service/servicer.py"
    assert "time.sleep" not in git(clone, "show", f"{commits['instructions']}:ect_service/servicer.py")
    assert "_calibration_time.sleep" in git(clone, "show", f"{commits['wall']}:ect_service/servicer.py")
    assert git(origin, "status", "--porcelain") == "" and git(origin, "rev-parse", "HEAD") == rev


@pytest.mark.parametrize("args, message", [
    (["--runs", "0"], "--runs: must be at least 1"),
    (["--scenarios", "aa,bogus"], "--scenarios: choose from aa, instructions, wall"),
    (["--min-detection-wall", "1.5"], "--min-detection-wall: must be between 0 and 1"),
    (["--instructions-percent", "0"], "--instructions-percent: must be more than 0"),
    (["--aa-bench", "("], "--aa-bench: not a regular expression"),
    (["no-such-revision"], "ect_perf calibrate: unknown revision 'no-such-revision'"),
])
def test_bad_arguments_are_one_line_and_exit_2(args, message):
    done = subprocess.run([sys.executable, "-m", "ect_perf", "calibrate", *args], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr


def gate_report(code: int, verdict: str = "unchanged", ratio: float = 1.0,
                name: str = "bench_instructions.StreamInstructions.track_instructions_per_item"):
    from ect_perf.gate import Comparison, Report

    row = Comparison(name, "instructions", 100.0, 100.0 * ratio, ratio, verdict, "lower", "factor", 1.015, 0.0)
    return Report("rev", "commit", code, [row])


def calibration(aa_codes, instructions_runs, **options):
    from ect_perf.calibrate import Calibration, Options, Reference, Tally

    aa = Tally("aa", "StreamInstructions|StreamThroughput", injected=False)
    for code in aa_codes:
        aa.add(gate_report(code, "regressed" if code == 1 else "unchanged", 1.0))
    injected = Tally("instructions", "StreamInstructions", injected=True)
    for code, verdict, ratio in instructions_runs:
        injected.add(gate_report(code, verdict, ratio))
    opts = Options(runs=len(aa_codes), scenarios=("aa", "instructions"), reference=Reference(121_500, "c" * 40),
                   **options)
    return Calibration(opts, "0123456789abcdef", {"aa": "a" * 40, "instructions": "b" * 40}, [aa, injected])


def test_tallies_and_exit_codes():
    caught = [(1, "regressed", 1.05)] * 2
    assert calibration([0, 0], caught).code == 0
    assert calibration([0, 1], caught).code == 1  # one false alarm, none allowed
    assert calibration([0, 1], caught, max_false_alarms=1).code == 0
    assert calibration([0, 0], [(1, "regressed", 1.05), (0, "unchanged", 1.01)]).code == 1  # 50% < 100%
    assert calibration([0, 0], [(1, "regressed", 1.05), (0, "unchanged", 1.01)],
                       min_detection={"instructions": 0.5, "wall": 0.8}).code == 0
    assert calibration([0, 0], [(1, "improved", 1.05)] * 2).code == 1  # exit 1 without its benchmark regressed
    assert calibration([0, 2], caught).code == 2  # errors outrank everything


def test_calibration_report():
    result = calibration([0, 3], [(1, "regressed", 1.04), (1, "regressed", 1.06)])
    text = calibrate.markdown(result)
    assert text.startswith("### Gate calibration at `01234567`: ERRORS (exit code 2)")
    assert ("| aa | nothing (A/A) | `StreamInstructions\\|StreamThroughput` | 2 | 1 | 0 | exit 3 "
            "| false alarms 0/2 | ≤ 0 | `StreamInstructions.track_instructions_per_item` 1 |") in text
    assert "| instructions | +5% instructions/item (43 loop turns; 121,500 counted at cccccccc) |" in text
    assert "| detected 2/2 | ≥ 100% | `StreamInstructions.track_instructions_per_item` 1.05 |" in text
    data = json.loads(calibrate.as_json(result))
    assert data["exit_code"] == 2 and data["injected"]["loop_iterations"] == 43
    assert (data["injected"]["server_instructions_per_item"], data["injected"]["counted_at"]) == (121_500, "c" * 40)
    aa, injected = data["scenarios"]
    assert (aa["exit_codes"], aa["false_alarms"], aa["errors"]) == ([0, 3], 0, 1)
    assert (injected["detected"], injected["passed"]) == (2, True)
    assert injected["median_ratios"] == {
        "bench_instructions.StreamInstructions.track_instructions_per_item": pytest.approx(1.05)}
