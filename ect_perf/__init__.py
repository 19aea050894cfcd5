"""ect-perf's own tools over asv results: the performance-targets report and the pull-request gate.

Run from the repository root: `python -m ect_perf targets`, `python -m ect_perf gate`.
"""

# Wall-clock results go under a machine name per host (ect_perf.hosts.host_machine), with asv's
# detected description of the host (cpu, os, ...): each host keeps its own series and results.

# The instruction counts (benchmarks/bench_instructions.py) do not depend on the host: they are
# recorded under this name with one fixed description, so asv draws one series for every host.
INSTRUCTIONS_MACHINE = "valgrind"
INSTRUCTIONS_MACHINE_INFO = {
    "machine": INSTRUCTIONS_MACHINE,
    "arch": "x86_64",
    "cpu": "any x86_64 host (instructions counted under valgrind)",
    "num_cpu": "2",
    "os": "Linux",
    "ram": "any",
}
