"""The performance-targets command: its table, its exit codes, and a clear error without results."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def targets(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ect_perf", "targets", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": ""},
    )


def test_unknown_machine_fails_clearly():
    result = targets("--machine", "no-such-machine")
    assert result.returncode == 2
    assert result.stderr.strip() == "ect_perf targets: no asv results for machine 'no-such-machine' in results/"


def test_outside_the_repository_fails_clearly(tmp_path):
    result = targets(cwd=tmp_path)
    assert result.returncode == 2
    assert "asv.conf.json not found" in result.stderr and "Traceback" not in result.stderr


def test_bad_format_is_a_usage_error():
    result = targets("--format", "yaml")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1


def test_report_from_the_committed_results():
    """The committed history is real asv output: every target has a value and a verdict."""
    listed = json.loads((ROOT / "ect_perf" / "targets.json").read_text())["targets"]
    result = targets("--format", "json")
    report = json.loads(result.stdout)
    assert [row["name"] for row in report["targets"]] == [entry["name"] for entry in listed]
    for row, entry in zip(report["targets"], listed):
        assert row["current"] is not None, row
        assert row["status"] == ("info" if "pass_if" not in entry else row["status"])
        assert row["status"] in (("pass", "fail") if "pass_if" in entry else ("info",))
    checked = [row for row in report["targets"] if row["status"] != "info"]
    assert report["all_pass"] == all(row["status"] == "pass" for row in checked)
    assert result.returncode == (0 if report["all_pass"] else 1)

    text = targets().stdout.splitlines()
    assert text[0].startswith("Performance targets at commit ") and len(text) == 2 + len(listed)
    markdown = targets("--format", "markdown").stdout
    assert "| Streaming throughput (recommended read: StreamUsersOnline) | > 100,000 items/s |" in markdown


def one_target(tmp_path: Path, **entry) -> str:
    path = tmp_path / "targets.json"
    path.write_text(
        json.dumps(
            {
                "targets": [
                    {
                        "name": "drain",
                        "unit": "items/s",
                        "benchmark": "bench_throughput.StreamThroughput.track_items_per_second",
                        **entry,
                    }
                ]
            }
        )
    )
    return str(path)


def test_a_targets_file_decides_the_exit_code(tmp_path):
    """The same committed value passes a threshold below it and fails one far above it."""
    assert targets("--targets", one_target(tmp_path, pass_if=">", threshold=1)).returncode == 0
    failed = targets("--targets", one_target(tmp_path, pass_if=">", threshold=1e12), "--format", "json")
    assert failed.returncode == 1 and json.loads(failed.stdout)["targets"][0]["status"] == "fail"
    reference = targets("--targets", one_target(tmp_path), "--format", "json")
    assert reference.returncode == 0 and json.loads(reference.stdout)["targets"][0]["status"] == "info"


@pytest.mark.parametrize("entry", [{"pass_if": ">"}, {"pass_if": "~", "threshold": 1}, {"read": "mean"}])
def test_an_invalid_targets_file_is_one_line_and_exit_2(tmp_path, entry):
    result = targets("--targets", one_target(tmp_path, **entry))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "target 1 (drain)" in result.stderr


def test_a_missing_targets_file_is_one_line_and_exit_2(tmp_path):
    result = targets("--targets", str(tmp_path / "nope.json"))
    assert result.returncode == 2 and result.stderr.strip().endswith("nope.json not found")


def test_a_commit_without_results_is_reported():
    result = targets("--commit", "0000000")
    assert result.returncode == 2 and "no asv results" in result.stderr


INSTRUCTIONS = "bench_instructions.RecommendedStreamInstructions.track_instructions_per_item"


def test_a_target_reads_another_machines_result_of_the_same_commit(tmp_path):
    """A row naming the valgrind machine reads the instruction count of the commit reported; a
    commit that machine never counted leaves the row missing, which fails."""
    reported = json.loads(targets("--format", "json").stdout)["commit"]
    counted = json.loads(
        (
            ROOT
            / "results"
            / "valgrind"
            / next(path.name for path in (ROOT / "results" / "valgrind").glob(f"{reported[:8]}-*.json"))
        ).read_text()
    )
    server_count = counted["results"][INSTRUCTIONS][0][0]  # params (server, client): the server's
    path = one_target(
        tmp_path,
        benchmark=INSTRUCTIONS,
        params=["server"],
        machine="valgrind",
        unit="instructions",
        pass_if="<=",
        threshold=server_count,
    )
    report = targets("--targets", path, "--format", "json")
    assert report.returncode == 0, report.stdout
    row = json.loads(report.stdout)["targets"][0]
    assert row["current"] == pytest.approx(server_count) and row["machine"] == "valgrind"
    missing = one_target(
        tmp_path,
        benchmark=INSTRUCTIONS,
        params=["server"],
        machine="no-such-machine",
        unit="instructions",
        pass_if="<=",
        threshold=1e12,
    )
    report = targets("--targets", missing, "--format", "json")
    assert report.returncode == 1 and json.loads(report.stdout)["targets"][0]["status"] == "missing"


def test_the_speed_issues_bar_reads_every_row_from_the_committed_results():
    listed = json.loads((ROOT / "ect_perf" / "targets-at-least.json").read_text())["targets"]
    report = json.loads(targets("--targets", "ect_perf/targets-at-least.json", "--format", "json").stdout)
    assert [row["name"] for row in report["targets"]] == [entry["name"] for entry in listed]
    assert all(row["status"] in ("pass", "fail") for row in report["targets"]), report


def test_a_reader_that_leaves_early_gets_no_traceback():
    """`python -m ect_perf targets | head -1`: the pipe closes before the table is written."""
    process = subprocess.Popen(
        [sys.executable, "-m", "ect_perf", "targets"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={"PYTHONPATH": str(ROOT), "PATH": ""},
    )
    process.stdout.close()  # before the interpreter has even started: every write fails
    _, stderr = process.communicate(timeout=120)
    assert stderr == b"", stderr.decode()[-2000:]
    assert process.returncode == 1


def test_on_a_database_server_the_instruction_rows_read_sqlites_counts():
    """The counts are made on SQLite only: with --database the speed bar's instruction rows read the
    same commit's SQLite counts, and say so, instead of showing as missing."""
    report = targets("--database", "postgresql", "--targets", "ect_perf/targets-at-least.json", "--format", "json")
    rows = json.loads(report.stdout)["targets"]
    counted = [row for row in rows if row["machine"] == "valgrind"]
    assert json.loads(report.stdout)["database"] == "postgresql" and counted
    assert all(row["status"] in ("pass", "fail") and row["database"] == "sqlite" for row in counted), counted
    assert all("database" not in row for row in rows if row["machine"] is None)
    text = targets("--database", "postgresql", "--targets", "ect_perf/targets-at-least.json").stdout
    assert text.count("(SQLite's count)") == len(counted)
