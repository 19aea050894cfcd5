"""python -m ect_perf explain BASE HEAD [CALL]: where a call's instructions went between two revisions.

Each revision's `ect_service` is taken from git and counted by benchmarks/measuring/explaining.py,
run by the asv environment's python (the packages asv measures with), the checkout's benchmarks
doing the measuring: the same calls, runs and busy-machine rule as the instruction counts, under
callgrind, plus native runs that count each Python function's bytecodes. compare.py turns both
into the difference per item by library, native function and Python function; render.py writes it
as Markdown and JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ect_perf.explain.compare import SideChange, compare_side, read_side
from ect_perf.gate.interleave import environment_python, extract_service, same_packages
from ect_perf.gate.run_asv import env_dir as asv_env_dir
from ect_perf.gate.run_asv import rev_parse, run_asv, scratch_config
from ect_perf.hosts import host_machine
from ect_perf.machine_file import ensure_registered

CALLS = ("stream", "buffered", "unary", "recommended")  # benchmarks/measuring/counting.py's CALLS
SIDES = ("server", "client")


class ExplainError(RuntimeError):
    pass


@dataclass
class Explanation:
    base: str
    head: str
    changes: list[SideChange]
    minutes: float
    notes: list[str]


def explain(
    config_path: Path,
    base: str,
    head: str,
    calls: tuple[str, ...] = CALLS,
    sides: tuple[str, ...] = SIDES,
    top: int = 10,
    env_dir: Path | None = None,
    keep: Path | None = None,
) -> Explanation:
    """Raises BadRevision and ExplainError. `keep`: a folder for the runs' files (else a temporary one)."""
    started = time.monotonic()
    root, base_hash, head_hash, python = revisions(config_path, base, head, env_dir)
    notes = []
    if not same_packages(root, base_hash, head_hash):
        notes.append(
            "protos/, pyproject.toml or asv.conf.json differ between the two revisions: both were counted "
            "with the same asv environment's packages, so a change of packages does not show here"
        )
    with tempfile.TemporaryDirectory(prefix="ect-explain-") as scratch:
        folder = (keep or Path(scratch)).resolve()  # on PYTHONPATH: a relative path would move with cwd
        measured = {
            name: count_revision(root, commit, python, calls, sides, folder / name)
            for name, commit in (("base", base_hash), ("head", head_hash))
        }
        changes = []
        for call in calls:
            for side in sides:
                before, after = (
                    read_side(
                        folder / name / "runs", measured[name]["sides"][side], call, str(folder / name / "source")
                    )
                    for name in ("base", "head")
                )
                changes.append(compare_side(call, side, before, after, top))
    return Explanation(base_hash, head_hash, changes, (time.monotonic() - started) / 60, notes)


def revisions(config_path: Path, base: str, head: str, env_dir: Path | None) -> tuple[Path, str, str, Path]:
    """(the checkout, BASE's hash, HEAD's hash, the asv environment's python). Raises BadRevision and
    ExplainError."""
    root = config_path.resolve().parent
    return root, rev_parse(root, base), rev_parse(root, head), environment(config_path, env_dir)


def environment(config_path: Path, env_dir: Path | None) -> Path:
    """The asv environment's python, built first when there is none: asv builds it (and installs the
    newest commit's wheel with the pinned packages) to discover the benchmarks, before it finds that
    the selection `^$` names none of them."""
    python = environment_python(config_path, env_dir)
    if python is None and not list(Path(env_dir or asv_env_dir(config_path)).glob("*/bin/python")):
        print("ect_perf explain: building the asv environment", file=sys.stderr)
        machine = host_machine()
        ensure_registered(machine)
        with tempfile.TemporaryDirectory(prefix="ect-explain-env-") as results:  # results/ stays untouched
            config = scratch_config(config_path, Path(results), env_dir)
            run_asv(config, [rev_parse(config_path.resolve().parent, "HEAD")], machine, "^$")
        python = environment_python(config_path, env_dir)
    if python is None:
        raise ExplainError(
            f"no asv environment to count in: {config_path.name} must name exactly one (a matrix of "
            "database servers names several; use asv.conf.json)"
        )
    return python


def count_revision(root: Path, commit: str, python: Path, calls, sides, folder: Path) -> dict:
    """The manifest of explaining.py's runs of `commit`'s service, in folder/runs."""
    source = extract_service(root, commit, folder / "source")
    work = folder / "work"  # the runs' SQLite file: the revision's own schema and seed
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(source), str(root)])}
    print(f"ect_perf explain: counting {commit[:8]} ({', '.join(calls)}; {', '.join(sides)})", file=sys.stderr)
    done = subprocess.run(
        [
            str(python),
            "-m",
            "benchmarks.measuring.explaining",
            str(folder / "runs"),
            ",".join(calls),
            "--sides",
            ",".join(sides),
        ],
        cwd=work,
        env=env,
        stdout=sys.stderr,
        stderr=subprocess.STDOUT,
    )
    manifest = folder / "runs" / "manifest.json"
    if done.returncode != 0 or not manifest.is_file():
        raise ExplainError(f"counting {commit[:8]} failed (exit {done.returncode}); its output is above")
    return json.loads(manifest.read_text())
