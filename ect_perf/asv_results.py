"""Reading asv results through asv's own API: which results exist, and one benchmark's values."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

from asv.config import Config
from asv.results import iter_results_for_machine

from ect_perf.hosts import wall_clock_machines


class NoResults(LookupError):
    """There are no results to read; the message says where none were found."""


def load_config(path: str | Path = "asv.conf.json") -> Config:
    if not Path(path).is_file():
        raise NoResults(f"{path} not found: run from the repository root or pass --config")
    return Config.load(str(path))


# asv.databases.conf.json's environment variable naming a result's database server; SQLite's
# results (asv.conf.json) have none.
DATABASE_VARIABLE = "ECT_BENCH_DATABASE"


def latest_result(config: Config, machine: str, commit: str | None = None, database: str | None = None):
    """The result file of `commit` (a hash prefix), else of the newest commit measured on `machine`,
    on `database` (a server named in asv.databases.conf.json; None: SQLite)."""
    machine_dir = Path(config.results_dir) / machine
    if not (machine_dir / "machine.json").is_file():
        raise NoResults(f"no asv results for machine {machine!r} in {config.results_dir}/")
    results = [r for r in iter_results_for_machine(config.results_dir, machine)
               if r.env_vars.get(DATABASE_VARIABLE) == database]
    if commit:
        results = [r for r in results if r.commit_hash.startswith(commit)]
    if not results:
        raise NoResults(f"no asv results for machine {machine!r}" + (f" and commit {commit}" if commit else "")
                        + (f" on {database}" if database else ""))
    return max(results, key=_newest)


def newest_result(config: Config, machines: list[str] | None = None, commit: str | None = None,
                  database: str | None = None):
    """latest_result over several machines (default: every host's wall-clock results): the newest
    commit, and of a commit measured on several hosts, the latest run. Its .params["machine"] names
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
        raise NoResults(f"no asv results for machines {', '.join(machines) or '(none)'} in {config.results_dir}/"
                        + (f" for commit {commit}" if commit else "") + (f" on {database}" if database else ""))
    return max(found, key=_newest)


def _newest(result):
    """Order by the commit's author time, then by when the run started."""
    return result.date or 0, max(result.started_at.values(), default=0)


def values(result, benchmark: str) -> dict[tuple, float | None]:
    """A benchmark's values keyed by parameter tuple (() when not parameterised); {} if not run."""
    if benchmark not in result.get_all_result_keys():
        return {}
    params = result.get_result_params(benchmark)
    raw = result.get_result_value(benchmark, params)
    if not params:
        return {(): raw[0] if isinstance(raw, list) else raw}
    combos = [tuple(_plain(v) for v in combo) for combo in itertools.product(*params)]
    return dict(zip(combos, raw))


def _plain(value_repr: str):
    """asv stores parameter values as their repr: "'p50'" -> 'p50', "100" -> 100."""
    try:
        return ast.literal_eval(value_repr)
    except (ValueError, SyntaxError):
        return value_repr
