"""Measuring suspects again call by call: both revisions' servers at once, their calls in turn.

A shared machine's speed drifts by tens of percent within seconds, so two server processes run one
after the other differ by more than the changes the gate must catch. Here BASE's and HEAD's
`ect_service` (extracted from git) are served side by side by the asv environment's packages, and
`benchmarks/measuring/interleaved.py` calls each suspect's own track_ method on one and then the other, the
order alternating. A block starts both servers afresh; its replicate is the median ratio of its
rounds, and a one-sided t-test on the blocks' log-ratios decides (stats.blocks_worse_test), at
half the row's level; a row left unproven but still beyond half its threshold gets a second look,
as many blocks again, tested with the first at the other half.

It applies when both revisions run on the same packages and stubs (no change to protos/,
pyproject.toml or asv.conf.json between them), on the SQLite configuration (one environment), and
to track_ benchmarks of ServerBenchmark classes; every other suspect is measured again in pairs of
processes (confirm.py).
"""

from __future__ import annotations

import functools
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
from pathlib import Path

from ect_perf.gate.judge import Comparison, Confirmation, estimate_beyond_screen
from ect_perf.gate.run_asv import env_dir as asv_env_dir
from ect_perf.gate.run_asv import load_config_json
from ect_perf.gate.stats import block_ratios, blocks_detectable_change, blocks_worse_test, row_alpha

BLOCKS, ROUNDS = 8, 8  # rounds a block at most: a slow benchmark gets fewer (ROW_SECONDS)
# A row's blocks are measured at most twice, each look tested at half the row's level (Bonferroni
# over the looks): a second look cannot raise the chance of a false alarm.
LOOKS = 2
ROW_SECONDS = 60  # about how long one suspect's blocks may take
# What both revisions must share for one environment to serve both: its packages and the stubs.
SHARED = ("protos", "pyproject.toml", "asv.conf.json")


def environment_python(config_path: Path, env_dir: Path | None) -> Path | None:
    """The python of the configuration's one asv environment; None when there is not exactly one
    (a matrix of database servers, or no environment built yet)."""
    config = load_config_json(config_path)
    if {"env", "env_nobuild"} & set(config.get("matrix", {})):
        return None
    envs = Path(env_dir or asv_env_dir(config_path))
    found = sorted(envs.glob("*/bin/python"))
    return found[0] if len(found) == 1 else None


def same_packages(root: Path, base: str, head: str) -> bool:
    done = subprocess.run(["git", "-C", str(root), "diff", "--quiet", base, head, "--", *SHARED])
    return done.returncode == 0


def extract_service(root: Path, commit: str, dest: Path) -> Path:
    """The commit's ect_service package, from git, into dest/ect_service."""
    archive = subprocess.run(
        ["git", "-C", str(root), "archive", "--format=tar", commit, "ect_service"], capture_output=True, check=True
    ).stdout
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    return dest


def measure_interleaved(
    suspects: list[Comparison],
    base: str,
    head: str,
    config_path: Path,
    scratch: Path,
    env_dir: Path | None,
    rows_tested: int,
    blocks: int = BLOCKS,
    rounds: int = ROUNDS,
    looks: int = LOOKS,
) -> tuple[dict[tuple[str, str], Confirmation | None], list[Comparison]]:
    """({row key: confirmation} of the rows measured so (None: a row that failed), [rows left for
    pairs of processes]). A row that its first look leaves not significant although beyond half its
    threshold gets a second look (with looks=2): as many blocks again, tested with the first look's."""
    root = config_path.resolve().parent
    python = environment_python(config_path, env_dir)
    if python is None or not suspects or not same_packages(root, base, head):
        return {}, suspects
    work = scratch / "interleaved"
    sources = {side: extract_service(root, commit, work / side) for side, commit in (("base", base), ("head", head))}
    drive = functools.partial(_drive, python, root, work, sources, blocks, rounds)
    return confirm_in_looks(suspects, drive, row_alpha(rows_tested) / looks, looks) or ({}, suspects)


def confirm_in_looks(
    suspects: list[Comparison], drive, alpha: float, looks: int = LOOKS
) -> tuple[dict[tuple[str, str], Confirmation | None], list[Comparison]] | None:
    """measure_interleaved's answer from `drive(rows, look)` (the driver's output, or None when it
    failed: then None), each of at most `looks` looks tested at `alpha`."""
    measured = drive(suspects, 1)
    if measured is None:
        return None
    found: dict[tuple[str, str], Confirmation | None] = {}
    first: dict[tuple[str, str], dict] = {}  # each row's first look, as the driver wrote it
    left = []
    for row in suspects:
        values = measured["rows"].get(row.benchmark)
        if row.benchmark in measured["failed"]:
            found[row.key] = None
        elif values is None:
            left.append(row)
        else:
            first[row.key] = values
            found[row.key] = confirmation_of([values], row.better, alpha)
    again = [row for row in suspects if looks > 1 and worth_a_second_look(row, found.get(row.key))]
    if again:
        more = drive(again, 2) or {"rows": {}}
        for row in again:
            values = more["rows"].get(row.benchmark)
            # A second look that failed is a failure to measure, as a first would be: never a silent pass.
            found[row.key] = None if values is None else confirmation_of([first[row.key], values], row.better, alpha)
    return found, left


def worth_a_second_look(row: Comparison, first: Confirmation | None) -> bool:
    """Not significant at the first look, though its estimate is still beyond half the threshold:
    on a noisy host 8 blocks can leave a real change unproven (p = 0.0096 for a -12% change, one block
    of eight reading +10%), and an unchanged row's estimate rarely lies that far out."""
    return first is not None and not first.test.significant and estimate_beyond_screen(row, first.test)


def _drive(
    python: Path, root: Path, work: Path, sources: dict[str, Path], blocks: int, rounds: int, rows, look: int
) -> dict | None:
    """benchmarks/measuring/interleaved.py run on `rows`: its parsed output, or None if it failed."""
    rows_file, out_file = work / f"rows-{look}.json", work / f"out-{look}.json"
    rows_file.write_text(json.dumps(sorted({row.benchmark for row in rows})))
    what = "both revisions' calls in turn" if look == 1 else "a second look"
    print(
        f"ect_perf gate: measuring {len(rows)} suspect(s) again, {what} "
        f"({blocks} blocks of up to {rounds} rounds, about {ROW_SECONDS} s a suspect)",
        file=sys.stderr,
    )
    env = {**os.environ, "PYTHONPATH": str(root)}  # the checkout's benchmarks: what measures stays fixed
    done = subprocess.run(
        [
            str(python),
            "-m",
            "benchmarks.measuring.interleaved",
            str(rows_file),
            str(out_file),
            "--base",
            str(sources["base"]),
            "--head",
            str(sources["head"]),
            "--blocks",
            str(blocks),
            "--rounds",
            str(rounds),
            "--seconds",
            str(ROW_SECONDS),
        ],
        cwd=work,
        env=env,
        stdout=sys.stderr,
        stderr=subprocess.STDOUT,
    )
    if done.returncode != 0 or not out_file.is_file():
        return None
    return json.loads(out_file.read_text())


def confirmation_of(looks: list[dict], better: str, alpha: float) -> Confirmation | None:
    """The blocks' test over every look's blocks (each look as the driver wrote a row: "base",
    "head", "rounds"); None when a block lost rounds (a call failed part-way)."""
    before, after = [], []
    for values in looks:
        blocks = [*values["base"], *values["head"]]
        if not values["base"] or any(len(block) != values["rounds"] for block in blocks):
            return None
        before += values["base"]
        after += values["head"]
    return confirmation(before, after, better, alpha, looks=len(looks))


def confirmation(
    before: list[list[float]], after: list[list[float]], better: str, alpha: float, looks: int = 1
) -> Confirmation:
    """The blocks' test on complete blocks (each a list of its rounds' values)."""
    ratios = block_ratios(before, after)
    return Confirmation(
        _medians(before),
        _medians(after),
        blocks_worse_test(ratios, better, alpha),
        blocks_detectable_change(ratios, alpha),
        design="interleaved calls",
        ratios=tuple(ratios),
        looks=looks,
    )


def _medians(blocks: list[list[float]]) -> tuple[float, ...]:
    return tuple(statistics.median(block) for block in blocks)
