"""One revision's memory of a call by allocation site: what `python -m ect_perf explain --memory`
compares between two.

    python -m benchmarks.measuring.allocation_sites OUT_FILE CALL[,CALL...]

Run by the asv environment's python with the revision's `ect_service` first on PYTHONPATH and the
checkout's `benchmarks` after it, in a working directory of the revision's own (its SQLite file).

For each call (stream, buffered, recommended: the calls the memory benchmarks make), one server
with the probe, and this process as its client: tracemalloc starts on both once the server serves
(so that the snapshots hold only what was allocated since, and take little time), then after a
warm-up call, a snapshot of both heaps, then the call, CALLS_MEASURED times, with a snapshot of
both each time another twentieth of its items has arrived (and at its end). A side's peak is its
snapshot that holds the most; what the call holds there, by line, is that snapshot against the
one before the call (tracemalloc's `compare_to`), each line with its source text, so that the same
line is found again in another revision where the lines above it moved. Natively: allocation
sites, not instructions.

OUT_FILE: {call: {side: {"peak_bytes": N, "calls": CALLS_MEASURED, "sites": [[file, line, text,
bytes, blocks], ...]}}},
the sites with the largest growth first (SITES of them at most).
"""

from __future__ import annotations

import argparse
import gc
import json
import linecache
import pathlib
import sys
import tracemalloc
from pathlib import Path

from ..common import ONLINE, USERS, empty, seeded_database
from . import harness, parse_calls
from .harness import PROBE_DIR, ServerProcess
from .recommended import recommended_read

CALLS = ("stream", "buffered", "recommended")
# Snapshots per call, one each time another twentieth of its items has arrived, over
# CALLS_MEASURED calls: the server's pages are read on its database thread, so where a snapshot
# falls in a page's life varies, and the most of many is the peak.
POINTS = 20
CALLS_MEASURED = 3
SITES = 200
# A site is the allocating line alone: one frame keeps tracing fast (16 took the stream's server
# fourteen times as long), and BASE and HEAD are compared line by line, so what the measuring
# itself leaves alive (a few KB of its file handling) is the same on both sides.
FRAMES = 1
# The measuring's own blocks: tracemalloc's snapshots, the probe's answers, this module's and the
# harness's lines, and the client's file handling (pathlib: the snapshot requests and answers; the
# call opens no file).
NOT_THE_CALL = (
    tracemalloc.__file__,
    str(PROBE_DIR / "*"),
    __file__,
    harness.__file__,
    linecache.__file__,
    pathlib.__file__,
)


def _held(snapshot: tracemalloc.Snapshot) -> tracemalloc.Snapshot:
    return snapshot.filter_traces([tracemalloc.Filter(False, pattern) for pattern in NOT_THE_CALL])


def _total(snapshot: tracemalloc.Snapshot) -> int:
    return sum(stat.size for stat in snapshot.statistics("filename"))


class Side:
    """One side's snapshots of one call: the one before it and the peak among those during it."""

    def __init__(self, before: tracemalloc.Snapshot) -> None:
        self.before = _held(before)
        self.peak: tracemalloc.Snapshot | None = None
        self.peak_bytes = -1

    def offer(self, snapshot: tracemalloc.Snapshot) -> None:
        held = _held(snapshot)
        total = _total(held)
        if total > self.peak_bytes:
            self.peak, self.peak_bytes = held, total

    def sites(self) -> dict:
        growth = self.peak.compare_to(self.before, "lineno")
        rows = []
        for stat in sorted(growth, key=lambda stat: -abs(stat.size_diff))[:SITES]:
            if not stat.size_diff:
                continue
            frame = stat.traceback[0]
            text = linecache.getline(frame.filename, frame.lineno).strip()
            rows.append([frame.filename, frame.lineno, text, stat.size_diff, stat.count_diff])
        return {"peak_bytes": self.peak_bytes - _total(self.before), "calls": CALLS_MEASURED, "sites": rows}


def _messages(stub, call: str):
    """The call's items as they arrive (a buffered call's arrive all at once)."""
    if call == "stream":
        return stub.GetUsersOnlineStream(empty(), timeout=300)
    if call == "buffered":
        return iter(stub.GetUsersOnline(empty(), timeout=300).items)
    from ect_service.v1 import workflow_pb2  # the revision's own contract

    return recommended_read(stub, workflow_pb2, timeout=300)[1]


def measure(server: ServerProcess, call: str) -> dict:
    stub = server.stub()
    server.snapshot(trace=True)
    tracemalloc.start(FRAMES)
    for _ in _messages(stub, call):  # warm-up: one-time costs fall before the first snapshot
        pass
    gc.collect()
    sides = {
        "server": Side(tracemalloc.Snapshot.load(server.snapshot(collect=True, dump=True)["snapshot"])),
        "client": Side(tracemalloc.take_snapshot()),
    }

    def offer() -> None:
        sides["client"].offer(tracemalloc.take_snapshot())  # first: the server's answer is not the call's
        sides["server"].offer(tracemalloc.Snapshot.load(server.snapshot(dump=True)["snapshot"]))

    every = max(1, ONLINE // POINTS)
    for _ in range(CALLS_MEASURED):
        items = 0
        for items, _ in enumerate(_messages(stub, call), start=1):
            if items % every == 0:
                offer()
        if items != ONLINE:
            raise RuntimeError(f"the {call} call delivered {items} items, expected {ONLINE}")
        if items % every:
            offer()
    found = {side: side_found.sites() for side, side_found in sides.items()}
    tracemalloc.stop()
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.measuring.allocation_sites")
    parser.add_argument("out", type=Path)
    parser.add_argument("calls", help=f"comma-separated, of {', '.join(CALLS)}")
    args = parser.parse_args(argv)
    calls = parse_calls(parser, args.calls, CALLS)
    url = seeded_database("ECT_BENCH_DB_URL", "ect-bench.db", USERS)
    found = {}
    for call in calls:
        with ServerProcess(url, probe=True, startup_timeout=120) as server:
            found[call] = measure(server, call)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(found, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
