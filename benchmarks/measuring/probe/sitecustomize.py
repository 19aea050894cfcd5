"""Loaded into a benchmarked server through PYTHONPATH (ServerProcess(probe=True)), never shipped.

It answers snapshot requests with the interpreter's counters: garbage collections per generation
and, if tracemalloc is tracing (PYTHONTRACEMALLOC=1), the traced memory now and its peak since the
previous snapshot. A request is a file $ECT_PROBE_DIR/<name>.request, followed by SIGUSR1; the
answer is <name>.json. The requester names the snapshot, so the two sides keep no count that a
lost signal could put out of step: a signal that never arrives leaves its request to the next one,
and a request its requester withdrew (by deleting it) is not answered. A request that holds
`collect` is answered after a full collection, so that the traced memory holds only what is still
reachable (the leak tests' reading); one that holds `trace` starts tracemalloc (one frame) if it is
not tracing, and one that holds `dump` writes its snapshot of every live block traced to
<name>.tracemalloc (where the memory is, by line: allocation_sites.py). Requests
found together get one reading. Each file is written under a temporary name first, so neither side
reads half a file.

When $ECT_PROBE_PYTHON_COUNTS names a file, it also counts, in every thread, each Python function's
calls (resumptions of a generator or coroutine included) and the bytecodes it executed itself, and
writes them there as JSON when the interpreter exits: [[file, first line, qualified name, calls,
bytecodes], ...]. Counts of code, not of time: the same work gives the same counts (explaining.py).
"""

import atexit
import gc
import json
import os
import signal
import sys
import threading
import tracemalloc

_directory = os.environ.get("ECT_PROBE_DIR")
REQUEST = ".request"


def _take_requests() -> list[tuple[str, set[str]]]:
    """(name, words) of each waiting request, each removed: taken, it can no longer be withdrawn."""
    taken = []
    for entry in os.listdir(_directory):
        if not entry.endswith(REQUEST):
            continue
        path = os.path.join(_directory, entry)
        try:
            with open(path) as request:
                words = set(request.read().split())
            os.remove(path)
        except FileNotFoundError:  # withdrawn by its requester
            continue
        taken.append((entry[: -len(REQUEST)], words))
    return taken


def _snapshot(signum, frame):
    requests = _take_requests()
    if not requests:
        return
    if any("collect" in words for _, words in requests):
        gc.collect()
    if any("trace" in words for _, words in requests) and not tracemalloc.is_tracing():
        tracemalloc.start(1)
    data = {"gc_collections": [generation["collections"] for generation in gc.get_stats()]}
    if tracemalloc.is_tracing():
        data["traced_bytes"], data["traced_peak_bytes"] = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        if any("dump" in words for _, words in requests):
            # Taken before the answers are written: their own allocations are not in it.
            blocks = tracemalloc.take_snapshot()
            for name, words in requests:
                if "dump" in words:
                    path = os.path.join(_directory, f"{name}.tracemalloc")
                    blocks.dump(path + ".tmp")
                    os.replace(path + ".tmp", path)
    for name, _ in requests:
        path = os.path.join(_directory, f"{name}.json")
        with open(path + ".tmp", "w") as out:
            out.write(json.dumps(data))  # json.dump's encoder leaves cycles behind, garbage in the next snapshot
        os.replace(path + ".tmp", path)


def _count_python(path: str) -> None:
    counts: dict = {}  # code object: [calls, bytecodes]

    def frame_events(frame, event, arg):
        if event == "opcode":
            counts[frame.f_code][1] += 1
        return frame_events

    def calls(frame, event, arg):
        entry = counts.get(frame.f_code)
        if entry is None:
            entry = counts[frame.f_code] = [0, 0]
        entry[0] += 1
        frame.f_trace_opcodes = True
        return frame_events

    def write() -> None:
        sys.settrace(None)
        threading.settrace(None)
        rows = [[code.co_filename, code.co_firstlineno, code.co_qualname, *entry] for code, entry in counts.items()]
        with open(path + ".tmp", "w") as out:
            json.dump(rows, out)
        os.replace(path + ".tmp", path)

    threading.settrace(calls)
    sys.settrace(calls)
    atexit.register(write)


if _directory:
    signal.signal(signal.SIGUSR1, _snapshot)
if os.environ.get("ECT_PROBE_PYTHON_COUNTS"):
    _count_python(os.environ["ECT_PROBE_PYTHON_COUNTS"])
