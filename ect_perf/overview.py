"""The site's first page for a user: what holds now, how far the gate can be trusted, and which
series can be compared across hosts. Written next to asv's pages by `python -m ect_perf publish`.

- the specification's performance targets at the newest measured commit, of whichever host
  measured it (ect_perf.targets);
- the gate's calibration figures, from docs/calibration/latest.json (and earlier runs kept as
  docs/calibration/REV.json), each the output of a real
  `python -m ect_perf calibrate --json docs/calibration/latest.json` run (absent: the page says so);
- each benchmark's kind of series: instruction counts are host-independent (one continuous history
  under the `valgrind` machine whatever the host), peak memory nearly so, everything else is
  wall-clock time of one host (one machine name per host, ect_perf.hosts).
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

from ect_perf import INSTRUCTIONS_MACHINE, step_pages
from ect_perf.asv_results import NoResults, load_config, newest_result
from ect_perf.hosts import WALL_CLOCK_PREFIX
from ect_perf.targets import TARGETS, TargetsError, evaluate, load_targets

CALIBRATION = Path("docs") / "calibration" / "latest.json"
PAGE = "overview.html"
LINK_MARK = "ect-overview-link"


def series_kind(name: str, unit: str) -> str:
    if unit.startswith("instructions"):
        return (
            f"host-independent: CPU instructions counted under valgrind, one series for every host "
            f"(machine {INSTRUCTIONS_MACHINE}); a change of counting host and environment moved two "
            f"of them by about 2% (the unary call's server, the stream's client), the others agree "
            f"within 1%"
        )
    per_host = f"one series per host (machines {WALL_CLOCK_PREFIX}-CPU-KERNEL)"
    if name.split(".")[-1].startswith("peakmem_"):
        return f"nearly host-independent: peak resident memory; {per_host}"
    return f"wall-clock: {per_host}"


def write(html_dir: Path, config_path: str) -> Path:
    config = load_config(config_path)
    root = Path(config_path).resolve().parent
    sections = [
        _targets(config, config_path),
        _calibration(root / CALIBRATION.parent),
        step_pages.write(html_dir, root, Path(config.results_dir), _document),
        _series(config),
    ]
    page = html_dir / PAGE
    page.write_text(_document("\n".join(sections)))
    _link_from_index(html_dir / "index.html")
    return page


def _targets(config, config_path: str) -> str:
    try:
        targets = load_targets(TARGETS)
        result = newest_result(config)
    except (NoResults, TargetsError) as exc:
        return f"<h2>Performance targets</h2><p>{escape(str(exc))}</p>"
    rows = [
        (
            r.target.name,
            r.target.goal,
            "n/a" if r.current is None or r.current != r.current else f"{r.current:,.2f} {r.target.unit}",
            r.status,
        )
        for r in evaluate(result, targets)
    ]
    machine = result.params.get("machine", "")
    return (
        f"<h2>Performance targets at commit <code>{escape(result.commit[:8])}</code> "
        f"(machine <code>{escape(machine)}</code>)</h2>"
        + _table(("Metric", "Target", "Current", "Status"), rows, status_column=3)
    )


def _calibration(docs: Path) -> str:
    """Every recorded calibration, newest first: docs/calibration/latest.json (the latest `calibrate
    --json`), then earlier ones kept as docs/calibration/REV.json; a REV.json that latest.json
    copies (the same file) is shown once, as the latest."""
    title = "<h2>How far the gate can be trusted</h2>"
    latest = docs / CALIBRATION.name
    shown = latest.read_bytes() if latest.is_file() else None
    earlier = sorted(
        (path for path in docs.glob("*.json") if path.name != CALIBRATION.name and path.read_bytes() != shown),
        reverse=True,
    )
    paths = [path for path in [latest, *earlier] if path.is_file()]
    if not paths:
        return (
            title
            + f"<p>No calibration recorded yet: run <code>python -m ect_perf calibrate --json {CALIBRATION}</code>.</p>"
        )
    sections = [title]
    for path in paths:
        data = json.loads(path.read_text())
        rows = [
            (
                s["scenario"],
                s["bench"] or "every benchmark",
                len(s["exit_codes"]),
                s["rate"],
                s["goal"],
                _measured_size(s.get("size")),
                "pass" if s["passed"] else "fail",
            )
            for s in data["scenarios"]
        ]
        sections.append(
            f"<p>{escape(path.name)}: gate runs at commit <code>{escape(data['rev_hash'][:8])}</code>"
            + ("" if data.get("complete", True) else " (in progress: fewer runs than asked)")
            + ", "
            f"injected: {escape(json.dumps(data['injected']))}</p>"
            + _table(
                ("Scenario", "Benchmarks", "Runs", "Rate", "Goal", "Measured size", "Status"), rows, status_column=6
            )
        )
    return "\n".join(sections)


def _measured_size(size: dict | None) -> str:
    """An injected scenario's measured slowdown against what it asked (calibrations that recorded it)."""
    measured = size.get("measured_percent") if size else None
    if not measured:
        return "n/a"
    # {row: %} as calibrate writes it (one figure per row its injection slows)
    figures = ", ".join(f"{name.split('.', 1)[-1]} {pct:+.1f}%" for name, pct in sorted(measured.items()))
    text = f"{figures} (asked {size['asked_percent']:g}%)"
    if size.get("range_percent"):
        low, high = size["range_percent"]
        text += f", {'within' if size['within_range'] else 'outside'} {low:g}-{high:g}%"
    return text


def _series(config) -> str:
    benchmarks = json.loads((Path(config.results_dir) / "benchmarks.json").read_text())
    rows = [
        (name, b.get("unit") or "", series_kind(name, b.get("unit") or ""))
        for name, b in sorted(benchmarks.items())
        if name != "version"
    ]
    return "<h2>Which series compare across hosts</h2>" + _table(("Benchmark", "Unit", "Series"), rows)


def _table(header, rows, status_column: int | None = None) -> str:
    def cell(index, value):
        css = f' class="status-{escape(str(value))}"' if index == status_column else ""
        return f"<td{css}>{escape(str(value))}</td>"

    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(cell(i, v) for i, v in enumerate(row)) + "</tr>" for row in rows)
    return f'<table class="table table-condensed"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _document(body: str, title: str = "overview", prefix: str = "") -> str:
    """A page of the site; `prefix` leads from its folder to the site's top ("../" for steps/)."""
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>ect-service: {escape(title)}</title>
<link rel="shortcut icon" href="{prefix}swallow.ico">
<link rel="stylesheet" href="{prefix}vendor/bootstrap/dist/css/bootstrap.min.css">
<style>body {{ padding: 1em 2em; }} .status-pass {{ color: #2a7d2a; }} .status-fail {{ color: #b02020; }}
.status-missing {{ color: #a06000; }}</style></head>
<body><h1>ect-service performance: {escape(title)}</h1>
<p><a href="{prefix}overview.html">Overview</a> · <a href="{prefix}index.html">All benchmarks (asv)</a> ·
<a href="{prefix}regressions.html">Regressions</a></p>
{body}
</body></html>
"""


def _link_from_index(index: Path) -> None:
    """A link to this page at the top of asv's index page."""
    text = index.read_text()
    if LINK_MARK in text:
        return
    # Fixed at the bottom right: asv's own navigation bar is fixed at the top and would cover it.
    link = (
        f'<div id="{LINK_MARK}" style="position: fixed; bottom: 0; right: 0; z-index: 2000; '
        f'padding: 6px 12px; background: #eef5ff; border: 1px solid #9ab;">'
        f'<a href="{PAGE}">Overview: performance targets, gate calibration, host-independent series</a></div>'
    )
    index.write_text(text.replace("<body>", "<body>\n" + link, 1))
