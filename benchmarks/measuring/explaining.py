"""One revision's calls counted by function: what `python -m ect_perf explain` compares between two.

    python -m benchmarks.measuring.explaining OUT_DIR CALL[,CALL...] [--sides server,client]

Run by the asv environment's python with the revision's `ect_service` first on PYTHONPATH and the
checkout's `benchmarks` after it, in a working directory of the revision's own (its SQLite file).
For each side it makes the runs of the instruction counts (counting.py: the same calls, baselines
and measured runs, the same busy-machine rule), under callgrind instead of cachegrind, so that
each instruction is charged to the function that executed it; then, natively, a run without calls
and one per call in which the probe counts each Python function's calls and bytecodes (a profiler
changes what valgrind would count, so these runs are never the counted ones).

OUT_DIR/manifest.json: {"sides": {side: {"baselines": [callgrind file, ...], "python_baseline":
file, "calls": {call: {"items": N, "measured": [callgrind file, ...], "python": file}}}}}, the
files relative to OUT_DIR.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from ..common import USERS, seeded_database
from . import parse_calls
from .counting import BASELINES, CALLS, CLIENT, FIXED_HASHING, RUNS, callgrind, counted_run, items_received
from .harness import PROBE_DIR, ServerProcess

PYTHON_COUNTS = "ECT_PROBE_PYTHON_COUNTS"  # the file the probe writes its Python counts to at exit
BASELINE_CALL = "stream"  # the instruction counts' baseline runs make no call (of the stream)


def callgrind_run(url: str, call: str, calls: int, side: str, folder: Path, out: Path) -> tuple[str, int]:
    """(the callgrind file relative to `out`, items received) of one counted run in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    _, items = counted_run(url, call, calls, folder, side, tool=callgrind)
    (written,) = folder.glob("*.out")
    return str(written.relative_to(out)), items


def side_runs(url: str, calls: list[str], side: str, out: Path) -> dict:
    """One side's runs: the count's baselines and measured runs under callgrind, then the traced ones."""
    found = {"baselines": [], "calls": {}}
    for run in range(BASELINES[side]):
        file, _ = callgrind_run(url, BASELINE_CALL, 0, side, out / side / f"baseline-{run + 1}", out)
        found["baselines"].append(file)
    for call in calls:
        calls_per_side, items_per_call = CALLS[call]
        made = calls_per_side[side]
        measured = []
        for run in range(RUNS.get(call, {}).get(side, 1)):
            file, items = callgrind_run(url, call, made, side, out / side / f"{call}-{run + 1}", out)
            expect(items, made, call, items_per_call)
            measured.append(file)
        found["calls"][call] = {"items": made * items_per_call, "measured": measured}
    found["python_baseline"] = traced_run(url, BASELINE_CALL, 0, side, out / side / "python-baseline.json", out)[0]
    for call in calls:
        calls_per_side, items_per_call = CALLS[call]
        made = calls_per_side[side]
        file, items = traced_run(url, call, made, side, out / side / f"python-{call}.json", out)
        expect(items, made, call, items_per_call)
        found["calls"][call]["python"] = file
    return found


def expect(items: int, calls: int, call: str, items_per_call: int) -> None:
    if items != calls * items_per_call:
        raise RuntimeError(f"{calls} {call} calls delivered {items} items, expected {calls * items_per_call}")


def traced_run(url: str, call: str, calls: int, side: str, counts: Path, out: Path) -> tuple[str, int]:
    """(the counts file relative to `out`, items received) of one server and one client process,
    natively, `side` loading the probe with its Python counts going to `counts`."""
    counts.parent.mkdir(parents=True, exist_ok=True)
    traced = {PYTHON_COUNTS: str(counts)}
    server = ServerProcess(url, probe=side == "server", env={**FIXED_HASHING, **(traced if side == "server" else {})},
                           startup_timeout=120).start()
    try:
        env = {**os.environ, **FIXED_HASHING}
        if side == "client":
            env.update(traced, PYTHONPATH=os.pathsep.join(filter(None, [str(PROBE_DIR), env.get("PYTHONPATH", "")])))
        done = subprocess.run([sys.executable, str(CLIENT), server.target, call, str(calls)],
                              capture_output=True, text=True, env=env, timeout=1200)
        items = items_received(done.returncode, done.stdout, done.stderr)
    finally:
        code = server.stop(timeout=120)
    if code != 0:
        raise RuntimeError(f"the traced server exited with {code}: {list(server.stderr_lines)[-3:]}")
    if not counts.is_file():
        raise RuntimeError(f"the {side} wrote no Python counts to {counts}")
    return str(counts.relative_to(out)), items


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.measuring.explaining")
    parser.add_argument("out", type=Path)
    parser.add_argument("calls", help=f"comma-separated, of {', '.join(CALLS)}")
    parser.add_argument("--sides", default="server,client")
    args = parser.parse_args(argv)
    calls = parse_calls(parser, args.calls, CALLS)
    url = seeded_database("ECT_BENCH_DB_URL", "ect-bench.db", USERS)
    args.out.mkdir(parents=True, exist_ok=True)
    manifest = {"sides": {side: side_runs(url, calls, side, args.out) for side in args.sides.split(",") if side}}
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
