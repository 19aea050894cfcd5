"""`python -m ect_perf profile`: a call's instructions split by library and function, under callgrind."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.measuring.counting import CALLS
from ect_perf.__main__ import build_parser
from ect_perf.profile import profile

ROOT = Path(__file__).resolve().parent.parent
needs_valgrind = pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")


def test_the_command_offers_exactly_the_counted_calls():
    for call in CALLS:
        assert build_parser().parse_args(["profile", call]).call == call
    done = subprocess.run(
        [sys.executable, "-m", "ect_perf", "profile", "everything"], cwd=ROOT, capture_output=True, text=True
    )
    offered = re.search(r"choose from (.*)\)", done.stderr).group(1)
    assert sorted(re.findall(r"'(\w+)'", offered)) == sorted(CALLS)


def test_an_unknown_call_is_one_line_and_exit_2():
    done = subprocess.run(
        [sys.executable, "-m", "ect_perf", "profile", "everything"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "invalid choice: 'everything'" in done.stderr and "Traceback" not in done.stderr


@needs_valgrind
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_real_profile_splits_the_whole_cost_per_item():
    result = profile("unary", calls=40, side="server", top=10)
    assert result.items == 40
    # GetWorkflow costs the server over a million instructions a call (StreamInstructions' history)
    assert result.per_item > 500_000
    libraries = dict(result.by_library)
    assert sum(libraries.values()) == pytest.approx(result.per_item, rel=0.01)
    assert any("libpython" in library for library in libraries)
    assert len(result.by_function) == 10
    assert [cost for *_, cost in result.by_function] == sorted((cost for *_, cost in result.by_function), reverse=True)


@needs_valgrind
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_command_prints_the_split():
    done = subprocess.run(
        [sys.executable, "-m", "ect_perf", "profile", "unary", "--calls", "20", "--top", "5"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "unary, server:" in done.stdout and "instructions per item" in done.stdout
    assert "per library:" in done.stdout and "libpython" in done.stdout
