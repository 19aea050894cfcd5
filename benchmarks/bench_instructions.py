"""CPU instructions per item, server and client, counted under valgrind: the gate's primary signal.

Wall-clock time on a shared 2-core machine moves 40% between runs and 2x between hosts; the number
of instructions a commit executes for the same work does not. `valgrind --tool=cachegrind
--cache-sim=no` counts every instruction of a process (all threads). A process's total includes
start-up and shutdown, so each figure is a difference of two runs of the same commit:

    (instructions with N calls - instructions with none) / items received in the N calls

where both runs start the server and the client, warm up with one call of every kind and stop the
same way. One side at a time runs under valgrind, its peer natively. The figures do not depend on
the host's speed, so they form the continuous, host-independent history; a busy machine lowers them,
so a run made while other processes kept the machine busy is made again, then refused (BUSY_LIMIT).

The classes share one setup_cache: once per commit, for each side, the baseline runs and one
measured run per call, more for the unary call and the stream's and buffered call's clients (RUNS;
3.6 minutes in all on a fast host); the track_ methods read the result.
"""

import os

from .common import USERS, seeded_database
from .measuring.counting import SELECTED, count_all, selected_calls


class _Instructions:
    """Base: the counts are made once per commit, in the one setup_cache the classes share."""

    call = ""
    timeout = 900
    params = ["server", "client"]
    param_names = ["side"]

    def setup_cache(self):
        url = seeded_database("ECT_BENCH_DB_URL", "ect-bench.db", USERS)
        return count_all(url, selected_calls())

    # The whole count, every call and side: about 10 minutes on this machine kind's slower hosts, and
    # up to about 4 more per counted run while a busy machine is waited out (PAUSES).
    setup_cache.timeout = 2400

    def setup(self, counts, side):
        if "error" in counts:
            raise NotImplementedError(counts["error"])
        if self.call not in counts:
            raise NotImplementedError(f"{self.call} not counted: {SELECTED}={os.environ.get(SELECTED)}")


class StreamInstructions(_Instructions):
    """GetUsersOnlineStream: instructions per streamed item (5,000-item streams; how many: CALLS)."""

    call = "stream"
    unit = "instructions/item"

    def track_instructions_per_item(self, counts, side):
        return counts[self.call][side]


class BufferedInstructions(_Instructions):
    """GetUsersOnline: instructions per item of the one-message answer (5,000 items a call)."""

    call = "buffered"
    unit = "instructions/item"

    def track_instructions_per_item(self, counts, side):
        return counts[self.call][side]


class UnaryInstructions(_Instructions):
    """GetWorkflow: instructions per unary call."""

    call = "unary"
    unit = "instructions/call"

    def track_instructions_per_call(self, counts, side):
        return counts[self.call][side]


class RecommendedStreamInstructions(_Instructions):
    """The recommended streaming read (StreamUsersOnline where the commit has it, else
    GetUsersOnlineStream): instructions per item (5,000-item reads, every item iterated)."""

    call = "recommended"
    unit = "instructions/item"

    def track_instructions_per_item(self, counts, side):
        return counts[self.call][side]
