"""Measuring the suspects again: interleaved pairs of `asv run`, one process per benchmark each.

Each pair runs BASE and HEAD one after the other, in alternating order (BASE first, then HEAD
first, ...), so that a machine getting slower or faster during the gate weighs on both alike. Each
`asv run` has `rounds=1`: one process per benchmark and revision, whose samples give one replicate.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from ect_perf.gate.judge import Comparison, Confirmation
from ect_perf.gate.run_asv import run_asv, scratch_config
from ect_perf.gate.stats import detectable_change, replicate, row_alpha, worse_test


def selection(rows: list[Comparison]) -> str:
    """An asv --bench regex selecting exactly these rows (asv matches "name(params)")."""
    return "^(?:" + "|".join(sorted({re.escape(row.benchmark) for row in rows})) + ")$"


def measure_again(
    suspects: list[Comparison],
    base: str,
    head: str,
    pairs: int,
    config_path: Path,
    scratch: Path,
    machine: str,
    env_dir: Path | None,
    rows_tested: int | None = None,
) -> dict[tuple[str, str], Confirmation | None]:
    """{row key: its confirmation}; None for a row some run did not measure. rows_tested: how many
    rows share the family's level (default: these suspects)."""
    replicates = {row.key: ([], []) for row in suspects}
    for pair in range(pairs):
        order = [base, head] if pair % 2 == 0 else [head, base]
        config = scratch_config(config_path, scratch / f"confirm-{pair + 1}", env_dir)
        print(f"ect_perf gate: measuring {len(suspects)} suspect(s) again, pair {pair + 1}/{pairs}", file=sys.stderr)
        run = run_asv(config, order, machine, selection(suspects), attributes={"rounds": 1})
        for side, commit in enumerate((base, head)):
            for key, measurement in run.rows(commit).items():
                if key in replicates and not measurement.failed and not measurement.missing:
                    replicates[key][side].append(replicate(measurement.samples or [measurement.value]))
    alpha = row_alpha(rows_tested or len(suspects))
    out = {}
    for row in suspects:
        before, after = replicates[row.key]
        if len(before) < pairs or len(after) < pairs:
            out[row.key] = None
            continue
        out[row.key] = Confirmation(
            tuple(before),
            tuple(after),
            worse_test(before, after, row.better, alpha),
            detectable_change(before, pairs, alpha),
        )
    return out
