"""Which commits the history measures (python -m ect_perf measured): those that change the service,
protos, benchmarks or pinned packages, never a results-only or documents-only commit."""

import subprocess
import sys
from pathlib import Path

import pytest

from ect_perf.measured import measured_commits, unmeasured

ROOT = Path(__file__).resolve().parent.parent
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false"]


def commit(repo: Path, path: str, text: str) -> str:
    (repo / path).parent.mkdir(parents=True, exist_ok=True)
    (repo / path).write_text(text)
    subprocess.run([*GIT, "-C", str(repo), "add", path], check=True)
    subprocess.run([*GIT, "-C", str(repo), "commit", "-qm", path], check=True)
    return subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path) -> tuple[Path, dict[str, str]]:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "asv.conf.json").write_text('{"results_dir": "results"}')
    made = {"config": commit(tmp_path, "asv.conf.json", '{"results_dir": "results"}\n')}
    made["service"] = commit(tmp_path, "ect_service/servicer.py", "x = 1\n")
    made["results"] = commit(tmp_path, "results/valgrind/aaaaaaaa-env.json", "{}\n")
    made["docs"] = commit(tmp_path, "README.md", "# docs\n")
    made["tools"] = commit(tmp_path, "ect_perf/gate/verdicts.json", "{}\n")
    made["benchmark"] = commit(tmp_path, "benchmarks/bench_x.py", "y = 2\n")
    return tmp_path, made


def test_only_commits_that_change_what_is_measured(repo):
    path, made = repo
    assert measured_commits(path) == [made["config"], made["service"], made["benchmark"]]
    assert measured_commits(path, f"{made['service']}..HEAD") == [made["benchmark"]]


def test_those_with_results_of_the_machine_are_left_out(repo):
    path, made = repo
    results = path / "results"
    (results / "valgrind").mkdir(parents=True, exist_ok=True)
    (results / "valgrind" / f"{made['service'][:8]}-virtualenv-py3.11.json").write_text("{}")
    assert unmeasured(path, results, "valgrind") == [made["config"], made["benchmark"]]
    assert unmeasured(path, results, "another-host") == [made["config"], made["service"], made["benchmark"]]


def test_the_command_prints_one_hash_a_line_and_a_bad_range_is_one_line(repo):
    path, made = repo

    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "ect_perf", "measured", *args],
            cwd=path,
            capture_output=True,
            text=True,
            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        )

    assert run("--newest").stdout.split() == [made["benchmark"]]
    done = run("no-such-rev")
    assert done.returncode == 2 and done.stdout == "" and len(done.stderr.strip().splitlines()) == 1
    assert "bad revision 'no-such-rev'" in done.stderr
