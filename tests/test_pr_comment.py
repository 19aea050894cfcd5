"""The gate's pull-request comment body (ect_perf/pr_comment.py): marker, report, footer, GitHub's limit."""

import subprocess
import sys

import pytest

from ect_perf.pr_comment import LIMIT, MARKER, comment_body

SHA = "0123456789abcdef0123456789abcdef01234567"
RUN = "https://github.com/o/r/actions/runs/42"
REPORT = (
    "### Performance gate: worse\n\n`aaaa` → `bbbb` (exit code 1)\n\n"
    "| Benchmark | Before | After |\n|---|---|---|\n| `bench_a` | 1 | 2 |\n"
)


def table(rows: int) -> str:
    return REPORT + "".join(f"| `bench_{i:05d}` | {'1.0 ' * 20}| 2.0 |\n" for i in range(rows))


def test_marker_first_then_the_report_verbatim_then_the_footer():
    body = comment_body(REPORT, head_sha=SHA, run_url=RUN)
    assert body.splitlines()[0] == MARKER
    assert body.startswith(f"{MARKER}\n{REPORT}")
    footer = body[len(MARKER) + 1 + len(REPORT) :].strip()
    assert SHA in footer and f"]({RUN})" in footer and "\n" not in footer


def test_without_sha_or_run_there_is_no_footer():
    assert comment_body(REPORT) == f"{MARKER}\n{REPORT}"
    assert comment_body(REPORT, head_sha=SHA).rstrip().endswith(SHA + "</sub>")


def test_footer_is_its_own_paragraph_when_the_report_lacks_a_final_newline():
    body = comment_body(REPORT.rstrip("\n"), run_url=RUN)
    assert "| `bench_a` | 1 | 2 |\n\n<sub>" in body  # else it would join the table's last row


def test_a_report_at_the_limit_is_kept_whole():
    footer_len = len(comment_body("", head_sha=SHA, run_url=RUN)) - len(MARKER) - 1
    report = "x" * (LIMIT - len(MARKER) - 1 - footer_len - 1) + "\n"
    body = comment_body(report, head_sha=SHA, run_url=RUN)
    assert len(body) == LIMIT and report in body and "cut here" not in body


@pytest.mark.parametrize("run_url", [RUN, None])
def test_a_longer_report_is_cut_at_a_line_boundary_keeping_its_start(run_url):
    report = table(3000)
    assert len(report) > LIMIT
    body = comment_body(report, head_sha=SHA, run_url=run_url)
    assert len(body) <= LIMIT
    assert body.startswith(f"{MARKER}\n{REPORT}")
    kept, _, rest = body[len(MARKER) + 1 :].partition("\n_The report is cut here")  # after a blank line
    assert rest, "no truncation note"
    assert report.startswith(kept) and kept.endswith("|\n")  # whole lines, the first ones
    assert len(kept) > LIMIT - 1000  # and as many as fit
    assert "job summary" in rest and "`gate-report` artifact" in rest and SHA in rest
    assert (f"]({run_url})" in rest) == bool(run_url)


def test_one_line_longer_than_the_limit_leaves_only_the_note():
    body = comment_body("Y" * (2 * LIMIT), head_sha=SHA)
    assert len(body) <= LIMIT and "YY" not in body and "cut here" in body


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "ect_perf.pr_comment", *args], capture_output=True, text=True, timeout=60
    )


def test_cli_prints_the_body(tmp_path):
    (tmp_path / "gate.md").write_text(REPORT)
    result = run_cli(str(tmp_path / "gate.md"), "--head-sha", SHA, "--run-url", RUN)
    assert result.returncode == 0, result.stderr
    assert result.stdout == comment_body(REPORT, head_sha=SHA, run_url=RUN)


@pytest.mark.parametrize("name", ["missing.md", "."])
def test_cli_unreadable_file_gives_one_line_and_exit_2(tmp_path, name):
    path = tmp_path / name
    result = run_cli(str(path))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "error" in lines[0] and str(path) in lines[0], result.stderr
    assert "Traceback" not in result.stderr
