"""Loaded into a benchmarked server through PYTHONPATH (ServerProcess(probe=True)), never shipped.

On SIGUSR1 it writes the interpreter's counters to $ECT_PROBE_DIR/<n>.json (n = 1, 2, ...): garbage
collections per generation and, if tracemalloc is tracing (PYTHONTRACEMALLOC=1), the traced memory
now and its peak since the previous snapshot. SIGUSR2 does the same after a full collection, so that
the traced memory holds only what is still reachable (the leak tests' reading). The write goes to a
temporary name first, so the reader never sees half a file.
"""

import gc
import json
import os
import signal
import tracemalloc

_directory = os.environ.get("ECT_PROBE_DIR")
_taken = 0


def _snapshot(signum, frame):
    global _taken
    if signum == signal.SIGUSR2:
        gc.collect()
    _taken += 1
    data = {"gc_collections": [generation["collections"] for generation in gc.get_stats()]}
    if tracemalloc.is_tracing():
        data["traced_bytes"], data["traced_peak_bytes"] = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
    path = os.path.join(_directory, f"{_taken}.json")
    with open(path + ".tmp", "w") as out:
        json.dump(data, out)
    os.replace(path + ".tmp", path)


if _directory:
    signal.signal(signal.SIGUSR1, _snapshot)
    signal.signal(signal.SIGUSR2, _snapshot)
