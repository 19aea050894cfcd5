"""The repository's own CI workflows: valid against GitHub's workflow schema, running only commands the
docs show (README.md or docs/ci.md), and holding the few properties their safety and their series depend on."""

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ect_perf.pr_comment import MARKER

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW_DIR = ROOT / ".github" / "workflows"
WORKFLOWS = sorted([*WORKFLOW_DIR.glob("*.yml"), *WORKFLOW_DIR.glob("*.yaml")])


def load(name: str) -> dict:
    return yaml.safe_load((WORKFLOW_DIR / name).read_text())


def on(workflow: dict) -> dict:
    return workflow[True]  # YAML 1.1 reads the key `on` as True


def steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def writes(permissions) -> bool:
    if isinstance(permissions, str):
        return permissions == "write-all"
    return any(level == "write" for level in (permissions or {}).values())


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_is_valid_against_githubs_schema(path):
    # SchemaStore's github-workflow schema, as vendored by check-jsonschema: no network.
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_there_are_workflows_for_pull_requests_and_pushes():
    triggers = set()
    for path in WORKFLOWS:
        triggers |= set(on(yaml.safe_load(path.read_text())))
    assert {"pull_request", "push"} <= triggers


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_runs_only_documented_commands(path):
    workflow = yaml.safe_load(path.read_text())
    docs = (ROOT / "README.md").read_text() + (ROOT / "docs" / "ci.md").read_text()
    assert workflow["jobs"], f"{path.name} has no jobs"
    for job in workflow["jobs"].values():
        assert job["runs-on"] and job["steps"]
        for step in job["steps"]:
            assert "uses" in step or "run" in step, step
            for line in step.get("run", "").splitlines():
                if line.strip().startswith("#"):
                    continue
                assert line.strip() in docs, f"{path.name} runs a command docs/ci.md does not show: {line.strip()}"


def test_gate_cancels_superseded_runs_and_cannot_write():
    gate = load("gate.yml")
    assert "pull_request" in on(gate)
    assert gate["concurrency"]["cancel-in-progress"] is True
    assert "github.event.pull_request.number" in gate["concurrency"]["group"]
    # It runs the pull request's code: without a permissions key the token could write.
    assert gate["permissions"] == {"contents": "read"}
    for job in gate["jobs"].values():
        assert not writes(job.get("permissions")), job["permissions"]
        assert "timeout-minutes" in job


def test_gate_leaves_its_report_also_when_it_fails():
    gate_steps = steps(load("gate.yml"))
    gate = next(i for i, step in enumerate(gate_steps) if "ect_perf gate" in step.get("run", ""))
    after = gate_steps[gate + 1 :]
    assert after and all(re.search(r"always\(\)|!\s*cancelled\(\)", step.get("if", "")) for step in after), after
    text = "\n".join(step.get("run", "") for step in after)
    assert "ect_perf.pr_comment gate.md" in text and "> comment.md" in text and "> pr-number.txt" in text
    upload = next(step for step in after if step.get("uses", "").startswith("actions/upload-artifact@v4"))
    assert upload["with"]["name"] == "gate-report"
    assert set(upload["with"]["path"].split()) == {"comment.md", "pr-number.txt", "gate.md", "gate.json"}


def test_comment_workflow_writes_only_comments_and_runs_nothing_of_the_pull_request():
    comment = load("gate-comment.yml")
    trigger = on(comment)
    assert set(trigger) == {"workflow_run"}
    assert trigger["workflow_run"]["workflows"] == [load("gate.yml")["name"]]
    assert trigger["workflow_run"]["types"] == ["completed"]
    assert comment["permissions"] == {"pull-requests": "write", "actions": "read"}
    for job in comment["jobs"].values():
        assert "permissions" not in job
    for step in steps(comment):
        assert not step.get("uses", "").startswith("actions/checkout"), step
        assert "github.event.workflow_run.head_sha" not in json.dumps(step.get("with", {})), step
        for word in shlex.split(step.get("run", ""), comments=True):
            assert word not in {"checkout", "clone", "fetch", "pip", "python", "bash", "sh", "source", "."}, step
    download = next(step for step in steps(comment) if step.get("uses", "").startswith("actions/download-artifact@v4"))
    assert download["with"]["name"] == "gate-report"
    assert download["with"]["run-id"] == "${{ github.event.workflow_run.id }}"
    script = "\n".join(step.get("run", "") for step in steps(comment))
    assert "^[0-9]+$" in script  # the number is checked before use
    assert MARKER in script and "--method PATCH" in script and "--method POST" in script


def asv_runs(workflow: dict) -> list[dict]:
    runs = []
    for step in steps(workflow):
        for line in step.get("run", "").splitlines():
            words = shlex.split(line, comments=True)
            if words[:1] == [".venv/bin/asv"] and "run" in words:
                options = dict(zip(words, words[1:]))
                runs.append({"machine": options.get("--machine"), "bench": options.get("--bench"), "range": words[-1]})
    return runs


def test_history_counts_under_valgrind_and_leaves_counts_out_of_the_wall_clock_run():
    history = load("history.yml")
    assert history["concurrency"]["cancel-in-progress"] is False
    names = [name for name in json.loads((ROOT / "results" / "benchmarks.json").read_text()) if name != "version"]
    counts = {name for name in names if name.startswith("bench_instructions.")}
    assert counts and len(counts) < len(names)
    runs = asv_runs(history)
    assert {run["machine"] for run in runs} == {"valgrind", "$M"}
    assert "M=$(.venv/bin/python -m ect_perf machine --print-name)" in "\n".join(
        s.get("run", "") for s in steps(history)
    )
    for run in runs:
        assert run["bench"], f"asv run without --bench: {run}"
        selected = {name for name in names if re.search(run["bench"], name)}
        assert selected == (counts if run["machine"] == "valgrind" else set(names) - counts), run
    # Only commits that change what is measured: the counts of those without any yet, the wall
    # clock of the newest of them.
    assert {run["machine"]: run["range"] for run in runs} == {"valgrind": "HASHFILE:counts.txt", "$M": "$NEWEST^!"}
    script = "\n".join(s.get("run", "") for s in steps(history))
    assert ".venv/bin/python -m ect_perf measured --without-results valgrind > counts.txt" in script
    assert "NEWEST=$(.venv/bin/python -m ect_perf measured --newest)" in script
