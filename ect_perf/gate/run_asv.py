"""Running asv for the gate: `asv run` over the two revisions into a scratch results directory.

Only asv's command line, its exit codes and its result files are used: `asv run HASHFILE:F` with
both commits and `--interleave-rounds` (what `asv continuous` runs), then each revision's file is
read. asv run exits 0 when every benchmark ran, 2 when one failed (a revision that did not build
has every benchmark failed), 1 when it stopped early (no benchmark selected, an unknown commit).
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ect_perf.gate.results import rows_by_env

ASV_OK, ASV_STOPPED, ASV_FAILED = 0, 1, 2


class BadRevision(ValueError):
    pass


def rev_parse(repo: Path, rev: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise BadRevision(f"unknown revision {rev!r} in {repo}")
    return done.stdout.strip()


def scratch_config(config_path: Path, results_dir: Path, env_dir: Path | None = None) -> Path:
    """The configuration with results (and html) in `results_dir`, everything else resolved next to
    the original: the checkout's own benchmark suite and, by default, its asv environments."""
    config = load_config_json(config_path)
    root = config_path.resolve().parent
    config.update(
        repo=str((root / config.get("repo", ".")).resolve()),
        benchmark_dir=str(root / config.get("benchmark_dir", "benchmarks")),
        env_dir=str(env_dir or root / config.get("env_dir", "env")),
        results_dir=str(results_dir),
        html_dir=str(results_dir / "html"),
    )
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / "asv.conf.json"
    path.write_text(json.dumps(config))
    return path


def env_dir(config_path: Path) -> Path:
    """The configuration's asv environments, where the gate and asv build anyway: builds stay cached."""
    return config_path.resolve().parent / load_config_json(config_path).get("env_dir", "env")


def load_config_json(path: Path) -> dict:
    """asv.conf.json allows // comment lines (asv's own reader strips them the same way)."""
    lines = [line for line in Path(path).read_text().splitlines() if not line.lstrip().startswith("//")]
    return json.loads("\n".join(lines))


@dataclass(frozen=True)
class Run:
    """One `asv run` over both revisions: its exit code and what it wrote."""

    code: int
    results_dir: Path
    machine: str

    def rows(self, commit: str) -> dict:
        return rows_by_env(self.results_dir, self.machine, commit)


def run_asv(
    config: Path, commits: list[str], machine: str, bench: str | None, attributes: dict[str, int] | None = None
) -> Run:
    """asv run of `commits` in that order (rounds interleaved between them), samples recorded.
    The log goes to stderr as it comes; the verdict is read from the exit code and the files."""
    results_dir = config.parent
    hashfile = results_dir / "commits.txt"
    hashfile.write_text("\n".join(dict.fromkeys(commits)) + "\n")  # BASE == HEAD: run once
    command = [
        sys.executable,
        "-m",
        "asv",
        "--config",
        str(config),
        "run",
        "--machine",
        machine,
        "--record-samples",
        "--interleave-rounds",
        "--show-stderr",
        *(["--bench", bench] if bench else []),
        *(arg for name, value in (attributes or {}).items() for arg in ("-a", f"{name}={value}")),
        f"HASHFILE:{hashfile}",
    ]
    code = subprocess.run(command, stdout=sys.stderr, stderr=subprocess.STDOUT).returncode
    return Run(code, results_dir, machine)
