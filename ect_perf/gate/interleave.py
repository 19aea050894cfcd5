"""Measuring suspects again call by call: both revisions' servers at once, their calls in turn.

A shared machine's speed drifts by tens of percent within seconds, so two server processes run one
after the other differ by more than the changes the gate must catch. Here BASE's and HEAD's
`ect_service` (extracted from git) are served side by side by the asv environment's packages, and
`benchmarks/measuring/interleaved.py` calls each suspect's own track_ method on one and then the other, the
order alternating. A block starts both servers afresh; its replicate is the median ratio of its
rounds, and a one-sided t-test on the blocks' log-ratios decides (stats.blocks_worse_test).

It applies when both revisions run on the same packages and stubs (no change to protos/,
pyproject.toml or asv.conf.json between them), on the SQLite configuration (one environment), and
to track_ benchmarks of ServerBenchmark classes; every other suspect is measured again in pairs of
processes (confirm.py).
"""

from __future__ import annotations

import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
from pathlib import Path

from ect_perf.gate.judge import Comparison, Confirmation
from ect_perf.gate.run_asv import env_dir as asv_env_dir
from ect_perf.gate.run_asv import load_config_json
from ect_perf.gate.stats import block_ratios, blocks_detectable_change, blocks_worse_test, row_alpha

BLOCKS, ROUNDS = 8, 8  # rounds a block at most: a slow benchmark gets fewer (ROW_SECONDS)
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
) -> tuple[dict[tuple[str, str], Confirmation | None], list[Comparison]]:
    """({row key: confirmation} of the rows measured so (None: a row that failed), [rows left for
    pairs of processes])."""
    root = config_path.resolve().parent
    python = environment_python(config_path, env_dir)
    if python is None or not suspects or not same_packages(root, base, head):
        return {}, suspects
    work = scratch / "interleaved"
    sources = {side: extract_service(root, commit, work / side) for side, commit in (("base", base), ("head", head))}
    rows_file, out_file = work / "rows.json", work / "out.json"
    rows_file.write_text(json.dumps(sorted({row.benchmark for row in suspects})))
    print(
        f"ect_perf gate: measuring {len(suspects)} suspect(s) again, both revisions' calls in turn "
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
        return {}, suspects
    measured = json.loads(out_file.read_text())
    alpha = row_alpha(rows_tested)
    found: dict[tuple[str, str], Confirmation | None] = {}
    left = []
    for row in suspects:
        values = measured["rows"].get(row.benchmark)
        if row.benchmark in measured["failed"]:
            found[row.key] = None
        elif values is None:
            left.append(row)
        else:
            found[row.key] = confirmation(values["base"], values["head"], row.better, alpha, values["rounds"])
    return found, left


def confirmation(
    before: list[list[float]], after: list[list[float]], better: str, alpha: float, rounds: int
) -> Confirmation | None:
    """The blocks' test; None when a block lost rounds (a call failed part-way)."""
    if not before or any(len(block) != rounds for block in (*before, *after)):
        return None
    ratios = block_ratios(before, after)
    return Confirmation(
        _medians(before),
        _medians(after),
        blocks_worse_test(ratios, better, alpha),
        blocks_detectable_change(ratios, alpha),
        design="interleaved calls",
        ratios=tuple(ratios),
    )


def _medians(blocks: list[list[float]]) -> tuple[float, ...]:
    return tuple(statistics.median(block) for block in blocks)
