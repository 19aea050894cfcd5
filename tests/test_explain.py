"""`python -m ect_perf explain`: where a call's instructions went between two revisions.

The comparison is tested on per-item figures as compare.py receives them; the probe's Python counts
on a real interpreter. The whole command on real counts runs in the slow tier inside the gate:
test_calibrate_smoke.py adds work to the recommended read in a scratch clone, and the gate's
explanation must name the function that does the work first.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.measuring.harness import PROBE_DIR
from ect_perf.explain.compare import Side, compare_side, is_interpreter, library_name, python_file
from ect_perf.explain.render import as_json, markdown, side_from_json, summary

ROOT = Path(__file__).resolve().parent.parent
PYTHON_LIB = "/usr/lib/libpython3.11.so.1.0"
SQLITE = "/usr/lib/x86_64-linux-gnu/libsqlite3.so.0.8.6"
LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6"
GIT_USER = ["-c", "user.name=explain test", "-c", "user.email=explain-test@example.invalid"]


def side(functions: dict, python: dict | None = None, lines: dict | None = None) -> Side:
    sources = {key: ("file.c", 10) for key in functions}
    return Side(5_000, sum(functions.values()), functions, sources, python or {}, lines or {})


BEFORE = {
    (PYTHON_LIB, "_PyEval_EvalFrameDefault"): 4_000.0,
    (SQLITE, "sqlite3VdbeExec"): 3_000.0,
    (LIBC, "pthread_mutex_lock"): 1_000.0,
}
PAGES = ("ect_service/servicer.py", "user_columns_pages")
LOOP = ("asyncio/base_events.py", "BaseEventLoop._run_once")


def test_python_files_are_named_as_a_reader_knows_them():
    assert python_file("/tmp/x/base/ect_service/servicer.py", "/tmp/x/base") == "ect_service/servicer.py"
    assert python_file("/e/lib/python3.11/site-packages/sqlalchemy/engine/result.py") == "sqlalchemy/engine/result.py"
    assert python_file("/root/.pyenv/versions/3.11.7/lib/python3.11/asyncio/events.py") == "asyncio/events.py"
    assert python_file("<frozen importlib._bootstrap>") == "<frozen importlib._bootstrap>"


def test_libraries_get_names_a_reader_knows():
    assert library_name(SQLITE) == "SQLite (libsqlite3.so.0.8.6)"
    assert library_name(PYTHON_LIB).startswith("CPython")
    assert is_interpreter(PYTHON_LIB) and is_interpreter("/root/.pyenv/versions/3.11.7/bin/python3.11")
    assert not is_interpreter("/e/lib/python3.11/lib-dynload/_sqlite3.cpython-311-x86_64-linux-gnu.so")
    assert library_name("/opt/libunknown.so") == "libunknown.so"


def test_work_the_interpreter_did_is_named_by_its_python_function():
    """Python code that does more makes the interpreter execute more: the Python function whose own
    bytecodes grew comes first, not _PyEval_EvalFrameDefault."""
    after = {**BEFORE, (PYTHON_LIB, "_PyEval_EvalFrameDefault"): 4_230.0, (LIBC, "pthread_mutex_lock"): 1_001.0}
    change = compare_side(
        "recommended",
        "server",
        side(BEFORE, {PAGES: (0.0016, 3.0), LOOP: (0.01, 2.0)}, {PAGES: 103}),
        side(after, {PAGES: (0.0016, 15.4), LOOP: (0.01, 2.0)}, {PAGES: 299}),  # HEAD's line
        top=10,
    )
    assert change.change == pytest.approx(231)
    assert change.first == {
        "kind": "python",
        "file": "ect_service/servicer.py",
        "line": 299,
        "function": "user_columns_pages",
        "change": pytest.approx(12.4),
    }
    assert change.explained == pytest.approx(1.0)
    assert [name for name, *_ in change.libraries][:2] == [PYTHON_LIB, LIBC]
    text = "\n".join(summary(change))
    assert "`ect_service/servicer.py:299` `user_columns_pages`" in text and "+231 instructions per item" in text


def test_a_python_function_that_moved_down_its_file_is_the_same_function():
    key = ("ect_service/servicer.py", "user_batch")
    change = compare_side(
        "stream",
        "server",
        side(BEFORE, {key: (1.0, 40.0)}, {key: 70}),
        side(dict(BEFORE), {key: (1.0, 40.0)}, {key: 95}),
        top=5,
    )
    (row,) = change.python
    assert (row.line, row.change) == (95, 0)


def test_code_objects_of_one_name_add_up_at_the_busiest_ones_line(tmp_path):
    """A function redefined further down (the calibration's wrappers) is one row: both code objects'
    counts, at the line of the one that ran most bytecodes."""
    from ect_perf.explain.compare import _python_counts

    counts = tmp_path / "counts.json"
    counts.write_text(
        json.dumps(
            [
                ["/src/ect_service/servicer.py", 103, "user_columns_pages", 8, 400],
                ["/src/ect_service/servicer.py", 900, "user_columns_pages", 8, 4_000],
                ["/env/lib/python3.11/site-packages/sqlalchemy/pool/base.py", 10, "checkout", 8, 80],
            ]
        )
    )
    found, lines = _python_counts(counts, "/src")
    assert found == {
        ("ect_service/servicer.py", "user_columns_pages"): (16, 4_400),
        ("sqlalchemy/pool/base.py", "checkout"): (8, 80),
    }
    assert lines[("ect_service/servicer.py", "user_columns_pages")] == 900


def test_a_python_change_below_half_a_bytecode_an_item_names_the_native_function():
    """The interpreter's instructions moved, but no Python function ran measurably more or less of
    its own code: the native function that moved most comes first, not the event loop's noise."""
    after = {**BEFORE, (PYTHON_LIB, "_PyEval_EvalFrameDefault"): 3_800.0}
    change = compare_side(
        "stream", "server", side(BEFORE, {LOOP: (0.01, 2.0)}), side(after, {LOOP: (0.01, 1.99)}), top=10
    )
    assert change.first["kind"] == "native" and change.first["function"] == "_PyEval_EvalFrameDefault"


def test_what_is_named_first_moved_the_way_the_net_change_went():
    """A step that made the server cheaper is not explained by the event loop running more
    bytecodes, nor by a native function that got dearer: the largest move the net change's way
    comes first, though a larger one went the other way."""
    after = {**BEFORE, (PYTHON_LIB, "_PyEval_EvalFrameDefault"): 3_700.0, (LIBC, "pthread_mutex_lock"): 1_050.0}
    python_before = {PAGES: (1, 40.0), LOOP: (1, 10.0)}
    python_after = {PAGES: (1, 10.0), LOOP: (1, 50.0)}
    change = compare_side("stream", "server", side(BEFORE, python_before), side(after, python_after), top=10)
    assert change.change == -250 and change.python[0].function == LOOP[1]  # +40 bytecodes: the largest move
    assert (change.first["kind"], change.first["function"], change.first["change"]) == ("python", PAGES[1], -30)
    native = {
        (PYTHON_LIB, "_PyEval_EvalFrameDefault"): 3_880.0,
        (SQLITE, "sqlite3VdbeExec"): 3_150.0,
        (LIBC, "pthread_mutex_lock"): 920.0,
    }
    cheaper = compare_side("stream", "server", side(BEFORE), side(native), top=10)
    assert cheaper.change == -50 and cheaper.functions[0].function == "sqlite3VdbeExec"  # +150
    assert (cheaper.first["function"], cheaper.first["change"]) == ("_PyEval_EvalFrameDefault", -120)


def test_a_native_change_is_named_by_its_function_and_source():
    after = {**BEFORE, (SQLITE, "sqlite3VdbeExec"): 3_300.0, (PYTHON_LIB, "_PyEval_EvalFrameDefault"): 4_010.0}
    change = compare_side("stream", "server", side(BEFORE, {LOOP: (1, 2)}), side(after, {LOOP: (1, 2)}), top=10)
    assert change.first["kind"] == "native"
    assert change.first["function"] == "sqlite3VdbeExec" and change.first["library"].startswith("SQLite")
    assert "`sqlite3VdbeExec` in SQLite (libsqlite3.so.0.8.6), `file.c:10`" in "\n".join(summary(change))


def test_the_listed_rows_explain_their_share_of_the_net_change_once():
    """Own instructions add up to the total: with the list cut to one row, that row's share is what
    it explains; a change that cancels out leaves nothing to explain."""
    after = {**BEFORE, (SQLITE, "sqlite3VdbeExec"): 3_090.0, (LIBC, "pthread_mutex_lock"): 1_010.0}
    change = compare_side("stream", "server", side(BEFORE), side(after), top=1)
    assert change.explained == pytest.approx(0.9)
    unchanged = compare_side("stream", "server", side(BEFORE), side(dict(BEFORE)), top=10)
    assert unchanged.explained is None and unchanged.change == 0


def test_more_functions_are_listed_until_they_explain_most_of_the_change():
    """Work spread over many functions: beyond `top`, rows are added until they explain
    EXPLAINED_TARGET (90%) of the net change, and never more than MOST_LISTED (100)."""
    from ect_perf.explain.compare import EXPLAINED_TARGET, MOST_LISTED

    assert (EXPLAINED_TARGET, MOST_LISTED) == (0.9, 100)
    many = {(PYTHON_LIB, f"helper_{n:03}"): 10.0 for n in range(100)}
    twenty = compare_side(
        "stream", "server", side(many), side({**many, **{key: 15.0 for key in list(many)[:20]}}), top=3
    )
    assert twenty.change == pytest.approx(100) and len(twenty.functions) == 18
    assert twenty.explained == pytest.approx(0.9)
    more = {(PYTHON_LIB, f"helper_{n:03}"): 10.0 for n in range(2 * MOST_LISTED)}
    everywhere = compare_side("stream", "server", side(more), side({key: 11.0 for key in more}), top=3)
    assert len(everywhere.functions) == MOST_LISTED and everywhere.explained == pytest.approx(0.5)


def test_markdown_and_json_carry_every_side(tmp_path):
    from ect_perf.explain import Explanation

    after = {**BEFORE, (SQLITE, "sqlite3VdbeExec"): 3_300.0}
    changes = [compare_side("stream", name, side(BEFORE), side(after), top=5) for name in ("server", "client")]
    explanation = Explanation("a" * 40, "b" * 40, changes, 3.5, [])
    text = markdown(explanation)
    assert text.count("<details>") == 2 and "`aaaaaaaa` → `bbbbbbbb`" in text
    data = json.loads(as_json(explanation))
    assert [entry["side"] for entry in data["changes"]] == ["server", "client"]
    assert data["changes"][0]["first"]["function"] == "sqlite3VdbeExec"
    assert side_from_json(data["changes"][0]) == changes[0]  # read back whole


SCRIPT = """
def work(turns):
    for _ in range(turns):
        pass

for _ in range(10):
    work({turns})
"""


def python_counts(tmp_path: Path, turns: int, name: str) -> dict:
    script = tmp_path / f"{name}.py"
    script.write_text(SCRIPT.format(turns=turns))
    counts = tmp_path / f"{name}.json"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(PROBE_DIR), "ECT_PROBE_PYTHON_COUNTS": str(counts)}
    subprocess.run([sys.executable, str(script)], env=env, check=True, timeout=60)
    return {(Path(file).name, name): (calls, codes) for file, _, name, calls, codes in json.loads(counts.read_text())}


def test_the_probe_counts_each_python_functions_calls_and_own_bytecodes(tmp_path):
    """The same code gives the same counts; more loop turns, more bytecodes in that function only."""
    first, again = python_counts(tmp_path, 100, "a"), python_counts(tmp_path, 100, "b")
    more = python_counts(tmp_path, 200, "c")
    assert first[("a.py", "work")][0] == 10
    assert first[("a.py", "work")] == again[("b.py", "work")]
    added = more[("c.py", "work")][1] - first[("a.py", "work")][1]
    assert added > 0 and added % (10 * 100) == 0  # a whole number of bytecodes per added turn
    assert more[("c.py", "<module>")] == first[("a.py", "<module>")]


def test_an_unknown_call_is_one_line_and_exit_2():
    done = subprocess.run(
        [sys.executable, "-m", "ect_perf", "explain", "HEAD", "HEAD", "everything"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "choose from stream, buffered, unary, recommended" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 2  # argparse's usage line, then the error


def test_an_unknown_revision_is_one_line_and_exit_2():
    done = subprocess.run(
        [sys.executable, "-m", "ect_perf", "explain", "no-such-revision", "HEAD"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == "ect_perf explain: unknown revision 'no-such-revision' in " + str(ROOT)


def test_the_command_lines_offer_exactly_the_counted_calls():
    from benchmarks.measuring.counting import CALLS as COUNTED
    from ect_perf.__main__ import COUNTED_CALLS
    from ect_perf.explain import CALLS

    assert COUNTED_CALLS == CALLS == tuple(COUNTED)
