"""Which asv machine a host's wall-clock results go under.

asv keeps one result per machine name and commit: measuring a commit again under the same name
replaces the earlier result. Hosts of this machine kind differ up to 2.8x in speed, so each host
records its wall-clock results under a name of its own, made of what tells these hosts apart (CPU
vendor, family and model, kernel build): a new host adds its own series and re-measures any commit
without erasing another host's. Results recorded before per-host names, under the shared name
`python-svc`, are kept in results-earlier-hosts/ and not published: there one host's run of a commit
replaced another's, and campaigns on one host drew steps on unchanged code.
"""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

WALL_CLOCK_PREFIX = "python-svc"  # every host name's prefix (and the earlier results' shared name)
VENDORS = {"GenuineIntel": "intel", "AuthenticAMD": "amd"}


def host_machine(cpuinfo: Path = Path("/proc/cpuinfo"), kernel: str | None = None) -> str:
    """This host's wall-clock machine name, e.g. python-svc-amd25.17-6.18.44-fc-v595."""
    fields = _first_processor(cpuinfo.read_text() if cpuinfo.is_file() else "")
    vendor = VENDORS.get(fields.get("vendor_id", ""), fields.get("vendor_id", "") or platform.machine())
    cpu = f"{vendor}{fields.get('cpu family', '')}" + (f".{fields['model']}" if "model" in fields else "")
    name = f"{WALL_CLOCK_PREFIX}-{cpu}-{kernel or os.uname().release}"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).lower()


def _first_processor(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break
            continue
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields


def wall_clock_machines(results_dir: str | Path) -> list[str]:
    """The machines in results_dir that hold wall-clock results: the shared name and every host's."""
    root = Path(results_dir)
    if not root.is_dir():
        return []
    return sorted(
        path.name
        for path in root.iterdir()
        if (path / "machine.json").is_file()
        and (path.name == WALL_CLOCK_PREFIX or path.name.startswith(WALL_CLOCK_PREFIX + "-"))
    )
