"""Regenerate the Python stubs in ect_service/ from the .proto files in protos/.

Usage: python scripts/generate_protos.py [--out DIR]

protos/ mirrors the package layout, so protoc writes ect_service/v1/*_pb2.py with absolute imports.
The stubs are committed; tests/test_protos.py regenerates them and fails when they drift.
"""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"


def proto_files() -> list[Path]:
    return sorted(PROTO_ROOT.rglob("*.proto"))


def generate(out: Path) -> None:
    well_known = resources.files("grpc_tools") / "_proto"  # google/protobuf/*.proto
    for proto in proto_files():
        args = [
            "grpc_tools.protoc",
            f"-I{PROTO_ROOT}",
            f"-I{well_known}",
            f"--python_out={out}",
            f"--pyi_out={out}",
            f"--grpc_python_out={out}",
            str(proto.relative_to(PROTO_ROOT)),
        ]
        if protoc.main(args) != 0:
            raise SystemExit(f"protoc failed on {proto}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT, help="output root (default: the repository)")
    generate(parser.parse_args().out)


if __name__ == "__main__":
    sys.exit(main())
