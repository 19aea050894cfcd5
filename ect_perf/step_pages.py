"""The site's pages for the steps of the instruction-count history: one page per commit where a count
stepped beyond the gate's threshold, with its explanation (docs/explanations/COMMIT.json, written by
`python -m ect_perf explain-steps`), and the overview's list of them."""

from __future__ import annotations

from html import escape
from pathlib import Path

from ect_perf.explain.render import short_source, side_from_json
from ect_perf.explain.steps import EXPLANATIONS, Step, by_commit, load_explanation, reproduced, steps
from ect_perf.gate.policy import PolicyError

FOLDER = "steps"  # under the site's folder


def write(html_dir: Path, root: Path, results_dir: Path, document, explanations: Path | None = None) -> str:
    """Writes html_dir/steps/COMMIT.html for each explained step; returns the overview's section.
    `document(body, title, prefix)` wraps a page's body; `explanations`: where they are kept
    (default: the checkout's docs/explanations)."""
    explanations = explanations or root / EXPLANATIONS
    title = "<h2>Steps in the instruction counts, and where the instructions went</h2>"
    try:
        grouped = by_commit(steps(root, results_dir))
    except (PolicyError, OSError, ValueError) as exc:
        return title + f"<p>{escape(str(exc))}</p>"
    if not grouped:
        return title + "<p>No count stepped beyond its gate threshold between two measured commits.</p>"
    (html_dir / FOLDER).mkdir(parents=True, exist_ok=True)
    rows = []
    for commit, found in reversed(list(grouped.items())):
        explanation = load_explanation(explanations, commit)
        link = f"{FOLDER}/{commit[:8]}.html"
        if explanation is not None:
            (html_dir / link).write_text(document(_page(commit, found, explanation), f"step at {commit[:8]}", "../"))
        for step in found:
            rows.append(_row(step, explanation, link))
    body = "".join(rows)
    return (
        title + "<p>Each change of an instruction count beyond the gate's threshold between two consecutive measured "
        "commits of main, newest first; the explanation counts both commits again by function "
        "(<code>python -m ect_perf explain-steps</code>).</p>"
        + '<table class="table table-condensed"><thead><tr><th>Commit</th><th>Count</th><th>Before</th>'
        "<th>After</th><th>Ratio</th><th>Explanation</th></tr></thead><tbody>" + body + "</tbody></table>"
    )


def _row(step: Step, explanation: dict | None, link: str) -> str:
    if explanation is None:
        cell = "not explained yet"
    else:
        again = reproduced(step, explanation)
        note = (
            "" if again else (" (did not reproduce when counted again)" if again is False else " (not counted again)")
        )
        cell = f'<a href="{escape(link)}">{escape(_first(explanation, step))}</a>{escape(note)}'
    return (
        f"<tr><td><code>{escape(step.commit[:8])}</code></td><td>{escape(step.call)}, {escape(step.side)}</td>"
        f"<td>{step.before:,.0f}</td><td>{step.after:,.0f}</td><td>{step.ratio:.3f}</td><td>{cell}</td></tr>"
    )


def _first(explanation: dict, step: Step) -> str:
    for change in explanation.get("changes", []):
        if change["call"] == step.call and change["side"] == step.side:
            first = side_from_json(change).first
            if first.get("kind") == "python":
                return f"{first['file']}:{first['line']} {first['function']}"
            if first:
                return f"{first['function']} ({first['library']})"
    return "explained"


def _page(commit: str, found: list[Step], explanation: dict) -> str:
    parts = [
        f"<h2>Commit <code>{escape(commit[:8])}</code> against <code>{escape(found[0].previous[:8])}</code></h2>",
        f"<p>Counted again by <code>python -m ect_perf explain {escape(found[0].previous[:8])} "
        f"{escape(commit[:8])}</code> in {explanation.get('minutes', 0):.1f} min.</p>",
        "<ul>",
    ]
    for step in found:
        again = reproduced(step, explanation)
        said = {True: "reproduced", False: "did not reproduce when counted again", None: "not counted again"}[again]
        parts.append(
            f"<li>{escape(step.call)}, {escape(step.side)}: {step.before:,.0f} → {step.after:,.0f} instructions "
            f"per item ({step.ratio:.3f}; the gate's threshold {step.factor:g}): {escape(said)}</li>"
        )
    parts.append("</ul>")
    for change in explanation.get("changes", []):
        parts.append(_change(change))
    return "\n".join(parts)


def _change(change: dict) -> str:
    before, after = change["before"], change["after"]
    explained = change.get("explained")
    rows = "".join(
        f"<tr><td><code>{escape(row['function'])}</code></td><td>{escape(Path(row['library']).name)}</td>"
        f"<td>{escape(short_source(row['file']))}{':' + str(row['line']) if row['line'] else ''}</td>"
        f"<td>{row['before']:,.1f}</td><td>{row['after']:,.1f}</td><td>{row['after'] - row['before']:+,.1f}</td></tr>"
        for row in change["functions"]
    )
    python = "".join(
        f"<tr><td><code>{escape(row['file'])}:{row['line']} {escape(row['function'])}</code></td>"
        f"<td>{row['calls_before']:,.3g}</td><td>{row['calls_after']:,.3g}</td>"
        f"<td>{row['bytecodes_before']:,.1f}</td><td>{row['bytecodes_after']:,.1f}</td>"
        f"<td>{row['bytecodes_after'] - row['bytecodes_before']:+,.1f}</td></tr>"
        for row in change["python"]
    )
    libraries = ", ".join(
        f"{escape(entry['library'])} {entry['after'] - entry['before']:+,.0f}"
        for entry in change["libraries"][:4]
        if abs(entry["after"] - entry["before"]) >= 0.5
    )
    share = f" The functions listed explain {explained:.0%} of the net change." if explained is not None else ""
    return (
        f"<h3>{escape(change['call'])}, {escape(change['side'])}: {after - before:+,.0f} instructions per item "
        f"({before:,.0f} → {after:,.0f})</h3>"
        f"<p>By library: {libraries or 'no change'}.{escape(share)}</p>"
        '<table class="table table-condensed"><thead><tr><th>Native function (own instructions per item)</th>'
        "<th>Library</th><th>Source</th><th>Before</th><th>After</th><th>Change</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
        '<table class="table table-condensed"><thead><tr><th>Python function (own bytecodes per item)</th>'
        "<th>Calls before</th><th>Calls after</th><th>Before</th><th>After</th><th>Change</th></tr></thead>"
        f"<tbody>{python}</tbody></table>"
    )
