"""The body of the one pull-request comment that the performance gate posts and updates on every push.

    python -m ect_perf.pr_comment GATE_MD [--head-sha SHA] [--run-url URL] > comment.md

.github/workflows/gate.yml builds it from the gate's Markdown; gate-comment.yml finds the earlier
comment by MARKER and edits it, so a pull request carries one report: the latest.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

MARKER = "<!-- ect-perf-gate -->"
LIMIT = 65_536  # GitHub refuses a longer comment body


def comment_body(markdown: str, *, head_sha: str | None = None, run_url: str | None = None) -> str:
    """MARKER, the gate's Markdown unchanged, and a footer; within LIMIT, cut at a line boundary."""
    footer = _footer(head_sha, run_url)
    body = _join(markdown, footer)
    if len(body) <= LIMIT:
        return body
    # The gate writes its heading and verdict first, and its table worst rows first: keep the start.
    note = (
        "_The report is cut here at GitHub's comment limit: the full report is in the job summary "
        f"and the `gate-report` artifact of {f'[the run]({run_url})' if run_url else 'the run'}._"
    )
    room = LIMIT - len(_join("", note, footer))
    kept = markdown[: markdown.rfind("\n", 0, room) + 1]  # whole lines only: up to the last line break that fits
    return _join(kept, note, footer)


def _footer(head_sha: str | None, run_url: str | None) -> str:
    # The gate measured the pull request merged into its base; the head names what was pushed.
    # A bare SHA, not in backticks, so that GitHub links it.
    parts = []
    if head_sha:
        parts.append(f"Pull request head {head_sha}")
    if run_url:
        parts.append(f"[workflow run]({run_url})")
    return f"<sub>{' · '.join(parts)}</sub>" if parts else ""


def _join(markdown: str, *tail: str) -> str:
    # A blank line before each tail part ends a table or a paragraph the Markdown left open.
    text = f"{MARKER}\n{markdown}"
    for part in filter(None, tail):
        text += ("" if text.endswith("\n") else "\n") + "\n" + part + "\n"
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ect_perf.pr_comment", description="Print the pull-request comment body for the gate's Markdown."
    )
    parser.add_argument("gate_md", type=Path, help="the gate's --markdown file")
    parser.add_argument("--head-sha", help="the pull request's head commit, named in the footer")
    parser.add_argument("--run-url", help="the workflow run to link")
    args = parser.parse_args(argv)
    try:
        markdown = args.gate_md.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        print(f"{parser.prog}: error: cannot read {args.gate_md}: {reason}", file=sys.stderr)
        return 2
    sys.stdout.write(comment_body(markdown, head_sha=args.head_sha, run_url=args.run_url))
    return 0


if __name__ == "__main__":
    sys.exit(main())
