"""Two revisions' servers measured call by call in turn: the gate's confirmation of a wall-clock suspect.

    python -m benchmarks.measuring.interleaved ROWS.json OUT.json --base SRC --head SRC
        [--blocks 8] [--rounds 8] [--seconds 60]

On a shared machine the speed drifts by tens of percent within seconds, so two processes measured
one after the other differ by more than a 10% change. Here both revisions' servers run at once
(each `--base`/`--head` folder holds a revision's `ect_service`, served by this environment's
packages), and a benchmark's own track_ method is called on one and then the other, the order
alternating round by round: the drift weighs on both alike. A block starts both servers afresh
(and calls each once before it counts);
the gate's replicate is a block's median ratio, so a server process that happens to be slow or fast
counts once. Only track_ benchmarks of ServerBenchmark classes can be measured so; the others are
listed as unsupported, and the gate measures them again in pairs of processes instead.

ROWS.json: a list of asv row names ("bench_latency.TimeToFirstItem.track_first_item_ms('p50')").
OUT.json: {"rows": {row: {"base": [[value per round] per block], "head": [...], "rounds": N}},
"unsupported": [...], "failed": {row: error}}; a value is the median of the samples a call returned.
A block has as many rounds as let the row take about --seconds (from the first block's warm-up
calls): a benchmark whose call takes seconds gets fewer rounds, never fewer than 2.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import json
import os
import statistics
import sys
import time
import traceback

from ..common import ServerBenchmark
from .harness import ServerProcess


def parse_row(row: str) -> tuple[str, str, str, tuple]:
    """(module, class, method, params) of an asv row name."""
    name, _, params = row.partition("(")
    module, cls, method = name.rsplit(".", 2)
    values = ast.literal_eval(f"({params[:-1]},)") if params else ()
    return module, cls, method, tuple(values)


def benchmark_class(module: str, cls: str):
    found = getattr(importlib.import_module(f"benchmarks.{module}"), cls, None)
    return found if isinstance(found, type) else None


def supported(row: str) -> bool:
    module, cls, method, _ = parse_row(row)
    found = benchmark_class(module, cls)
    return found is not None and issubclass(found, ServerBenchmark) and method.startswith("track_")


def value(result) -> float:
    """A track_ method's result: a number, or {"samples": [...]} whose median asv would record."""
    if isinstance(result, dict):
        return float(statistics.median(result["samples"]))
    return float(result)


def rounds_within(seconds: float, blocks: int, call_seconds: float, most: int) -> int:
    """Rounds a block so that the row takes about `seconds` (two calls a round), between 2 and `most`."""
    return max(2, min(most, int(seconds / (blocks * 2 * max(call_seconds, 1e-6)))))


def measure(row: str, sources: dict[str, str], blocks: int, most_rounds: int, seconds: float) -> dict:
    """{"base": [[value per round] per block], "head": [...], "rounds": rounds a block}: the rounds
    are as many as fit the row's time (`seconds`, from the first block's warm-up calls), at most
    `most_rounds`, at least 2."""
    module, cls_name, method, params = parse_row(row)
    cls = benchmark_class(module, cls_name)
    url = cls().setup_cache()
    out: dict = {side: [] for side in sources}
    rounds = None
    for block in range(blocks):
        sides = {}
        try:
            for side, source in sources.items():
                bench = cls()
                ServerProcess.serve_from = source  # the benchmark's own setup starts this side's server
                try:
                    bench.setup(url, *params)
                finally:
                    ServerProcess.serve_from = None
                sides[side] = bench
            slowest = 0.0
            for side in sides:
                out[side].append([])
                start = time.perf_counter()
                getattr(sides[side], method)(url, *params)  # a warm-up call, not kept
                slowest = max(slowest, time.perf_counter() - start)
            if rounds is None:
                rounds = rounds_within(seconds, blocks, slowest, most_rounds)
            for turn in range(rounds):
                order = list(sides) if (block + turn) % 2 == 0 else list(sides)[::-1]
                for side in order:
                    out[side][-1].append(value(getattr(sides[side], method)(url, *params)))
        finally:
            for bench in sides.values():
                bench.teardown(url, *params)
    out["rounds"] = rounds
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.measuring.interleaved")
    parser.add_argument("rows", help="JSON list of asv row names")
    parser.add_argument("out", help="where to write the values")
    parser.add_argument("--base", required=True, help="folder holding BASE's ect_service")
    parser.add_argument("--head", required=True, help="folder holding HEAD's ect_service")
    parser.add_argument("--blocks", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=8, help="rounds a block at most")
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="about how long a row may take: fewer rounds for slow benchmarks (at least 2)")
    args = parser.parse_args(argv)
    rows = json.loads(open(args.rows).read())
    result = {"rows": {}, "unsupported": [], "failed": {}}
    sources = {"base": os.path.abspath(args.base), "head": os.path.abspath(args.head)}
    for row in rows:
        if not supported(row):
            result["unsupported"].append(row)
            continue
        print(f"benchmarks.measuring.interleaved: {row}", file=sys.stderr, flush=True)
        try:
            result["rows"][row] = measure(row, sources, args.blocks, args.rounds, args.seconds)
        except Exception as exc:  # one row's failure must not lose the others'
            traceback.print_exc()
            result["failed"][row] = f"{type(exc).__name__}: {exc}"
    with open(args.out, "w") as out:
        json.dump(result, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
