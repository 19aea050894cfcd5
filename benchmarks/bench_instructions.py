"""CPU instructions per item, server and client, counted under valgrind: the gate's primary signal.

Wall-clock time on a shared 2-core machine moves 40% between runs and 2x between hosts; the number
of instructions a commit executes for the same work does not. `valgrind --tool=cachegrind
--cache-sim=no` counts every instruction of a process (all threads). A process's total includes
start-up and shutdown, so each figure is a difference of two runs of the same commit:

    (instructions with N calls - instructions with none) / items received in the N calls

where both runs start the server and the client under valgrind, warm up with one call of every
kind, and stop the same way. Start-up alone repeats within about 0.2%; the per-item difference
within about 0.5% (see the README's calibration). The figures do not depend on the host's speed or
load, so they form the continuous, host-independent history.

The classes share one setup_cache: once per commit it makes one baseline run and one measured run
per call (about 2 minutes in all); the track_ methods read the result.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .common import MISSING, USERS, seeded_database
from .harness import ServerProcess

CLIENT = Path(__file__).resolve().parent / "instruction_client.py"
VALGRIND = shutil.which("valgrind")
_SUMMARY = re.compile(r"^summary:\s+(\d+)", re.MULTILINE)


def cachegrind(out_file: Path) -> list[str]:
    return [VALGRIND, "--tool=cachegrind", "--cache-sim=no", "--branch-sim=no",
            f"--cachegrind-out-file={out_file}"]


def instructions(out_file: Path) -> int:
    match = _SUMMARY.search(out_file.read_text())
    if not match:
        raise RuntimeError(f"no instruction total in {out_file}")
    return int(match.group(1))


def counted_run(url: str, call: str, calls: int, scratch: Path) -> tuple[int, int, int]:
    """(server instructions, client instructions, items) of one server + one client under valgrind."""
    server_out, client_out = scratch / f"server-{call}-{calls}.out", scratch / f"client-{call}-{calls}.out"
    server = ServerProcess(url, wrapper=cachegrind(server_out), startup_timeout=300).start()
    try:
        done = subprocess.run([*cachegrind(client_out), sys.executable, str(CLIENT), server.target, call, str(calls)],
                              capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            raise RuntimeError(f"the counted client failed: {done.stderr.strip().splitlines()[-1:]}")
        items = json.loads(done.stdout.strip().splitlines()[-1])["items"]
    finally:
        code = server.stop(timeout=120)
    if code != 0:
        raise RuntimeError(f"the counted server exited with {code}: {list(server.stderr_lines)[-3:]}")
    return instructions(server_out), instructions(client_out), items


# call: (calls made in the measured run, items each call delivers)
CALLS = {"stream": (2, USERS // 2), "buffered": (2, USERS // 2), "unary": (100, 1)}
# A comma-separated subset of CALLS to count (the others skip): the gate's calibration and CI count
# only the stream, in a third of the time.
SELECTED = "ECT_BENCH_INSTRUCTION_CALLS"


def count_all(url: str, selected: list[str]) -> dict:
    """{call: {"server": instructions per item, "client": ...}} for the selected calls, each against
    one shared baseline run (no calls), or {"error": why} when nothing can be counted."""
    if MISSING:
        return {"error": MISSING}
    if not VALGRIND:
        return {"error": "valgrind is not installed (Debian: apt-get install valgrind)"}
    counts = {}
    with tempfile.TemporaryDirectory(prefix="ect-instructions-") as scratch:
        base_server, base_client, _ = counted_run(url, "stream", 0, Path(scratch))
        for call in selected:
            calls, items_per_call = CALLS[call]
            server, client, items = counted_run(url, call, calls, Path(scratch))
            if items != calls * items_per_call:
                raise RuntimeError(f"{calls} {call} calls delivered {items} items, expected {calls * items_per_call}")
            counts[call] = {"server": (server - base_server) / items, "client": (client - base_client) / items}
    return counts


def selected_calls() -> list[str]:
    chosen = [name.strip() for name in os.environ.get(SELECTED, "").split(",") if name.strip()]
    unknown = set(chosen) - set(CALLS)
    if unknown:
        raise ValueError(f"{SELECTED}: unknown call(s) {sorted(unknown)}; choose from {sorted(CALLS)}")
    return chosen or list(CALLS)


class _Instructions:
    """Base: the counts are made once per commit, in the one setup_cache the classes share."""

    call = ""
    timeout = 900
    params = ["server", "client"]
    param_names = ["side"]

    def setup_cache(self):
        url = seeded_database("ECT_BENCH_DB_URL", "ect-bench.db", USERS)
        return count_all(url, selected_calls())

    def setup(self, counts, side):
        if "error" in counts:
            raise NotImplementedError(counts["error"])
        if self.call not in counts:
            raise NotImplementedError(f"{self.call} not counted: {SELECTED}={os.environ.get(SELECTED)}")


class StreamInstructions(_Instructions):
    """GetUsersOnlineStream: instructions per streamed item (two 5,000-item streams)."""

    call = "stream"
    unit = "instructions/item"

    def track_instructions_per_item(self, counts, side):
        return counts[self.call][side]


class BufferedInstructions(_Instructions):
    """GetUsersOnline: instructions per item of the one-message answer (two calls)."""

    call = "buffered"
    unit = "instructions/item"

    def track_instructions_per_item(self, counts, side):
        return counts[self.call][side]


class UnaryInstructions(_Instructions):
    """GetWorkflow: instructions per unary call (100 calls)."""

    call = "unary"
    unit = "instructions/call"

    def track_instructions_per_call(self, counts, side):
        return counts[self.call][side]
