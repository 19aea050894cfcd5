"""The user docs hold their shape: README.md is short (at most 250 lines of at most 100 characters,
tables aside), and every relative link in README.md and docs/*.md reaches an existing file and, for
an `#anchor` into a Markdown file, an existing heading (GitHub's slugs)."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
MAX_LINES = 250
MAX_WIDTH = 100

FENCE = re.compile(r"^\s*(```|~~~)")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")


def prose_lines(text: str) -> list[tuple[int, str]]:
    """The lines outside fenced code blocks, numbered from 1."""
    lines, fenced = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, line))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: the text as rendered (links by their text, no code marks),
    lowercased, punctuation dropped except '-' and '_', each space a '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = re.sub(r"<[^>]+>", "", text).lower()
    text = "".join(c for c in text if c.isalnum() or c in " -_")
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    seen: dict[str, int] = {}
    result = set()
    for _, line in prose_lines(text):
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else f"{base}-{count}")
    return result


def links(text: str) -> list[tuple[int, str]]:
    """(line, target) of every Markdown link and image outside code."""
    found = []
    for number, line in prose_lines(text):
        for match in LINK.finditer(CODE_SPAN.sub("", line)):
            found.append((number, match.group(1)))
    return found


def broken_links(page: Path, text: str) -> list[str]:
    problems = []
    for number, target in links(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # https:, mailto: ...: not checked here
            continue
        path_part, _, anchor = target.partition("#")
        where = f"{page.relative_to(ROOT)}:{number}: {target}"
        if not path_part:  # an anchor on this page
            if anchor not in anchors(text):
                problems.append(f"{where}: no such heading on this page")
            continue
        destination = (page.parent / path_part).resolve()
        if not destination.exists():
            problems.append(f"{where}: no such file")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination.read_text()):
            problems.append(f"{where}: no heading #{anchor} in {destination.name}")
    return problems


def readme_shape_problems(text: str) -> list[str]:
    lines = text.splitlines()
    problems = []
    if len(lines) > MAX_LINES:
        problems.append(f"README.md has {len(lines)} lines, more than {MAX_LINES}")
    for number, line in enumerate(lines, 1):
        if len(line) > MAX_WIDTH and not line.lstrip().startswith("|"):
            problems.append(f"README.md:{number}: {len(line)} characters")
    return problems


def test_readme_is_short_and_narrow():
    problems = readme_shape_problems(README.read_text())
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    problems = broken_links(page, page.read_text())
    assert not problems, "\n".join(problems)


def test_the_checks_can_fail():
    assert readme_shape_problems("x\n" * (MAX_LINES + 1))
    assert readme_shape_problems("y" * (MAX_WIDTH + 1))
    assert not readme_shape_problems("| " + "z" * MAX_WIDTH + " |")
    page = ROOT / "docs" / "page.md"
    assert broken_links(page, "[a](missing.md)")
    assert broken_links(page, "[a](../README.md#no-such-heading)")
    assert broken_links(page, "# Title\n[a](#other)")
    assert not broken_links(page, "# The `gate`: why, and how?\n[a](#the-gate-why-and-how)")
    assert not broken_links(page, "```\n[a](missing.md)\n```\n`[b](missing.md)` [c](https://example.org)")


def test_slugs_follow_github():
    assert slug("Calibrating the gate") == "calibrating-the-gate"
    assert slug("2026-11-29: where the instructions go") == "2026-11-29-where-the-instructions-go"
    assert slug("CI of the repository's own hosting") == "ci-of-the-repositorys-own-hosting"
    assert slug("The `valgrind` series") == "the-valgrind-series"
    assert anchors("# A\n## A\n") == {"a", "a-1"}
