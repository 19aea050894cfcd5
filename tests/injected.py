"""A copy of the service with one change injected: the tests that prove a metric or a judgement can
fail start their server from it (`python -m ect_service` imports the package from its working
directory first)."""

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def service_copy(tmp_path: Path, module: str, old: str, new: str) -> Path:
    """A copy of ect_service with `old` replaced by `new` in `module`; returns the folder holding it."""
    tmp_path = tmp_path / "injected"
    shutil.copytree(ROOT / "ect_service", tmp_path / "ect_service", ignore=shutil.ignore_patterns("__pycache__"))
    path = tmp_path / "ect_service" / module
    source = path.read_text()
    assert old in source, f"the injection no longer applies to {module}: update this test"
    path.write_text(source.replace(old, new))
    return tmp_path
