"""Reading the committed asv results for the targets and the site: which result is the newest, and
one benchmark's values. The files are read as the gate reads them (gate/results.py: asv's result
format, not its Python API)."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from ect_perf.gate.results import DATABASE_VARIABLE, ResultFile, result_files
from ect_perf.gate.run_asv import load_config_json
from ect_perf.hosts import wall_clock_machines

__all__ = ["DATABASE_VARIABLE", "Config", "NoResults", "latest_result", "load_config", "newest_result", "values"]


class NoResults(LookupError):
    """There are no results to read; the message says where none were found."""


@dataclass(frozen=True)
class Config:
    """What the readers need of asv.conf.json; its folders as asv takes them (relative to the
    working directory, as configured)."""

    results_dir: str
    benchmark_dir: str


def load_config(path: str | Path = "asv.conf.json") -> Config:
    if not Path(path).is_file():
        raise NoResults(f"{path} not found: run from the repository root or pass --config")
    config = load_config_json(Path(path))
    return Config(config.get("results_dir", "results"), config.get("benchmark_dir", "benchmarks"))


def latest_result(config: Config, machine: str, commit: str | None = None, database: str | None = None) -> ResultFile:
    """The result file of `commit` (a hash prefix), else of the newest commit measured on `machine`,
    on `database` (a server named in asv.databases.conf.json; None: SQLite)."""
    if not (Path(config.results_dir) / machine / "machine.json").is_file():
        raise NoResults(f"no asv results for machine {machine!r} in {config.results_dir}/")
    results = [r for r in result_files(Path(config.results_dir), machine, commit or "") if r.database == database]
    if not results:
        raise NoResults(
            f"no asv results for machine {machine!r}"
            + (f" and commit {commit}" if commit else "")
            + (f" on {database}" if database else "")
        )
    return max(results, key=_newest)


def newest_result(
    config: Config, machines: list[str] | None = None, commit: str | None = None, database: str | None = None
) -> ResultFile:
    """latest_result over several machines (default: every host's wall-clock results): the newest
    commit, and of a commit measured on several hosts, the latest run. Its params["machine"] names
    the host."""
    if machines is None:
        machines = wall_clock_machines(config.results_dir)
    found = []
    for machine in machines:
        try:
            found.append(latest_result(config, machine, commit, database))
        except NoResults:
            pass
    if not found:
        raise NoResults(
            f"no asv results for machines {', '.join(machines) or '(none)'} in {config.results_dir}/"
            + (f" for commit {commit}" if commit else "")
            + (f" on {database}" if database else "")
        )
    return max(found, key=_newest)


def _newest(result: ResultFile):
    """Order by the commit's author time, then by when the run started."""
    return result.date, result.started


def values(result: ResultFile, benchmark: str) -> dict[tuple, float | None]:
    """A benchmark's values keyed by parameter tuple (() when not parameterised); {} if not run.
    Failed is None, skipped NaN."""
    found = {}
    for row, measurement in result.rows.items():
        name, _, params = row.partition("(")
        if name == benchmark:
            found[_params(params[:-1]) if params else ()] = measurement.value
    return found


def _params(text: str) -> tuple:
    """A row's parameters as values: "'p50', 100" -> ('p50', 100) (asv stores each as its repr)."""
    try:
        return tuple(ast.literal_eval(f"({text},)"))
    except (ValueError, SyntaxError):
        return tuple(part.strip() for part in text.split(","))
