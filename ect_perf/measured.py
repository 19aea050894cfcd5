"""Which commits the history measures: those that change what is measured.

A commit that changes only results or documents runs the same service, benchmarks and packages as
its parent, so measuring it adds a point equal to its parent's (and then a results commit to
measure in turn). asv measures the commits that touch MEASURED; `python -m ect_perf measured` lists
them for `asv run HASHFILE:...` (history.yml, docs/history.md).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

# The service, its protocol, the benchmarks and their measuring code, and the pinned packages.
MEASURED = ("ect_service", "protos", "benchmarks", "pyproject.toml", "asv.conf.json", "asv.databases.conf.json")


class GitError(RuntimeError):
    """A git command that failed; the message is git's last line."""


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise GitError(f"git {' '.join(args)}: {(done.stderr.strip().splitlines() or ['failed'])[-1]}")
    return done.stdout


def measured_commits(root: Path, rev_range: str = "HEAD") -> list[str]:
    """The commits of `rev_range` (git rev-list syntax) that change MEASURED, oldest first."""
    return _git(root, "rev-list", "--reverse", rev_range, "--", *MEASURED).split()


def unmeasured(root: Path, results_dir: Path, machine: str, rev_range: str = "HEAD") -> list[str]:
    """measured_commits without a result of `machine` in results_dir (asv names its files
    HASH8-ENVIRONMENT.json)."""
    folder = results_dir / machine
    have = {path.name.split("-", 1)[0] for path in folder.glob("*-*.json")} if folder.is_dir() else set()
    return [commit for commit in measured_commits(root, rev_range) if commit[:8] not in have]
