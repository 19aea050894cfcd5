"""ect-perf's own tools over asv results: the performance-targets report and the pull-request gate.

Run from the repository root: `python -m ect_perf targets`, `python -m ect_perf gate`.
"""

DEFAULT_MACHINE = "python-svc"
