"""The repository's own CI workflows: valid YAML, and every command they run is one the README documents."""

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def test_there_are_workflows_for_pull_requests_and_pushes():
    triggers = set()
    for path in WORKFLOWS:
        triggers |= set(yaml.safe_load(path.read_text())[True])  # YAML 1.1 reads the key `on` as True
    assert {"pull_request", "push"} <= triggers


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_runs_only_documented_commands(path):
    workflow = yaml.safe_load(path.read_text())
    readme = (ROOT / "README.md").read_text()
    assert workflow["jobs"], f"{path.name} has no jobs"
    for job in workflow["jobs"].values():
        assert job["runs-on"] and job["steps"]
        for step in job["steps"]:
            assert "uses" in step or "run" in step, step
            for line in step.get("run", "").splitlines():
                assert line.strip() in readme, f"{path.name} runs a command the README does not show: {line.strip()}"
