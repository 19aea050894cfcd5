"""Where a call's memory went between two revisions: the allocation sites whose size at the call's
peak changed, server and client, from benchmarks/measuring/allocation_sites.py's runs of each.

A site is a line of Python (tracemalloc's statistics by line) and what it holds at the peak above
what was held before the call. Sites are matched between revisions by file and source text, not by
line number: a line that moved because lines above it changed is still the same site.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ect_perf.explain import revisions
from ect_perf.explain.compare import moved_most, python_file
from ect_perf.gate.interleave import extract_service

CALLS = ("stream", "buffered", "recommended")  # benchmarks/measuring/allocation_sites.py's CALLS
SIDES = ("server", "client")


class AllocationSitesError(RuntimeError):
    """The allocation sites could not be measured."""


@dataclass
class Site:
    file: str
    line: int
    text: str
    before: int  # bytes held at the peak, above what was held before the call
    after: int

    @property
    def change(self) -> int:
        return self.after - self.before


@dataclass
class MemoryChange:
    call: str
    side: str
    before: int  # the call's peak, bytes above what was held before it
    after: int
    sites: list[Site]  # the largest changes first
    explained: float | None  # the listed sites' share of the net change; None when there is none
    calls: int = 1  # the calls whose peak it is (allocation_sites.py's CALLS_MEASURED)

    @property
    def change(self) -> int:
        return self.after - self.before

    @property
    def first(self) -> Site | None:
        """The site named first: the one that moved most the way the peak went (a site that shrank
        does not explain a peak that grew); with no change of the peak, the largest either way."""
        way = 1 if self.change >= NO_CHANGE_BYTES else -1 if self.change <= -NO_CHANGE_BYTES else 0
        return moved_most(self.sites, way, lambda site: site.change)


@dataclass
class MemoryExplanation:
    base: str
    head: str
    changes: list[MemoryChange]
    minutes: float


# A change of the peak below this is no change to explain: a page of the allocator.
NO_CHANGE_BYTES = 4096


def _sites(found: dict, source: str) -> dict[tuple[str, str], tuple[int, int]]:
    """{(file, text): (line, bytes)}; the file as a reader knows it (python_file). Lines of one text
    in one file add up; the line kept is that of the largest."""
    sites: dict[tuple[str, str], tuple[int, int]] = {}
    for file, line, text, size, _blocks in found["sites"]:
        key = (python_file(file, source), text or f"line {line}")
        before = sites.get(key, (line, 0))
        sites[key] = (before[0] if abs(before[1]) > abs(size) else line, before[1] + size)
    return sites


def compare_memory(
    call: str, side: str, before: dict, after: dict, sources: tuple[str, str], top: int = 10
) -> MemoryChange:
    """One call's side: BASE's measured data against HEAD's (allocation_sites.py's per side)."""
    old, new = _sites(before, sources[0]), _sites(after, sources[1])
    rows = []
    for key in old.keys() | new.keys():
        line = new.get(key, old.get(key))[0]
        rows.append(Site(key[0], line, key[1], old.get(key, (0, 0))[1], new.get(key, (0, 0))[1]))
    rows.sort(key=lambda site: (-abs(site.change), site.file, site.line))
    listed = [site for site in rows[:top] if site.change]
    net = after["peak_bytes"] - before["peak_bytes"]
    explained = sum(site.change for site in listed) / net if abs(net) >= NO_CHANGE_BYTES else None
    calls = after.get("calls", 1)
    return MemoryChange(call, side, before["peak_bytes"], after["peak_bytes"], listed, explained, calls)


def explain_memory(
    config_path: Path,
    base: str,
    head: str,
    calls: tuple[str, ...] = CALLS,
    sides: tuple[str, ...] = SIDES,
    top: int = 10,
    env_dir: Path | None = None,
    keep: Path | None = None,
) -> MemoryExplanation:
    """Raises BadRevision, ExplainError and AllocationSitesError."""
    started = time.monotonic()
    root, base_hash, head_hash, python = revisions(config_path, base, head, env_dir)
    with tempfile.TemporaryDirectory(prefix="ect-memory-") as scratch:
        folder = (keep or Path(scratch)).resolve()
        measured = {
            name: measure_revision(root, commit, python, calls, folder / name)
            for name, commit in (("base", base_hash), ("head", head_hash))
        }
        sources = (str(folder / "base" / "source"), str(folder / "head" / "source"))
        changes = [
            compare_memory(call, side, measured["base"][call][side], measured["head"][call][side], sources, top)
            for call in calls
            for side in sides
        ]
    return MemoryExplanation(base_hash, head_hash, changes, (time.monotonic() - started) / 60)


def measure_revision(root: Path, commit: str, python: Path, calls, folder: Path) -> dict:
    """allocation_sites.py's findings for `commit`'s service."""
    source = extract_service(root, commit, folder / "source")
    work = folder / "work"
    work.mkdir(parents=True, exist_ok=True)
    out = folder / "allocation-sites.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(source), str(root)])}
    print(f"ect_perf explain: allocation sites of {commit[:8]} ({', '.join(calls)})", file=sys.stderr)
    done = subprocess.run(
        [str(python), "-m", "benchmarks.measuring.allocation_sites", str(out), ",".join(calls)],
        cwd=work,
        env=env,
        stdout=sys.stderr,
        stderr=subprocess.STDOUT,
    )
    if done.returncode != 0 or not out.is_file():
        raise AllocationSitesError(
            f"measuring {commit[:8]}'s allocation sites failed (exit {done.returncode}); its output is above"
        )
    return json.loads(out.read_text())


def _kb(size: float) -> str:
    return f"{size / 1024:+,.1f} KB"


def summary(change: MemoryChange) -> list[str]:
    line = (
        f"**{change.call}, {change.side}**: {_kb(change.change)} held at the peak of {change.calls} calls "
        f"({change.before / 1024:,.1f} → {change.after / 1024:,.1f} KB above what was held before them)"
    )
    first = change.first
    if first:
        line += f"; first: `{first.file}:{first.line}` `{first.text}` ({_kb(first.change)})"
    lines = [line + "."]
    if change.explained is not None:
        lines.append(f"The {len(change.sites)} sites below explain {change.explained:.0%} of the net change.")
    return lines


def details(change: MemoryChange) -> list[str]:
    lines = ["| Allocation site | Before | After | Change |", "|---|---|---|---|"]
    for site in change.sites:
        lines.append(
            f"| `{site.file}:{site.line}` `{site.text}` | {site.before / 1024:,.1f} KB | {site.after / 1024:,.1f} KB "
            f"| {_kb(site.change)} |"
        )
    return lines


def markdown(explanation: MemoryExplanation, heading: str = "###") -> str:
    lines = [f"{heading} Where the memory went: `{explanation.base[:8]}` → `{explanation.head[:8]}`", ""]
    for change in explanation.changes:
        lines += summary(change)
        lines += ["", "<details><summary>By allocation site</summary>", "", *details(change), "", "</details>", ""]
    lines.append(
        "Measured natively with tracemalloc, by line, at the peak of a few calls of 5,000 items against the "
        f"heap before them (`python -m ect_perf explain {explanation.base[:8]} {explanation.head[:8]} --memory`), "
        f"in {explanation.minutes:.1f} min."
    )
    return "\n".join(lines) + "\n"


def from_json(data: dict) -> MemoryExplanation:
    """An explanation as as_json wrote it."""
    fields = ("call", "side", "before", "after", "explained", "calls")
    changes = [
        MemoryChange(
            **{name: change[name] for name in fields},
            sites=[
                Site(**{name: site[name] for name in ("file", "line", "text", "before", "after")})
                for site in change["sites"]
            ],
        )
        for change in data["changes"]
    ]
    return MemoryExplanation(data["base"], data["head"], changes, data["minutes"])


def as_json(explanation: MemoryExplanation) -> str:
    def side(change: MemoryChange) -> dict:
        first = change.first
        return {**asdict(change), "change": change.change, "first": asdict(first) if first else None}

    return json.dumps(
        {
            "base": explanation.base,
            "head": explanation.head,
            "minutes": explanation.minutes,
            "changes": [side(change) for change in explanation.changes],
        },
        indent=1,
    )
