"""Reading callgrind's files: each function's own instructions, counted once, and its source line."""

from ect_perf.callgrind import read, self_costs

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


def test_the_lowest_line_with_a_cost_locates_a_function_in_its_own_file(tmp_path):
    """eval's costs sit on lines 10 and 13 (+1 after the call line 12) of ceval.c; the library
    without debug information has the file ??? and line 0."""
    out = tmp_path / "callgrind.out"
    out.write_text(CALLGRIND_OUT)
    sources = read(out).sources
    assert sources[("/lib/libpython.so", "eval")] == ("ceval.c", 10)
    assert sources[("/lib/libsqlite3.so", "sqlite3_step")] == ("???", 0)


def test_an_inlined_file_does_not_move_the_function(tmp_path):
    """Costs under fi= (code inlined from a header) belong to the function but not to its file's lines."""
    out = tmp_path / "callgrind.out"
    out.write_text("events: Ir\nob=(1) /lib/a.so\nfl=(1) a.c\nfn=(1) f\n20 5\nfi=(2) inline.h\n3 7\nfe=(1)\n21 1\n")
    functions = read(out)
    assert functions.costs == {("/lib/a.so", "f"): 13}
    assert functions.sources[("/lib/a.so", "f")] == ("a.c", 20)
