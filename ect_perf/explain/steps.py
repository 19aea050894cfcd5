"""The steps of the instruction-count history and their explanations, for the site.

A step is a change of an instruction count between two consecutive measured commits of main (in
the committed `valgrind` results) beyond the gate's threshold for that count (verdicts.json):
what the gate would have flagged. `python -m ect_perf explain-steps` explains each step that has
no explanation yet, against the previous measured commit, and keeps it as
docs/explanations/COMMIT.json and .md (one per commit: every call and side that stepped there);
publish turns them into a page per step linked from the overview page. A step that does not
reproduce when counted again says so: its explanation's own ratio is within the threshold.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ect_perf import INSTRUCTIONS_MACHINE
from ect_perf.gate.explained import COUNTED_CALLS
from ect_perf.gate.policy import Policies, load_policies
from ect_perf.gate.results import result_files

EXPLANATIONS = Path("docs") / "explanations"
_ROW = "bench_instructions.{cls}.track_instructions_per_item('{side}')"


@dataclass(frozen=True)
class Step:
    commit: str
    previous: str
    call: str
    side: str
    before: float
    after: float
    factor: float  # the gate's threshold for this count

    @property
    def ratio(self) -> float:
        return self.after / self.before


def measured_order(root: Path, results_dir: Path, branch: str = "main") -> list[str]:
    """The commits of `branch` with instruction counts, oldest first."""
    counted = {result.commit for result in result_files(results_dir, INSTRUCTIONS_MACHINE) if result.database is None}
    done = subprocess.run(
        ["git", "-C", str(root), "rev-list", "--reverse", "--first-parent", branch],
        capture_output=True,
        text=True,
        check=True,
    )
    return [commit for commit in done.stdout.split() if commit in counted]


def steps(root: Path, results_dir: Path, policies: Policies | None = None, branch: str = "main") -> list[Step]:
    policies = policies or load_policies()
    files = {r.commit: r for r in result_files(results_dir, INSTRUCTIONS_MACHINE) if r.database is None}
    order = measured_order(root, results_dir, branch)
    found = []
    for previous, commit in zip(order, order[1:]):
        for cls, call in COUNTED_CALLS.items():
            for side in ("server", "client"):
                row = _ROW.format(cls=cls, side=side)
                before, after = files[previous].rows.get(row), files[commit].rows.get(row)
                if not before or not after or not before.value or not after.value:
                    continue
                if before.value != before.value or after.value != after.value:
                    continue
                policy = policies.for_benchmark(row)
                ratio = after.value / before.value
                if abs(after.value - before.value) < policy.min_change:  # the gate's floor too
                    continue
                if ratio > policy.factor or ratio < 1 / policy.factor:
                    found.append(Step(commit, previous, call, side, before.value, after.value, policy.factor))
    return found


def by_commit(found: list[Step]) -> dict[str, list[Step]]:
    grouped: dict[str, list[Step]] = {}
    for step in found:
        grouped.setdefault(step.commit, []).append(step)
    return grouped


def reproduced(step: Step, explanation: dict) -> bool | None:
    """Whether counting again moved the count beyond the threshold the same way; None when the
    explanation has no figure for the step's call and side."""
    for change in explanation.get("changes", []):
        if change["call"] == step.call and change["side"] == step.side and change["before"]:
            ratio = change["after"] / change["before"]
            same_way = (ratio > 1) == (step.ratio > 1)
            return same_way and (ratio > step.factor or ratio < 1 / step.factor)
    return None


def explanation_path(folder: Path, commit: str, suffix: str) -> Path:
    return folder / f"{commit[:8]}{suffix}"


def load_explanation(folder: Path, commit: str) -> dict | None:
    path = explanation_path(folder, commit, ".json")
    return json.loads(path.read_text()) if path.is_file() else None
