"""The asv configurations: the databases one is the SQLite one plus its servers, and both install
every measured commit with the same pinned packages, versions that satisfy what every commit of
main declares, so that a release on PyPI cannot move the history and no commit fails to install.
(That asv really installs them: every real asv run, e.g. test_gate.py.)"""

import subprocess
import tomllib
from pathlib import Path

import pytest
from asv.util import load_json
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ["asv.conf.json", "asv.databases.conf.json"]


def pinned(config: str) -> dict[str, str]:
    """{package: version} of the `name==version` arguments of the config's first install command."""
    command = load_json(str(ROOT / config), js_comments=True)["install_command"][0]
    found = {}
    for argument in command.split():
        if "==" in argument:
            requirement = Requirement(argument)
            (specifier,) = requirement.specifier
            found[canonicalize_name(requirement.name)] = specifier.version
    return found


def declared(commit: str) -> list[Requirement]:
    """What `commit`'s pyproject.toml asks for, with the extras the configs install."""
    text = subprocess.run(
        ["git", "show", f"{commit}:pyproject.toml"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    project = tomllib.loads(text)["project"]
    extras = project.get("optional-dependencies", {})
    return [
        Requirement(line) for line in [*project["dependencies"], *extras.get("postgresql", []), *extras.get("odbc", [])]
    ]


def pyproject_versions() -> list[str]:
    """Every commit of main where pyproject.toml changed: between them it is the same."""
    return subprocess.run(
        ["git", "log", "--format=%H", "--", "pyproject.toml"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.split()


def test_the_databases_config_is_the_sqlite_one_plus_its_servers():
    # Pins, Regressions thresholds and all: the two configs are kept in step by hand.
    sqlite, servers = (load_json(str(ROOT / config), js_comments=True) for config in CONFIGS)
    assert servers["matrix"].pop("env_nobuild") == {"ECT_BENCH_DATABASE": ["postgresql", "mariadb"]}
    assert servers == sqlite


def test_the_benchmarks_own_packages_are_pinned():
    config = load_json(str(ROOT / "asv.conf.json"), js_comments=True)
    assert set(config["matrix"]["req"]) <= set(pinned("asv.conf.json"))  # numpy and psutil


@pytest.mark.parametrize("commit", pyproject_versions(), ids=lambda commit: commit[:8])
def test_the_pins_satisfy_what_every_commit_declares(commit):
    pins = pinned("asv.conf.json")
    for requirement in declared(commit):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{commit[:8]} asks for {requirement}, which the asv configs do not pin"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{commit[:8]} asks for {requirement}; the asv configs pin {name}=={pins[name]}"
        )
        for extra in requirement.extras:  # psycopg[binary]: its psycopg-binary, at the same version
            assert pins.get(f"{name}-{extra}") == pins[name], f"{name}[{extra}] is not pinned with {name}"


def test_the_root_commit_has_the_pyproject_checked():
    first = subprocess.run(
        ["git", "rev-list", "--max-parents=0", "HEAD"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.split()
    assert set(first) <= set(pyproject_versions())  # so no commit predates the versions checked
