"""The committed stubs are exactly what the .proto of this commit generates."""

import filecmp
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_generated_stubs_match_proto(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "scripts" / "generate_protos.py"), "--out", str(tmp_path)], check=True)
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert generated, "protoc generated nothing"
    for relative in generated:
        committed = ROOT / relative
        assert committed.exists(), f"{relative} is generated but not committed: run scripts/generate_protos.py"
        assert filecmp.cmp(committed, tmp_path / relative, shallow=False), (
            f"{relative} is stale: run scripts/generate_protos.py"
        )
