"""The measuring apparatus the benchmarks run on, the same for every commit measured (asv takes the
suite from the checkout, the service from the commit):

- harness.py: a real server process of the commit's `ect_service` on loopback, stopped whatever
  happens; probe/: its gc and tracemalloc counters, read on request;
- recommended.py: which read is the commit's recommended streaming read;
- counting.py and instruction_client.py: instruction counts under valgrind (the counted runs, the
  busy-machine rule, the counted client);
- interleaved.py: two revisions' servers side by side, their calls in turn (the gate's confirmation);
- explaining.py and allocation_sites.py: one revision's calls counted by function, and its memory
  by allocation site (what `python -m ect_perf explain` compares between two).
"""


def parse_calls(parser, text: str, known) -> list[str]:
    """The comma-separated calls of a measuring command line; parser.error (exit 2) on an unknown one."""
    calls = [call for call in text.split(",") if call]
    unknown = sorted(set(calls) - set(known))
    if unknown:
        parser.error(f"unknown call(s) {unknown}; choose from {', '.join(known)}")
    return calls
