"""Each host's wall-clock results go under a machine name of its own: what tells the hosts of this
machine kind apart (CPU vendor, family and model; kernel build), as a name asv can use."""

import os
import re
from pathlib import Path

from ect_perf.hosts import WALL_CLOCK_PREFIX, host_machine, wall_clock_machines

ROOT = Path(__file__).resolve().parent.parent

AMD = """processor	: 0
vendor_id	: AuthenticAMD
cpu family	: 25
model		: 17
model name	: AMD EPYC
flags		: fpu vme

processor	: 1
vendor_id	: AuthenticAMD
cpu family	: 26
model		: 2
"""
INTEL = (
    "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 143\n"
    "model name\t: Intel(R) Xeon(R) Processor\n"
)


def test_the_name_tells_cpu_and_kernel_build_apart(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(AMD)
    assert host_machine(cpuinfo, "6.18.44-fc-v595") == "python-svc-amd25.17-6.18.44-fc-v595"  # the first CPU's
    assert host_machine(cpuinfo, "6.18.44-fc-v509") != host_machine(cpuinfo, "6.18.44-fc-v595")
    cpuinfo.write_text(INTEL)
    assert host_machine(cpuinfo, "6.18.44-fc-v657") == "python-svc-intel6.143-6.18.44-fc-v657"


def test_the_name_is_safe_as_a_directory_and_in_asv_graph_paths(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("vendor_id\t: Some Vendor/Inc\ncpu family\t: 1\n")
    name = host_machine(cpuinfo, "5.10 #1 SMP/x")
    assert re.fullmatch(r"[a-z0-9._-]+", name), name
    assert name.startswith(WALL_CLOCK_PREFIX + "-")


def test_this_host(tmp_path):
    name = host_machine()
    assert name == host_machine() and name.endswith("-" + os.uname().release.lower())
    assert host_machine(tmp_path / "absent").startswith(WALL_CLOCK_PREFIX + "-")  # no /proc/cpuinfo: still a name


def test_wall_clock_machines_are_the_shared_name_and_every_hosts(tmp_path):
    for name in ("python-svc", "python-svc-amd25.17-6.18.44-fc-v595", "valgrind", "python-svc-empty", "other"):
        (tmp_path / name).mkdir()
        if name != "python-svc-empty":
            (tmp_path / name / "machine.json").write_text("{}")
    assert wall_clock_machines(tmp_path) == ["python-svc", "python-svc-amd25.17-6.18.44-fc-v595"]
    assert wall_clock_machines(tmp_path / "absent") == []
    committed = wall_clock_machines(ROOT / "results")
    assert "valgrind" not in committed and len(committed) >= 2, committed
    # the results from before per-host names mix hosts in one series: kept outside what is published
    assert WALL_CLOCK_PREFIX not in committed
    assert (ROOT / "results-earlier-hosts" / WALL_CLOCK_PREFIX / "machine.json").is_file()
