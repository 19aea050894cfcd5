"""Registering asv machines by writing asv's machine file (ect_perf/machine_file.py): the fields as
asv detects them, other machines kept, and asv itself reading the file back as it does at run time
(a pinned asv upgrade that changed the file's shape would fail here)."""

import json
import os
import subprocess
import sys
from pathlib import Path

from ect_perf import INSTRUCTIONS_MACHINE, INSTRUCTIONS_MACHINE_INFO
from ect_perf.machine_file import FIELDS, detected, register, registered

ROOT = Path(__file__).resolve().parent.parent


def asv_reads(home: Path, name: str) -> dict:
    """What asv's own loader makes of the file under this HOME (it reads ~/.asv-machine.json)."""
    code = (
        f"import json; from asv.machine import Machine; print(json.dumps(Machine.load(machine_name={name!r}).__dict__))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, "HOME": str(home)}, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


def test_detected_fields_are_asvs(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC\n\nprocessor\t: 1\n")
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24683664 kB\nMemFree:         1000 kB\n")
    info = detected("host-a", cpuinfo, meminfo)
    assert tuple(info) == FIELDS
    assert (info["machine"], info["cpu"], info["ram"]) == ("host-a", "AMD EPYC", str(24683664 * 1024))


def test_asv_reads_what_is_registered_and_other_machines_stay(tmp_path):
    path = tmp_path / ".asv-machine.json"
    path.write_text(json.dumps({"version": 1, "someone-elses": {"machine": "someone-elses", "cpu": "z"}}))
    register({"host-a": detected("host-a"), INSTRUCTIONS_MACHINE: dict(INSTRUCTIONS_MACHINE_INFO)}, path)
    assert registered("host-a", path) and registered("someone-elses", path) and not registered("host-b", path)
    assert asv_reads(tmp_path, "host-a") == detected("host-a")
    assert asv_reads(tmp_path, INSTRUCTIONS_MACHINE) == INSTRUCTIONS_MACHINE_INFO
    assert json.loads(path.read_text())["version"] == 1


def test_the_machine_command_registers_both_machines(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "ect_perf", "machine", "--name", "host-c"],
        cwd=ROOT,
        env={**os.environ, "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert "asv machine host-c" in done.stdout
    assert asv_reads(tmp_path, "host-c") == detected("host-c")
    assert asv_reads(tmp_path, INSTRUCTIONS_MACHINE)["cpu"] == INSTRUCTIONS_MACHINE_INFO["cpu"]
