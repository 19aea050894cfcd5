"""Loaded into a benchmarked server through PYTHONPATH (ServerProcess(probe=True)), never shipped.

It answers snapshot requests with the interpreter's counters: garbage collections per generation
and, if tracemalloc is tracing (PYTHONTRACEMALLOC=1), the traced memory now and its peak since the
previous snapshot. A request is a file $ECT_PROBE_DIR/<name>.request, followed by SIGUSR1; the
answer is <name>.json. The requester names the snapshot, so the two sides keep no count that a
lost signal could put out of step: a signal that never arrives leaves its request to the next one,
and a request its requester withdrew (by deleting it) is not answered. A request that holds
`collect` is answered after a full collection, so that the traced memory holds only what is still
reachable (the leak tests' reading). Requests found together get one reading. Each file is written
under a temporary name first, so neither side reads half a file.
"""

import gc
import json
import os
import signal
import tracemalloc

_directory = os.environ.get("ECT_PROBE_DIR")
REQUEST = ".request"


def _take_requests() -> list[tuple[str, bool]]:
    """(name, collect) of each waiting request, each removed: taken, it can no longer be withdrawn."""
    taken = []
    for entry in os.listdir(_directory):
        if not entry.endswith(REQUEST):
            continue
        path = os.path.join(_directory, entry)
        try:
            with open(path) as request:
                collect = request.read() == "collect"
            os.remove(path)
        except FileNotFoundError:  # withdrawn by its requester
            continue
        taken.append((entry[: -len(REQUEST)], collect))
    return taken


def _snapshot(signum, frame):
    requests = _take_requests()
    if not requests:
        return
    if any(collect for _, collect in requests):
        gc.collect()
    data = {"gc_collections": [generation["collections"] for generation in gc.get_stats()]}
    if tracemalloc.is_tracing():
        data["traced_bytes"], data["traced_peak_bytes"] = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
    for name, _ in requests:
        path = os.path.join(_directory, f"{name}.json")
        with open(path + ".tmp", "w") as out:
            json.dump(data, out)
        os.replace(path + ".tmp", path)


if _directory:
    signal.signal(signal.SIGUSR1, _snapshot)
