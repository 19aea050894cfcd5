"""Read asv's result files (results format version 2, asv/results.py) into one row per benchmark
and parameter combination, without asv's API: the files are asv's documented output.

A row is named as asv's own tables name it: `bench.Class.track_x('server', 0)`, or the plain
benchmark name when it has no parameters. Failed is None, skipped (or not run) is NaN.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

RESULTS_FORMAT = 2
# asv.databases.conf.json's matrix variable naming a result's database server (none: SQLite).
DATABASE_VARIABLE = "ECT_BENCH_DATABASE"


class ResultsError(ValueError):
    """A result file that cannot be read as asv's format; the message names the file."""


@dataclass(frozen=True)
class Measurement:
    value: float | None  # None: failed; NaN: skipped
    samples: tuple[float, ...] = ()  # with asv run --record-samples
    repeat: int = 0  # how many samples asv's statistics were made of (0: none recorded)

    @property
    def failed(self) -> bool:
        return self.value is None

    @property
    def missing(self) -> bool:
        """Skipped, or not run: no number, and no failure either."""
        return self.value is not None and isnan(self.value)


def isnan(value) -> bool:
    return isinstance(value, float) and math.isnan(value)


@dataclass(frozen=True)
class ResultFile:
    commit: str
    env: str  # the environment's label: its database server, else asv's environment name
    rows: dict[str, Measurement]
    env_vars: dict = field(default_factory=dict)  # the matrix's environment variables
    params: dict = field(default_factory=dict)  # the machine's description and the environment's
    date: int = 0  # the commit's time, ms since the epoch
    started: float = 0  # when the run's latest benchmark started, ms since the epoch

    @property
    def database(self) -> str | None:
        """The database server it was measured on; None: SQLite (asv.conf.json)."""
        return self.env_vars.get(DATABASE_VARIABLE)


def read_result_file(path: Path) -> ResultFile:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ResultsError(f"cannot read asv result file {path}: {exc}") from None
    if data.get("version") != RESULTS_FORMAT:
        raise ResultsError(f"{path}: asv results format {data.get('version')!r}, expected {RESULTS_FORMAT}")
    columns = data["result_columns"]
    rows: dict[str, Measurement] = {}
    for name, entry in data["results"].items():
        record = dict(zip(columns, entry))
        rows.update(unroll(name, record))
    env_vars = data.get("env_vars") or {}
    env = env_vars.get(DATABASE_VARIABLE) or data.get("env_name", "")
    return ResultFile(
        data["commit_hash"],
        env,
        rows,
        env_vars,
        data.get("params") or {},
        data.get("date") or 0,
        max((data.get("started_at") or {}).values(), default=0),
    )


def unroll(name: str, record: dict) -> dict[str, Measurement]:
    """One row per parameter combination, in asv's order (the product of the parameter lists)."""
    params = record.get("params") or []
    values = record.get("result")
    combos = list(itertools.product(*params)) if params else [()]
    if not isinstance(values, list):  # a benchmark that failed before any combination ran
        values = [values] * len(combos)
    samples = record.get("samples") or [None] * len(combos)
    repeats = record.get("stats_repeat") or [None] * len(combos)
    rows = {}
    for combo, value, combo_samples, repeat in zip(combos, values, samples, repeats):
        label = f"{name}({', '.join(combo)})" if combo else name
        rows[label] = Measurement(_number(value), tuple(float(s) for s in combo_samples or ()), int(repeat or 0))
    return rows


def _number(value) -> float | None:
    if value is None:
        return None
    return float(value)


def result_files(results_dir: Path, machine: str, commit: str = "") -> list[ResultFile]:
    """Every environment's result file on `machine` (asv names them HASH8-ENV.json) of the commits
    whose hash starts with `commit` (every commit: "")."""
    folder = Path(results_dir) / machine
    found = [read_result_file(path) for path in sorted(folder.glob(f"{commit[:8]}*-*.json"))]
    return [result for result in found if result.commit.startswith(commit)]


def rows_by_env(results_dir: Path, machine: str, commit: str) -> dict[tuple[str, str], Measurement]:
    """{(environment, row name): measurement} of one commit: each database's environment apart."""
    return {
        (result.env, name): measurement
        for result in result_files(results_dir, machine, commit)
        for name, measurement in result.rows.items()
    }


def benchmark_units(results_dir: Path) -> dict[str, str]:
    """{benchmark: unit} from the benchmarks.json asv writes at discovery; {} before discovery."""
    path = Path(results_dir) / "benchmarks.json"
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    return {
        name: (entry.get("unit") or "") for name, entry in data.items() if isinstance(entry, dict) and "unit" in entry
    }


def benchmark_rows(results_dir: Path) -> list[str]:
    """Every row asv's discovery found (benchmarks.json), named as `--bench` regexes match them."""
    path = Path(results_dir) / "benchmarks.json"
    if not path.is_file():
        return []
    rows = []
    for name, entry in json.loads(path.read_text()).items():
        if not isinstance(entry, dict) or "params" not in entry:
            continue
        params = entry.get("params") or []
        rows += [f"{name}({', '.join(combo)})" for combo in itertools.product(*params)] if params else [name]
    return sorted(rows)
