"""The gate's reasons: which counts it explains, and what it says of a wall-clock regression with no
change of CPU work; both in the report (Markdown and JSON). The explaining itself: test_explain.py."""

import json
from pathlib import Path

import pytest

from ect_perf.explain import Explanation
from ect_perf.explain.compare import Side, compare_side
from ect_perf.gate.explained import calls_to_explain, counted_call, waiting_notes
from ect_perf.gate.judge import Report, exit_code, judge_row
from ect_perf.gate.policy import Policy
from ect_perf.gate.render import as_json, markdown
from ect_perf.gate.results import Measurement

COUNT = Policy("lower", "factor", 1.01)
WALL_HIGHER = Policy("higher", "statistics", 1.10)
WALL_LOWER = Policy("lower", "statistics", 1.10)
ROOT = Path(__file__).resolve().parent.parent
RECOMMENDED_SERVER = "bench_instructions.RecommendedStreamInstructions.track_instructions_per_item('server')"
UNARY_CLIENT = "bench_instructions.UnaryInstructions.track_instructions_per_item('client')"
THROUGHPUT = "bench_throughput.RecommendedStreamThroughput.track_items_per_second"
CPU_SERVER = "bench_cpu.CpuPerItem.track_cpu_us_per_item('server')"
FIRST_ITEM = "bench_latency.RecommendedTimeToFirstItem.track_first_item_ms('p50')"


def row(name, policy, before, after, verdict=None):
    found = judge_row("", name, policy, Measurement(before), Measurement(after))
    if verdict:
        from dataclasses import replace

        found = replace(found, verdict=verdict)
    return found


def test_each_count_row_names_its_call_and_side():
    assert counted_call(row(RECOMMENDED_SERVER, COUNT, 1, 1)) == ("recommended", "server")
    assert counted_call(row(UNARY_CLIENT, COUNT, 1, 1)) == ("unary", "client")
    assert counted_call(row(THROUGHPUT, WALL_HIGHER, 1, 1)) is None


def test_only_the_counts_that_moved_are_explained():
    rows = [
        row(RECOMMENDED_SERVER, COUNT, 11_700, 11_934),  # +2%: regressed
        row(UNARY_CLIENT, COUNT, 1_000, 1_001),  # +0.1%: unchanged
        row("bench_instructions.StreamInstructions.track_instructions_per_item('client')", COUNT, 100, 90),
        row(THROUGHPUT, WALL_HIGHER, 600_000, 400_000, verdict="regressed"),
    ]
    assert calls_to_explain(rows) == {"recommended": {"server"}, "stream": {"client"}}


def test_a_wall_clock_regression_without_cpu_change_says_the_time_went_to_waiting():
    rows = [
        row(THROUGHPUT, WALL_HIGHER, 600_000, 500_000, verdict="regressed"),
        row(RECOMMENDED_SERVER, COUNT, 11_700, 11_702),
        row(CPU_SERVER, WALL_LOWER, 10.0, 10.2),
        row(FIRST_ITEM, WALL_LOWER, 0.60, 0.70),  # moved the same way beyond the screen (5%)
    ]
    notes = waiting_notes(rows)
    assert list(notes) == [THROUGHPUT]
    assert notes[THROUGHPUT].startswith("CPU work unchanged (no instruction count or CPU time per item moved)")
    assert "moved with it: first item 1.17x" in notes[THROUGHPUT]


@pytest.mark.parametrize("moved", [RECOMMENDED_SERVER, CPU_SERVER])
def test_no_such_note_when_the_cpu_work_moved(moved):
    rows = [
        row(THROUGHPUT, WALL_HIGHER, 600_000, 500_000, verdict="regressed"),
        row(RECOMMENDED_SERVER, COUNT, 11_700, 11_702),
        row(CPU_SERVER, WALL_LOWER, 10.0, 10.2),
    ]
    rows = [row(r.benchmark, COUNT, 1, 2, verdict="regressed") if r.benchmark == moved else r for r in rows]
    assert waiting_notes(rows) == {}


def test_the_report_carries_the_explanation_under_the_table():
    lib = "/usr/lib/libpython3.11.so.1.0"
    pages = ("ect_service/servicer.py", "user_columns_pages")
    before = Side(5_000, 11_700, {(lib, "_PyEval_EvalFrameDefault"): 11_700.0}, {}, {pages: (0.0016, 3.0)})
    after = Side(
        5_000, 11_934, {(lib, "_PyEval_EvalFrameDefault"): 11_934.0}, {}, {pages: (0.0016, 15.0)}, {pages: 299}
    )
    change = compare_side("recommended", "server", before, after, top=10)
    rows = [row(RECOMMENDED_SERVER, COUNT, 11_700, 11_934)]
    report = Report(
        "main",
        "HEAD",
        exit_code(rows),
        rows,
        seconds=900.0,
        explanation=Explanation("a" * 40, "b" * 40, [change], 4.0, []),
        explain_seconds=240.0,
    )
    text = markdown(report)
    table_end = text.index("| 🔴 regressed |")
    why = text.index("**Where the instructions went** (counted again by function in 4.0 min)")
    assert table_end < why
    assert (
        "- **recommended, server**: +234 instructions per item (+2.0%: 11,700 → 11,934); first: "
        "`ect_service/servicer.py:299` `user_columns_pages`" in text
    )
    assert "<details><summary>By function</summary>" in text
    data = json.loads(as_json(report))
    assert data["explanation"]["changes"][0]["first"]["function"] == "user_columns_pages"
    assert data["explanation"]["seconds"] == 240.0


def test_a_failed_explanation_is_said_not_hidden():
    rows = [row(RECOMMENDED_SERVER, COUNT, 11_700, 11_934)]
    report = Report("main", "HEAD", exit_code(rows), rows, explain_error="counting 1234abcd failed (exit 1)")
    assert "The counts that moved could not be explained: counting 1234abcd failed (exit 1)" in markdown(report)
    assert json.loads(as_json(report))["explanation"] == {"error": "counting 1234abcd failed (exit 1)"}


MEMORY_POLICY = Policy("lower", "statistics", 1.10)


def test_each_memory_row_that_moved_names_the_calls_it_measures():
    from ect_perf.gate.explained import MEMORY_CALLS, memory_calls_to_explain

    rows = [
        row("bench_memory.RecommendedStreamMemory.track_allocated_kb", MEMORY_POLICY, 100, 150, verdict="regressed"),
        row("bench_memory.AllocatedMemory.track_allocated_kb('buffered')", MEMORY_POLICY, 900, 600, verdict="improved"),
        row("bench_memory.AllocatedMemory.track_allocated_kb('stream')", MEMORY_POLICY, 100, 104),  # unchanged
        row("bench_memory.GcPressure.track_gc_collections('server', 0)", MEMORY_POLICY, 0, 3, verdict="regressed"),
    ]
    assert memory_calls_to_explain(rows) == ("buffered", "recommended")
    assert memory_calls_to_explain(rows[2:]) == ()
    verdicts = json.loads((ROOT / "ect_perf" / "gate" / "verdicts.json").read_text())["benchmarks"]
    for name in MEMORY_CALLS:  # every name is a benchmark of the suite (params stripped)
        assert name.split("(")[0] in verdicts, name


def test_the_report_carries_the_memory_explanation_under_the_table():
    from ect_perf.explain.memory import MemoryExplanation, compare_memory

    site = ["/b/ect_service/servicer.py", 117, "rows = cursor.fetchmany(size)", 20_000, 300]
    before = {"peak_bytes": 50_000, "calls": 3, "sites": [site]}
    grown = ["/h/ect_service/servicer.py", 301, site[2], 1_020_000, 15_000]
    after = {"peak_bytes": 1_050_000, "calls": 3, "sites": [grown]}
    change = compare_memory("recommended", "server", before, after, ("/b", "/h"))
    name = "bench_memory.RecommendedStreamMemory.track_allocated_kb"
    rows = [row(name, MEMORY_POLICY, 100, 1_100, verdict="regressed")]
    memory = MemoryExplanation("a" * 40, "b" * 40, [change], 0.3)
    report = Report("main", "HEAD", exit_code(rows), rows, memory=memory)
    text = markdown(report)
    assert text.index("| 🔴 regressed |") < text.index("**Where the memory went** (tracemalloc, by line, in 0.3 min)")
    assert (
        "- **recommended, server**: +976.6 KB held at the peak of 3 calls (48.8 → 1,025.4 KB above what was "
        "held before them); first: `ect_service/servicer.py:301` `rows = cursor.fetchmany(size)` (+976.6 KB)."
    ) in text
    assert json.loads(as_json(report))["memory"]["changes"][0]["sites"][0]["line"] == 301
    failed = Report("main", "HEAD", exit_code(rows), rows, memory_error="measuring 1234abcd's allocation sites failed")
    assert "The memory that moved could not be explained: measuring 1234abcd" in markdown(failed)
    assert json.loads(as_json(failed))["memory"] == {"error": "measuring 1234abcd's allocation sites failed"}
