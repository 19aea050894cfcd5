"""`python -m ect_perf profile`: a call's instructions split by library and function, under callgrind."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.measuring.counting import CALLS
from ect_perf.__main__ import build_parser
from ect_perf.profile import profile, self_costs

ROOT = Path(__file__).resolve().parent.parent
needs_valgrind = pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")

# callgrind's format as valgrind 3.19 writes it: names compressed to "(id)" after their first use,
# a call's target (cfn) named from the same table as functions, each call's inclusive cost on the
# line after `calls=` (the callee's, not the caller's own), and a recursion level as a suffix ('2).
CALLGRIND_OUT = """\
version: 1
creator: callgrind-3.19.0
events: Ir
summary: 1116

ob=(1) /lib/libpython.so
fl=(1) ceval.c
fn=(1) eval
10 100
cob=(2) /lib/libsqlite3.so
cfi=(2) ???
cfn=(2) sqlite3_step
calls=3 0
12 1000
+1 10
ob=(2)
fl=(2)
fn=(2)
0 1000
ob=(1)
fl=(1)
fn=(1)
* 1
fn=(3) eval'2
0 5
"""


def test_self_costs_charge_each_function_its_own_instructions(tmp_path):
    out = tmp_path / "callgrind.out"
    out.write_text(CALLGRIND_OUT)
    costs = self_costs(out)
    assert costs == {("/lib/libpython.so", "eval"): 116, ("/lib/libsqlite3.so", "sqlite3_step"): 1000}
    assert sum(costs.values()) == 1116  # the file's summary


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
