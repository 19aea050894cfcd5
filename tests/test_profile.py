"""`python -m ect_perf profile`: a call's instructions split by library and function, under callgrind."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.measuring.counting import CALLS
from ect_perf.__main__ import build_parser

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
    done = subprocess.run(
        [sys.executable, "-m", "ect_perf", "profile", "unary", "--calls", "40", "--top", "10"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    head, libraries, functions = done.stdout.split("\n\n")
    per_item = number(re.match(r"unary, server: ([\d,]+) instructions per item \(40 items;", head).group(1))
    # GetWorkflow costs the server over a million instructions a call (StreamInstructions' history)
    assert per_item > 500_000
    assert libraries.startswith("per library:") and "libpython" in libraries
    by_library = [number(line.split()[0]) for line in libraries.splitlines()[1:]]
    assert sum(by_library) == pytest.approx(per_item, rel=0.01)
    assert functions.startswith("the 10 costliest functions")
    by_function = [number(line.split()[0]) for line in functions.splitlines()[1:]]
    assert len(by_function) == 10 and by_function == sorted(by_function, reverse=True)


def number(text: str) -> float:
    return float(text.replace(",", ""))
