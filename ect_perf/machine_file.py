"""Registering asv machines: this host's description in asv's machine file, ~/.asv-machine.json.

asv reads a machine's description (os, arch, cpu, num_cpu, ram) from that file when it runs with
`--machine NAME` and copies it into results/NAME/machine.json, which the site shows. `asv machine
--machine NAME --yes` stores only the fields that differ from what asv detects, so its machines'
results would lack the rest; this module writes the file's documented shape instead ({"version": 1,
NAME: {field: text}}), every field filled as asv would detect it (tests/test_machine_file.py checks
that asv reads it back).
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

FORMAT_VERSION = 1
FIELDS = ("machine", "os", "arch", "cpu", "num_cpu", "ram")


def machine_file() -> Path:
    return Path("~/.asv-machine.json").expanduser()


def detected(name: str, cpuinfo: Path = Path("/proc/cpuinfo"), meminfo: Path = Path("/proc/meminfo")) -> dict[str, str]:
    """This host described under `name`: the fields asv detects, as asv writes them."""
    return {
        "machine": name,
        "os": f"{platform.system()} {platform.release()}",
        "arch": platform.machine(),
        "cpu": _field(cpuinfo, "model name"),
        "num_cpu": str(os.cpu_count() or ""),
        "ram": _memory_bytes(meminfo),
    }


def _field(path: Path, key: str) -> str:
    for line in path.read_text().splitlines() if path.is_file() else ():
        name, _, value = line.partition(":")
        if name.strip() == key:
            return value.strip()
    return ""


def _memory_bytes(meminfo: Path) -> str:
    total = _field(meminfo, "MemTotal").split()
    return str(int(total[0]) * 1024) if total and total[0].isdigit() else ""


def registered(name: str, path: Path | None = None) -> bool:
    return name in _load(path or machine_file())


def register(machines: dict[str, dict[str, str]], path: Path | None = None) -> None:
    """Add or replace these machines in the file, keeping the others."""
    path = path or machine_file()
    data = {**_load(path), **machines, "version": FORMAT_VERSION}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=4, sort_keys=True) + "\n")
    tmp.replace(path)  # never a half-written file for an asv started meanwhile


def ensure_registered(name: str) -> None:
    """Register `name` as `python -m ect_perf machine` would, if asv's machine file lacks it: asv run
    needs its machine there."""
    if not registered(name):
        register({name: detected(name)})


def _load(path: Path) -> dict:
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    return {name: info for name, info in data.items() if name != "version"}
