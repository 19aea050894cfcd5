"""Calibrate the gate: how often it cries wolf, and whether it catches slowdowns of a known size.

    python -m ect_perf calibrate [REV] [--runs 10] [--scenarios aa,instructions,wall] [--json F] [--markdown F]

In a temporary clone of the repository (the checkout, its results/ and html/ are never touched),
one commit per scenario goes on top of REV, each a child of REV:

  aa            an empty commit: the same service code, so any alarm is a false one;
  instructions  `user_item()` redefined to burn about P% more CPU instructions per streamed item
                (P% of the stream server's count at REV, or at its newest counted ancestor);
  wall          `user_item()` redefined to sleep every 100th item for W% of the time the last 100
                took: about W% more wall-clock time on any host, no CPU work beyond one call per item.

Then the gate compares REV with each commit `--runs` times, each scenario with its own benchmark
selection. A false alarm is an aa run exiting 1; a detection is an injected run exiting 1 with a
benchmark of the scenario regressed; runs exiting 2 or 3 are errors. Exit code: 0 when false
alarms <= --max-false-alarms and every detection rate meets its minimum, 1 otherwise, 2 on errors.

The asv environments are the checkout's (by its asv.conf.json), so builds stay cached there: do not
run another asv on them meanwhile. Unless the environment sets ECT_BENCH_INSTRUCTION_CALLS, only the
stream's instructions are counted (bench_instructions.py; the other calls' benchmarks skip): the
scenarios judge the stream, and the count takes a third of the time.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from asv.results import iter_results_for_machine
from asv.util import load_json

from ect_perf import INSTRUCTIONS_MACHINE
from ect_perf.asv_results import values
from ect_perf.gate import Report, _rev_parse, run_gate
from ect_perf.hosts import host_machine

SCENARIOS = ("aa", "instructions", "wall")
SERVICER = Path("ect_service") / "servicer.py"

# The instructions scenario is sized against the stream server's instructions per item as counted
# at REV (or at its newest counted ancestor) in the checkout's results/valgrind, so "+2%" stays 2%
# as the service gets faster (121,500 at 400cb57, 109,300 at 89ee532). What the patch adds per item
# are approximations: the wrapper's call (WRAPPER_INSTRUCTIONS) and each turn of
# `for _ in range(K): pass` (LOOP_INSTRUCTIONS). Counted under cachegrind around user_item, 20,000
# calls: the wrapper 1,313, 20 turns 2,455 more, 100 turns 10,103 more. In the server, 20 turns
# added 3,480 (400cb57, 2.87% of its count, calibrate --runs 10), where these figures predict
# 3,770: scaled to that, about 1,200 and 113.
STREAM_COUNT = "bench_instructions.StreamInstructions.track_instructions_per_item"
WRAPPER_INSTRUCTIONS = 1_200
LOOP_INSTRUCTIONS = 113
SLEEP_EVERY = 100  # items between two sleeps of the wall scenario
NEW_STREAM_GAP = 0.1  # seconds: a longer wait between two sleeps is a new stream, not a slow one
INSTRUCTION_CALLS = "ECT_BENCH_INSTRUCTION_CALLS"  # which calls bench_instructions.py counts

GIT_USER = ["-c", "user.name=ect_perf calibrate", "-c", "user.email=calibrate@example.invalid",
            "-c", "commit.gpgsign=false"]


class CalibrationError(RuntimeError):
    """A calibration that cannot start (no user_item to patch, a git failure); one-line message."""


@dataclass(frozen=True)
class Reference:
    """What the instructions scenario is sized against: the stream server's instructions per item,
    counted at `commit`."""

    per_item: float
    commit: str


def loop_iterations(percent: float, per_item: float) -> int:
    """Loop turns that, with the wrapper's own cost, add about `percent`% of `per_item`, the server's
    instructions per item (rounded half up; at least 1, so below about 1% the wrapper alone
    decides): 2% of 109,300 = 2,186 = 1,200 + 9 turns of 113 (2,217: +2.03%)."""
    wanted = percent / 100 * per_item - WRAPPER_INSTRUCTIONS
    return max(1, int(wanted / LOOP_INSTRUCTIONS + 0.5))


def counted_reference(config_path: Path, rev_hash: str) -> Reference:
    """The stream server's count at REV, else at its newest counted ancestor, from the checkout's
    committed results (asv machine INSTRUCTIONS_MACHINE); CalibrationError when none of them is counted."""
    root = config_path.resolve().parent
    config = load_json(str(config_path), js_comments=True)
    results_dir = root / config.get("results_dir", "results")
    counted = {}
    if (results_dir / INSTRUCTIONS_MACHINE / "machine.json").is_file():
        for result in iter_results_for_machine(str(results_dir), INSTRUCTIONS_MACHINE):
            per_item = values(result, STREAM_COUNT).get(("server",))
            if per_item:
                counted[result.commit_hash] = per_item
    for commit in _git(root, "rev-list", rev_hash).split():
        if commit in counted:
            return Reference(counted[commit], commit)
    raise CalibrationError(f"no instruction count of {rev_hash[:8]} or of any commit before it in "
                           f"{results_dir.name}/{INSTRUCTIONS_MACHINE}/ to size the instructions scenario against: "
                           f"count one (asv run --machine {INSTRUCTIONS_MACHINE} --bench ^bench_instructions "
                           f"{rev_hash[:8]}^!) or leave the scenario out")


def instructions_patch(percent: float, per_item: float) -> str:
    """Redefines user_item: the stream and buffered calls look it up as a module global at each
    call, so the redefinition is what they run. The extra call costs a few hundred instructions."""
    turns = loop_iterations(percent, per_item)
    return f'''

# ect_perf calibrate: about {percent:g}% more CPU instructions per item ({turns} empty loop turns).
_calibration_user_item = user_item


def user_item(row):
    for _ in range({turns}):
        pass
    return _calibration_user_item(row)
'''


def wall_patch(percent: float) -> str:
    """Redefines user_item to block the server now and then: wall-clock time only. Every 100th item
    it sleeps `percent`% of the time the last 100 items took, so it adds about `percent`% whatever
    the host's speed (a fixed sleep sized for 50 µs per item added 20-25% on a host streaming at
    30 µs per item). time.sleep overshoots short sleeps (0.3 ms asked, more slept: +10% asked read
    +14-16%), so what it overslept is owed back from the next sleeps. A gap of more than
    NEW_STREAM_GAP seconds is a new stream: no sleep."""
    return f'''

# ect_perf calibrate: about {percent:g}% more wall-clock time per item, no CPU work: every
# {SLEEP_EVERY}th item, sleep {percent:g}% of the time the last {SLEEP_EVERY} items took, less what
# earlier sleeps overslept.
import itertools as _calibration_itertools
import time as _calibration_time

_calibration_user_item = user_item
_calibration_items = _calibration_itertools.count(1)
_calibration_since = [_calibration_time.perf_counter()]
_calibration_owed = [0.0]


def user_item(row):
    if next(_calibration_items) % {SLEEP_EVERY} == 0:
        start = _calibration_time.perf_counter()
        elapsed = start - _calibration_since[0]
        if elapsed < {NEW_STREAM_GAP}:
            _calibration_owed[0] += elapsed * {percent / 100:g}
            if _calibration_owed[0] > 0:
                _calibration_time.sleep(_calibration_owed[0])
                _calibration_owed[0] -= _calibration_time.perf_counter() - start
        _calibration_since[0] = _calibration_time.perf_counter()
    return _calibration_user_item(row)
'''


def inject(servicer: Path, patch: str) -> None:
    source = servicer.read_text()
    if "def user_item(" not in source:
        raise CalibrationError(f"{servicer} has no `def user_item(`: nothing to inject a slowdown into")
    servicer.write_text(source.rstrip("\n") + "\n" + patch)


@dataclass(frozen=True)
class Options:
    rev: str = "HEAD"
    runs: int = 10
    scenarios: tuple[str, ...] = SCENARIOS
    bench: dict[str, str] = field(default_factory=lambda: {
        "aa": "StreamInstructions|StreamThroughput", "instructions": "StreamInstructions",
        "wall": "StreamThroughput"})
    instructions_percent: float = 5.0
    wall_percent: float = 10.0
    max_false_alarms: int = 0
    min_detection: dict[str, float] = field(default_factory=lambda: {"instructions": 1.0, "wall": 0.8})
    machine: str = field(default_factory=host_machine)  # this host's wall-clock machine
    config_path: Path = Path("asv.conf.json")
    reference: Reference | None = None  # set by calibrate() when the instructions scenario runs

    def turns(self) -> int:
        return loop_iterations(self.instructions_percent, self.reference.per_item)

    def patch(self, scenario: str) -> str | None:
        if scenario == "instructions":
            return instructions_patch(self.instructions_percent, self.reference.per_item)
        if scenario == "wall":
            return wall_patch(self.wall_percent)
        return None

    def injected(self, scenario: str) -> str:
        if scenario == "instructions":
            return (f"+{self.instructions_percent:g}% instructions/item ({self.turns()} loop turns; "
                    f"{self.reference.per_item:,.0f} counted at {self.reference.commit[:8]})")
        if scenario == "wall":
            return f"+{self.wall_percent:g}% wall time (sleeps {self.wall_percent:g}% of each {SLEEP_EVERY} items' time)"
        return "nothing (A/A)"


@dataclass
class Tally:
    """The gate runs of one scenario."""

    scenario: str
    bench: str
    injected: bool
    codes: list[int] = field(default_factory=list)
    hits: int = 0  # aa: false alarms; injected: detections
    ratios: dict[str, list[float]] = field(default_factory=dict)

    def add(self, report: Report) -> None:
        self.codes.append(report.code)
        regressed = any(row.verdict == "regressed" and re.search(self.bench, row.benchmark) for row in report.rows)
        self.hits += int(report.code == 1 and (regressed or not self.injected))
        for row in report.rows:
            if row.ratio is not None:
                self.ratios.setdefault(row.benchmark, []).append(row.ratio)

    @property
    def errors(self) -> int:
        return sum(code not in (0, 1) for code in self.codes)

    def rate(self) -> str:
        return f"{'detected' if self.injected else 'false alarms'} {self.hits}/{len(self.codes)}"

    def medians(self) -> dict[str, float]:
        return {name: statistics.median(values) for name, values in sorted(self.ratios.items())}


@dataclass
class Calibration:
    options: Options
    rev_hash: str
    commits: dict[str, str]
    tallies: list[Tally]

    def passed(self, tally: Tally) -> bool:
        if tally.injected:
            return tally.hits >= self.options.min_detection[tally.scenario] * len(tally.codes)
        return tally.hits <= self.options.max_false_alarms

    def goal(self, tally: Tally) -> str:
        if tally.injected:
            return f"≥ {self.options.min_detection[tally.scenario]:.0%}"
        return f"≤ {self.options.max_false_alarms}"

    @property
    def code(self) -> int:
        if any(tally.errors for tally in self.tallies):
            return 2
        return 0 if all(self.passed(tally) for tally in self.tallies) else 1


def calibrate(options: Options) -> Calibration:
    """Raises BadRevision, PolicyError (the clone's verdicts.json) and CalibrationError."""
    root = options.config_path.resolve().parent
    rev_hash = _rev_parse(root, options.rev)
    if "instructions" in options.scenarios:
        options = replace(options, reference=counted_reference(options.config_path, rev_hash))
    env_dir = _env_dir(options.config_path)
    with tempfile.TemporaryDirectory(prefix="ect-calibrate-") as scratch:
        clone = Path(scratch) / "repo"
        _clone(root, rev_hash, clone)
        config = clone / options.config_path.name
        if not config.is_file():
            raise CalibrationError(f"{options.rev} has no committed {config.name}")
        commits = {name: _commit(clone, rev_hash, name, options.patch(name)) for name in options.scenarios}
        _ensure_machine(options.machine, clone)
        with _environment(INSTRUCTION_CALLS, os.environ.get(INSTRUCTION_CALLS) or "stream"):
            tallies = [_run_scenario(options, name, rev_hash, commits[name], config, env_dir)
                       for name in options.scenarios]
    return Calibration(options, rev_hash, commits, tallies)


def _run_scenario(options: Options, name: str, rev_hash: str, commit: str, config: Path, env_dir: Path) -> Tally:
    tally = Tally(name, options.bench[name], injected=name != "aa")
    for run in range(options.runs):
        report = run_gate(rev_hash, commit, options.machine, tally.bench, config, env_dir=env_dir)
        tally.add(report)
        print(f"ect_perf calibrate: {name} run {run + 1}/{options.runs}: gate exit {report.code}", file=sys.stderr)
    return tally


@contextmanager
def _environment(name: str, value: str):
    """Set a variable for the asv processes started meanwhile (they inherit os.environ)."""
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            del os.environ[name]
        else:
            os.environ[name] = old


def _env_dir(config_path: Path) -> Path:
    """The checkout's asv environments, where the gate would build anyway: builds stay cached."""
    config = load_json(str(config_path), js_comments=True)
    return config_path.resolve().parent / config.get("env_dir", "env")


def _git(cwd: Path | None, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise CalibrationError(f"git {' '.join(args)} failed: {last}")
    return done.stdout.strip()


def _clone(root: Path, rev_hash: str, clone: Path) -> None:
    # --shared borrows the checkout's objects read-only, so REV resolves even off every branch.
    _git(None, "clone", "-q", "--shared", "--no-checkout", str(root), str(clone))
    _git(clone, "checkout", "-q", "--detach", rev_hash)


def _commit(clone: Path, rev_hash: str, scenario: str, patch: str | None) -> str:
    """A commit on REV (not on another scenario's commit); --allow-empty for the A/A one."""
    _git(clone, "checkout", "-q", "--detach", rev_hash)
    if patch:
        inject(clone / SERVICER, patch)
    _git(clone, *GIT_USER, "commit", "-q", "--no-verify", "--allow-empty", "-a",
         "-m", f"ect_perf calibrate: {scenario}")
    return _git(clone, "rev-parse", "HEAD")


def _ensure_machine(machine: str, clone: Path) -> None:
    """The gate needs the machine registered (~/.asv-machine.json); register it as the clone's
    `python -m ect_perf machine` would."""
    from asv.machine import MachineCollection
    from asv.util import UserError

    try:
        MachineCollection.load(machine)
    except UserError:
        done = subprocess.run([sys.executable, "-m", "ect_perf", "machine", "--name", machine], cwd=clone,
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise CalibrationError(f"could not register asv machine {machine!r}: "
                                   f"{(done.stderr or done.stdout).strip()}") from None


def _cell(text: str) -> str:
    return text.replace("|", "\\|")  # a regex's | would split a Markdown table cell


def markdown(calibration: Calibration) -> str:
    options = calibration.options
    verdict = {0: "pass", 1: "FAIL", 2: "ERRORS"}[calibration.code]
    lines = [
        f"### Gate calibration at `{calibration.rev_hash[:8]}`: {verdict} (exit code {calibration.code})",
        "",
        f"{options.runs} gate run(s) per scenario, REV against a commit on top of it.",
        "",
        "| Scenario | Injected | Benchmarks | Runs | Exit 0 | Exit 1 | Other | Rate | Goal | Median ratio |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for tally in calibration.tallies:
        other = ", ".join(f"exit {code}" for code in tally.codes if code not in (0, 1)) or "0"
        medians = "; ".join(f"`{name.split('.', 1)[-1]}` {ratio:.3g}" for name, ratio in tally.medians().items())
        lines.append(
            f"| {tally.scenario} | {options.injected(tally.scenario)} | `{_cell(tally.bench)}` | {len(tally.codes)} "
            f"| {tally.codes.count(0)} | {tally.codes.count(1)} | {_cell(other)} | {tally.rate()} "
            f"| {calibration.goal(tally)} | {_cell(medians) or 'n/a'} |")
    lines += ["", "A false alarm is an A/A run exiting 1; a detection, an injected run exiting 1 with one of its "
              "benchmarks regressed; other exits are errors. Median ratio: after/before over the runs."]
    return "\n".join(lines)


def as_json(calibration: Calibration) -> str:
    options = calibration.options
    return json.dumps({
        "rev": options.rev, "rev_hash": calibration.rev_hash, "runs": options.runs,
        "exit_code": calibration.code, "commits": calibration.commits,
        "injected": {"instructions_percent": options.instructions_percent,
                     **({"loop_iterations": options.turns(), "server_instructions_per_item": options.reference.per_item,
                         "counted_at": options.reference.commit} if options.reference else {}),
                     "wall_percent": options.wall_percent,
                     "sleep_every_items": SLEEP_EVERY},
        "scenarios": [{
            "scenario": tally.scenario, "bench": tally.bench, "injected": tally.injected,
            "exit_codes": tally.codes, "errors": tally.errors,
            ("detected" if tally.injected else "false_alarms"): tally.hits,
            "rate": tally.rate(), "goal": calibration.goal(tally), "passed": calibration.passed(tally),
            "median_ratios": tally.medians(),
        } for tally in calibration.tallies],
    }, indent=2)
