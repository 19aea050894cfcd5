"""The steps of the committed instruction-count history, and the site's page for each explained one."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ect_perf import overview, step_pages
from ect_perf.explain import Explanation
from ect_perf.explain.compare import Side, compare_side
from ect_perf.explain.render import as_json
from ect_perf.explain.steps import Step, by_commit, reproduced, steps
from ect_perf.gate.policy import load_policies

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results"


@pytest.fixture(scope="module")
def history() -> list[Step]:
    return steps(ROOT, RESULTS)


def test_the_history_steps_the_issue_names_are_found(history):
    """The columns of f8261b7 halved the recommended read's server count; the row unpacking of
    a96b018 cut the buffered call's by more than a quarter."""
    found = {(step.commit[:7], step.call, step.side): step for step in history}
    assert found[("f8261b7", "recommended", "server")].ratio == pytest.approx(0.506, abs=0.005)
    assert found[("a96b018", "buffered", "server")].ratio == pytest.approx(0.72, abs=0.005)
    assert ("d1a54f9", "recommended", "server") in found


def test_every_step_is_beyond_its_gate_threshold_and_nothing_within_is(history):
    policies = load_policies()
    for step in history:
        factor = policies.for_benchmark(
            f"bench_instructions.X.track_instructions_per_item('{step.side}')".replace(
                "X",
                {
                    "stream": "StreamInstructions",
                    "buffered": "BufferedInstructions",
                    "unary": "UnaryInstructions",
                    "recommended": "RecommendedStreamInstructions",
                }[step.call],
            )
        ).factor
        assert step.factor == factor and (step.ratio > factor or step.ratio < 1 / factor)


def test_a_change_below_the_gates_floor_is_no_step(history):
    """The buffered call's counts are judged only from 600 instructions an item (min_change): its
    client's moves of a few instructions (1,171 -> 1,185 at dd51a8e) are within its noise."""
    policies = load_policies()
    floor = policies.for_benchmark("bench_instructions.BufferedInstructions.track_instructions_per_item").min_change
    assert floor == 600
    assert not [step for step in history if step.call == "buffered" and abs(step.after - step.before) < floor]
    assert any(step.call == "buffered" and step.side == "server" for step in history)
    assert not [step for step in history if (step.call, step.side) == ("buffered", "client")]


def explanation_of(step: Step, after: float) -> dict:
    lib = "/usr/lib/libpython3.11.so.1.0"
    before_side = Side(5_000, step.before, {(lib, "_PyEval_EvalFrameDefault"): step.before}, {}, {})
    after_side = Side(5_000, after, {(lib, "_PyEval_EvalFrameDefault"): after}, {}, {})
    change = compare_side(step.call, step.side, before_side, after_side, top=5)
    return json.loads(as_json(Explanation(step.previous, step.commit, [change], 6.0, [])))


def test_a_step_reproduces_only_beyond_its_threshold_the_same_way():
    step = Step("b" * 40, "a" * 40, "recommended", "server", 23_460, 11_875, 1.01)
    assert reproduced(step, explanation_of(step, 11_900)) is True
    assert reproduced(step, explanation_of(step, 23_400)) is False  # within 1%: noise when counted again
    assert reproduced(step, explanation_of(step, 24_000)) is False  # the other way
    other = Step("b" * 40, "a" * 40, "unary", "server", 1, 2, 1.02)
    assert reproduced(other, explanation_of(step, 11_900)) is None


def test_each_explained_step_gets_a_page_linked_from_the_overview(tmp_path, history):
    grouped = by_commit(history)
    commit = next(c for c in grouped if c.startswith("f8261b7"))
    kept = tmp_path / "explanations"
    kept.mkdir()
    step = next(s for s in grouped[commit] if (s.call, s.side) == ("recommended", "server"))
    (kept / f"{commit[:8]}.json").write_text(json.dumps(explanation_of(step, 11_900)))
    section = step_pages.write(tmp_path / "html", ROOT, RESULTS, overview._document, explanations=kept)
    page = tmp_path / "html" / "steps" / f"{commit[:8]}.html"
    assert page.is_file() and len(list((tmp_path / "html" / "steps").iterdir())) == 1
    assert f'href="steps/{commit[:8]}.html"' in section
    assert section.count("not explained yet") == len(history) - len(grouped[commit])
    text = page.read_text()
    assert "recommended, server: 23,460 → 11,875 instructions per item" in text
    assert 'href="../vendor/bootstrap/dist/css/bootstrap.min.css"' in text


def test_a_kept_explanation_is_named_by_the_current_rule(tmp_path, history):
    """An explanation kept from an earlier version names what moved most either way; the site names
    what moved most the way the step went, from the rows the explanation kept."""
    grouped = by_commit(history)
    commit = next(c for c in grouped if c.startswith("f8261b7"))
    step = next(s for s in grouped[commit] if (s.call, s.side) == ("recommended", "server"))
    kept_explanation = explanation_of(step, 11_900)
    (change,) = kept_explanation["changes"]
    change["python"] = [
        {"file": "ect_service/servicer.py", "line": 40, "function": "user_item", "calls_before": 1.0,
         "calls_after": 1.0, "bytecodes_before": 10.0, "bytecodes_after": 12.0},
        {"file": "ect_service/servicer.py", "line": 57, "function": "user_batch", "calls_before": 1.0,
         "calls_after": 0.0, "bytecodes_before": 38.0, "bytecodes_after": 0.0},
    ]  # fmt: skip
    change["first"] = {"kind": "python", "file": "ect_service/servicer.py", "line": 40, "function": "user_item"}
    kept = tmp_path / "explanations"
    kept.mkdir()
    (kept / f"{commit[:8]}.json").write_text(json.dumps(kept_explanation))
    section = step_pages.write(tmp_path / "html", ROOT, RESULTS, overview._document, explanations=kept)
    assert "ect_service/servicer.py:57 user_batch" in section and "user_item" not in section


def test_a_commit_without_a_step_is_one_line_and_exit_2():
    done = subprocess.run(
        [sys.executable, "-m", "ect_perf", "explain-steps", "--commits", "0000000"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == "ect_perf explain-steps: no step at 0000000 (--list shows them)"
