"""Counting instructions under valgrind: the engine of bench_instructions.py and of `python -m
ect_perf profile`.

Precision (goal: counts of unchanged code within 0.5%). What varies is start-up, and it is divided
by the items of the measured run, so:
- every counted process runs with PYTHONHASHSEED=0: with random hash seeds the server's start-up
  alone varied by 5.3M instructions over four runs, with a fixed seed by 0.4M;
- start-up still varies, the client's by about 1M instructions and the server's by 0.4M, so each
  side's baseline is the mean of three runs without calls (for the server's recommended read, 20
  instructions an item over one baseline and four calls: 0.17% of its 11,700);
- cheap calls are counted over more items (CALLS): the client spends only 1,200-2,800 instructions
  per item of the buffered and the recommended reads;
- a process's cost per call also varies from run to run, however many calls it makes: the same
  1,000 unary calls cost the server 3,307-3,325M instructions over five runs of one commit, the
  difference almost all in dictionary and type-attribute lookups (CPython's type attribute cache,
  whose hits depend on where and in which order that process created its types and names; without
  address randomisation, `setarch -R`, runs differed as much).
  So the unary call is counted over several processes (RUNS) and their mean taken: more calls in one
  process would only repeat that process's luck.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from ..common import MISSING, USERS, pin, split_cores
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


def callgrind(out_file: Path) -> list[str]:
    """As cachegrind(), charging each instruction to its function (for `python -m ect_perf profile`)."""
    return [VALGRIND, "--tool=callgrind", f"--callgrind-out-file={out_file}"]


# A busy machine lowers the counts: with both cores kept busy by two other processes, on one host,
# the server's count per streamed item read 6-9% lower than on the quiet machine (3,020-3,052M
# instructions for two streams against 3,122.1-3,122.5M), the unary call's server 2.8% and the
# stream's client 0.8% (a process that gets the CPU later finds more work waiting at each wake-up).
# So every counted run also measures the CPU that other processes used (or the hypervisor stole)
# while it ran, and is made again when that passed BUSY_LIMIT; the quiet machine read 0.00-0.01.
# On these shared VMs, with nothing else of ours running, busy spells of 0.16-0.45 cores (the
# hypervisor's steal, the VM's own daemons) outlasted three attempts 10 s apart (2 of 20 gate runs
# of one calibration refused their count), so the pauses grow: a spell of about 4 minutes is waited out.
BUSY_LIMIT = 0.15  # cores
PAUSES = (10.0, 30.0, 60.0, 120.0)  # seconds before the 2nd, 3rd, ... attempt
ATTEMPTS = len(PAUSES) + 1
# Valgrind writes its counts when the counted process ends, so a server killed because it did not
# stop within STOP_TIMEOUT of its SIGTERM leaves none. Under callgrind one such server (1 of the
# several hundred counted runs of a gate calibration) was still running 120 s after its SIGTERM:
# such a run is made again, like a busy one.
STOP_TIMEOUT = 120.0  # seconds


class MachineBusy(RuntimeError):
    """Other processes kept the machine busy through the last attempt at a counted run."""


class ServerDidNotStop(RuntimeError):
    """The counted server had to be killed, so it left no counts."""


def counted_run(url: str, call: str, calls: int, scratch: Path, side: str, tool=cachegrind) -> tuple[int, int]:
    """_counted_once on a quiet machine: made again (up to ATTEMPTS times in all) while other
    processes used more than BUSY_LIMIT cores during it or its counted server did not stop;
    MachineBusy or ServerDidNotStop when the last attempt failed so too."""
    for attempt in range(1, ATTEMPTS + 1):
        watch = OtherLoad()
        try:
            counted = _counted_once(url, call, calls, scratch, side, tool)
        except ServerDidNotStop as hung:
            failure = hung
        else:
            busy = watch.cores()
            if busy <= BUSY_LIMIT:
                return counted
            failure = MachineBusy(
                f"other processes used {busy:.2f} cores while {side} {call} was counted (limit {BUSY_LIMIT}), "
                f"in the last of {ATTEMPTS} attempts: a busy machine lowers instruction counts (by up to 9%), "
                f"so none was kept; count on a quiet machine")
        print(f"counted run {side} {call} x{calls}, attempt {attempt} of {ATTEMPTS}: {failure}",
              file=sys.stderr, flush=True)
        if attempt < ATTEMPTS:
            time.sleep(PAUSES[attempt - 1])
    raise failure


class OtherLoad:
    """The CPU that processes other than this one and its children used from here on (the
    hypervisor's steal included), in cores: the machine's busy time less our own."""

    def __init__(self) -> None:
        self.start = time.monotonic(), self._machine_busy(), self._own()

    def cores(self) -> float:
        """Call once this process's counted children have exited and been waited for."""
        wall, machine, own = self.start
        elapsed = time.monotonic() - wall
        return max(0.0, (self._machine_busy() - machine) - (self._own() - own)) / max(elapsed, 1e-9)

    @staticmethod
    def _machine_busy() -> float:
        times = psutil.cpu_times()
        return sum(getattr(times, field, 0.0) for field in ("user", "nice", "system", "irq", "softirq", "steal"))

    @staticmethod
    def _own() -> float:
        times = os.times()  # children: those exited and waited for (the counted server and client)
        return times.user + times.system + times.children_user + times.children_system


def _counted_once(url: str, call: str, calls: int, scratch: Path, side: str, tool=cachegrind) -> tuple[int, int]:
    """(instructions of `side`, items received) for one server and one client process, `side` under
    valgrind (`tool`: its command line for an output file) and its peer native. A native peer keeps
    the counted process's waits short and regular: with both sides under valgrind each waited on a
    50x slower peer, and the counts of identical commits spread 3% (server) and 5% (client) instead
    of well under 1%. The output file stays in `scratch`: {side}-{call}-{calls}.out."""
    out_file = scratch / f"{side}-{call}-{calls}.out"
    counted = tool(out_file)
    server = ServerProcess(url, wrapper=counted if side == "server" else (), env=FIXED_HASHING,
                           startup_timeout=300).start()
    try:
        client = [*(counted if side == "client" else ()), sys.executable, str(CLIENT), server.target, call, str(calls)]
        if cores := split_cores():  # as in every benchmark: server and client on cores of their own
            pin(server.pid, cores[0])
        # Pinned from here, not with preexec_fn: a fork of this multi-threaded process (the server's
        # output readers) can deadlock in preexec_fn, and once did. The client is one thread until
        # it imports grpc, long after this.
        done = subprocess.Popen(client, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, **FIXED_HASHING})
        try:
            if cores:
                pin(done.pid, cores[1])
            stdout, stderr = done.communicate(timeout=600)
        finally:
            if done.poll() is None:
                done.kill()
                done.communicate()
        items = items_received(done.returncode, stdout, stderr)
    finally:
        code = server.stop(timeout=STOP_TIMEOUT)
    if code == -signal.SIGKILL:
        raise ServerDidNotStop(f"the counted server did not exit within {STOP_TIMEOUT:g} s of its SIGTERM and was "
                               f"killed, so it left no counts: {list(server.stderr_lines)[-3:]}")
    if code != 0:
        raise RuntimeError(f"the counted server exited with {code}: {list(server.stderr_lines)[-3:]}")
    return instructions(out_file), items


def items_received(code: int, stdout: str, stderr: str) -> int:
    """The count that the counted client prints last, {"items": N}; else RuntimeError with the
    client's exit status and the end of its standard error (its traceback, or valgrind's
    complaint), since its output alone does not say why it has no count."""
    lines = stdout.strip().splitlines()
    if code == 0 and lines:
        try:
            return int(json.loads(lines[-1])["items"])
        except (ValueError, KeyError, TypeError):
            pass
    said = " | ".join(stderr.strip().splitlines()[-5:]) or "nothing on its standard error"
    printed = f"its output ends {lines[-1][-200:]!r}" if lines else "no output"
    raise RuntimeError(f"the counted client gave no item count (exit status {code}, {printed}): {said}")


FIXED_HASHING = {"PYTHONHASHSEED": "0"}  # the same dict and set layouts in every counted run
BASELINES = {"server": 3, "client": 3}  # runs without calls, averaged
# call: ({side: calls made in the measured run}, items each call delivers). The server's start-up
# varies little, so two calls suffice there; the client's varies more and its runs are cheap.
CALLS = {
    "stream": ({"server": 2, "client": 4}, USERS // 2),
    "buffered": ({"server": 4, "client": 64}, USERS // 2),
    "unary": ({"server": 1000, "client": 1000}, 1),
    "recommended": ({"server": 8, "client": 96}, USERS // 2),
}
# Measured runs per call and side, whose totals are averaged (1 where not named). The buffered
# call's client spends about 1,170 instructions an item: counted over 16 calls, counts of unchanged
# code spread 1.75%; over 64, its start-up weighs a quarter as much. Over five counts of unchanged
# code on one host, one run of 64 buffered calls and three of 1,000 unary calls still left the
# clients 0.74% and 0.81% apart (the servers' unary count 0.19%, with three runs), so their clients
# run more: the clients' runs are cheap. The stream's client read 59,233-59,791 instructions an
# item over eight counts of one run each (0.94%, against the gate's 1%), so it runs three times.
RUNS = {"unary": {"server": 3, "client": 6}, "buffered": {"client": 3}, "stream": {"client": 3}}
# A comma-separated subset of CALLS to count (the others skip): the gate's calibration and CI count
# only the stream, in a fraction of the time. "recommended" is the commit's recommended streaming
# read (recommended.py: StreamUsersOnline, with columns where the commit has them, else GetUsersOnlineStream).
SELECTED = "ECT_BENCH_INSTRUCTION_CALLS"


def count_all(url: str, selected: list[str]) -> dict:
    """{call: {"server": instructions per item, "client": ...}} for the selected calls, each against
    one shared baseline per side (the mean of its BASELINES runs without calls), or {"error": why}
    when nothing can be counted."""
    if MISSING:
        return {"error": MISSING}
    if not VALGRIND:
        return {"error": "valgrind is not installed (Debian: apt-get install valgrind)"}
    counts = {call: {} for call in selected}
    # Before StreamUsersOnline the recommended read is the stream itself: count it once, as the stream.
    same_as_stream = "recommended" in selected and "stream" in selected and not has_batched_rpc()
    with tempfile.TemporaryDirectory(prefix="ect-instructions-") as scratch:
        for side in ("server", "client"):
            runs = BASELINES[side]
            baseline = sum(counted_run(url, "stream", 0, Path(scratch), side)[0] for _ in range(runs)) / runs
            for call in selected:
                if call == "recommended" and same_as_stream:
                    continue
                calls_per_side, items_per_call = CALLS[call]
                calls = calls_per_side[side]
                measured = [counted_run(url, call, calls, Path(scratch), side)
                            for _ in range(RUNS.get(call, {}).get(side, 1))]
                for _, items in measured:
                    if items != calls * items_per_call:
                        raise RuntimeError(
                            f"{calls} {call} calls delivered {items} items, expected {calls * items_per_call}")
                mean = sum(total for total, _ in measured) / len(measured)
                counts[call][side] = (mean - baseline) / (calls * items_per_call)
    if same_as_stream:
        counts["recommended"] = counts["stream"]
    return counts


def has_batched_rpc() -> bool:
    """Whether the commit's contract has StreamUsersOnline (as instruction_client.py asks its stub)."""
    from ect_service.v1 import workflow_pb2

    return "StreamUsersOnline" in workflow_pb2.DESCRIPTOR.services_by_name["WorkflowService"].methods_by_name


def selected_calls() -> list[str]:
    chosen = [name.strip() for name in os.environ.get(SELECTED, "").split(",") if name.strip()]
    unknown = set(chosen) - set(CALLS)
    if unknown:
        raise ValueError(f"{SELECTED}: unknown call(s) {sorted(unknown)}; choose from {sorted(CALLS)}")
    return chosen or list(CALLS)
