"""`python -m ect_perf explain --memory`: the allocation sites whose size at a call's peak changed.

The comparison on made-up findings; the measuring (benchmarks/measuring/allocation_sites.py) on the
checkout's real server; and the whole command on a scratch clone whose HEAD holds every row of the
recommended read until the call ends, which must be named first.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from bounded import run_bounded

from ect_perf.explain.memory import as_json, compare_memory, markdown

ROOT = Path(__file__).resolve().parent.parent
GIT_USER = ["-c", "user.name=ect-perf tests", "-c", "user.email=tests@ect-perf.invalid"]


def found(peak: int, *sites) -> dict:
    return {"peak_bytes": peak, "sites": [list(site) for site in sites]}


def test_sites_are_matched_by_text_where_their_lines_moved():
    before = found(
        100_000,
        ("/b/src/ect_service/servicer.py", 100, "rows = cursor.fetchmany(64)", 60_000, 10),
        ("/b/src/ect_service/servicer.py", 120, "message = Batch()", 40_000, 5),
    )
    after = found(
        300_000,
        ("/h/src/ect_service/servicer.py", 104, "rows = cursor.fetchmany(64)", 60_000, 10),
        ("/h/src/ect_service/servicer.py", 124, "message = Batch()", 40_000, 5),
        ("/h/src/ect_service/servicer.py", 130, "held.extend(rows)", 200_000, 5_000),
    )
    change = compare_memory("recommended", "server", before, after, ("/b/src", "/h/src"))
    assert change.change == 200_000
    assert [(site.file, site.line, site.text, site.change) for site in change.sites] == [
        ("ect_service/servicer.py", 130, "held.extend(rows)", 200_000)
    ]  # the unchanged sites are not listed, though their lines moved
    assert change.explained == 1.0
    text = markdown(type("E", (), {"base": "a" * 40, "head": "b" * 40, "changes": [change], "minutes": 0.1})())
    assert "first: `ect_service/servicer.py:130` `held.extend(rows)` (+195.3 KB)" in text


def test_the_site_named_first_grew_with_the_peak():
    """A site that shrank by more than another grew does not explain a peak that grew: the list
    keeps the largest changes first, the summary names the largest the peak's way."""
    before = found(
        200_000,
        ("/s/ect_service/servicer.py", 10, "page = list(rows)", 150_000, 10),
        ("/s/ect_service/servicer.py", 20, "message = Batch()", 10_000, 5),
    )
    after = found(
        260_000,
        ("/s/ect_service/servicer.py", 10, "page = list(rows)", 50_000, 10),
        ("/s/ect_service/servicer.py", 20, "message = Batch()", 80_000, 5),
    )
    change = compare_memory("recommended", "server", before, after, ("/s", "/s"))
    assert [site.text for site in change.sites] == ["page = list(rows)", "message = Batch()"]
    assert change.first.text == "message = Batch()"
    assert (
        json.loads(as_json(type("E", (), {"base": "a", "head": "b", "changes": [change], "minutes": 0})()))["changes"][
            0
        ]["first"]["text"]
        == "message = Batch()"
    )


def test_a_change_within_an_allocator_page_has_nothing_to_explain():
    site = ("/s/x.py", 1, "x = []", 1_000, 1)
    change = compare_memory("stream", "client", found(50_000, site), found(51_000, site), ("/s", "/s"))
    assert change.explained is None and change.sites == []


INJECTED = """

# ect-perf tests: every row the recommended read fetches is kept, for good.
_held_rows = []


def _fetch_and_keep(cursor, size):
    rows = cursor.fetchmany(size)
    _held_rows.extend(rows)
    return rows
"""
FETCH = "cursor.fetchmany(min(ROWS_PER_FETCH, per_message - items))"


def test_the_measured_sites_of_the_checkout(tmp_path):
    """The real server and client: the recommended read holds something at its peak, by line."""
    out = tmp_path / "sites.json"
    done = run_bounded(
        [sys.executable, "-m", "benchmarks.measuring.allocation_sites", str(out), "recommended"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
    sides = json.loads(out.read_text())["recommended"]
    for side in ("server", "client"):
        assert sides[side]["peak_bytes"] > 0 and sides[side]["calls"] == 3
        file, line, text, size, blocks = sides[side]["sites"][0]
        assert file.endswith(".py") and line > 0 and text and size and blocks
    assert any("/ect_service/" in site[0] for site in sides["server"]["sites"])


@pytest.fixture(scope="module")
def holding_clone(tmp_path_factory) -> Path:
    """A clone whose HEAD keeps every row the recommended read fetches, sharing the checkout's asv
    environments (the service comes from each revision's source, first on PYTHONPATH)."""
    path = tmp_path_factory.mktemp("memory") / "repo"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(path)], check=True)
    servicer = path / "ect_service" / "servicer.py"
    source = servicer.read_text()
    assert source.count(FETCH) == 1, "the recommended read's fetch moved: update this test"
    servicer.write_text(
        source.replace(FETCH, FETCH.replace("cursor.fetchmany(", "_fetch_and_keep(cursor, ")) + INJECTED
    )
    subprocess.run(["git", *GIT_USER, "commit", "-qam", "Keep every row"], cwd=path, check=True)
    (path / ".asv").mkdir()
    (path / ".asv" / "env").symlink_to(ROOT / ".asv" / "env")
    return path


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_rows_kept_by_the_recommended_read_are_named_first(holding_clone):
    if not list((ROOT / ".asv" / "env").glob("*/bin/python")):
        pytest.fail("no asv environment in .asv/env: the slow tier's asv tests build it (run them first)")
    done = run_bounded(
        [
            sys.executable,
            "-m",
            "ect_perf",
            "explain",
            "HEAD~1",
            "HEAD",
            "recommended",
            "--memory",
            "--side",
            "server",
            "--json",
            "memory.json",
            "--markdown",
            "memory.md",
        ],
        cwd=holding_clone,
        timeout=800,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (change,) = json.loads((holding_clone / "memory.json").read_text())["changes"]
    first = change["first"]
    assert (first["file"], first["text"]) == ("ect_service/servicer.py", "rows = cursor.fetchmany(size)")
    assert change["change"] > 500_000  # 5,000 rows of three columns, kept
    assert change["explained"] >= 0.9
    assert "`rows = cursor.fetchmany(size)`" in (holding_clone / "memory.md").read_text()


def test_memory_explains_only_the_calls_it_measures():
    done = subprocess.run(
        [sys.executable, "-m", "ect_perf", "explain", "HEAD", "HEAD", "unary", "--memory"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == "ect_perf explain: --memory measures stream, buffered, recommended, not unary"


def test_the_command_line_offers_exactly_the_measured_calls():
    from benchmarks.measuring.allocation_sites import CALLS as MEASURED
    from ect_perf.explain.memory import CALLS

    assert CALLS == MEASURED
