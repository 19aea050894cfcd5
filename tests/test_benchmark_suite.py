"""The asv suite itself: it passes `asv check`, and one quick pass of every benchmark succeeds.

Runs in the current environment (--python=same) with a private HOME and a private copy of
asv.conf.json whose results and site go to a temporary directory, so neither the user's asv
machine file nor the committed results/ are touched; --quick results are never saved anyway.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest
from asv import util as asv_util
from bounded import group_alive, kill_group, run_bounded, start_in_group
from conftest import backend_url_or_skip

from ect_perf.hosts import host_machine, wall_clock_machines

ROOT = Path(__file__).resolve().parent.parent
ASV = [sys.executable, "-m", "asv"]
MACHINE = host_machine()  # what `python -m ect_perf machine` registers this host as

# Every benchmark of the suite, by the name asv gives it: each has its entry in verdicts.json.
SPEC_BENCHMARKS = [
    "bench_instructions.StreamInstructions.track_instructions_per_item",
    "bench_instructions.BufferedInstructions.track_instructions_per_item",
    "bench_instructions.UnaryInstructions.track_instructions_per_call",
    "bench_instructions.RecommendedStreamInstructions.track_instructions_per_item",
    "bench_throughput.StreamThroughput.time_drain_stream",
    "bench_throughput.StreamThroughput.track_items_per_second",
    "bench_throughput.StreamThroughput.track_microseconds_per_item",
    "bench_throughput.RecommendedStreamThroughput.track_items_per_second",
    "bench_throughput.UnaryBaseline.time_get_workflow",
    "bench_latency.TimeToFirstItem.track_first_item_ms",
    "bench_latency.RecommendedTimeToFirstItem.track_first_item_ms",
    "bench_memory.StreamingVsBufferingPeakMemory.peakmem_stream",
    "bench_memory.StreamingVsBufferingPeakMemory.peakmem_buffered",
    "bench_memory.AllocatedMemory.track_allocated_kb",
    "bench_memory.AllocatedMemory.track_buffered_to_stream_ratio",
    "bench_memory.RecommendedStreamMemory.track_allocated_kb",
    "bench_memory.RecommendedStreamMemory.track_buffered_to_stream_ratio",
    "bench_memory.GcPressure.track_gc_collections",
    "bench_concurrency.ConcurrentStreams.track_aggregate_items_per_second",
    "bench_concurrency.ConcurrentStreams.track_first_item_ms",
    "bench_concurrency.ConcurrentStreams.track_time_to_all_ms",
    "bench_concurrency.ConcurrentStreams.track_concurrent_streams",
    "bench_concurrency.ConcurrencyDegradation.track_throughput_50_vs_1",
    "bench_concurrency.Backpressure.track_server_wait_ms",
    "bench_concurrency.Backpressure.track_server_rss_growth_mb",
    "bench_cpu.CpuPerItem.track_cpu_us_per_item",
    "bench_workers.WorkerProcesses.track_items_per_second",
    "bench_workers.WorkerProcesses.track_two_vs_one",
]


@pytest.fixture(scope="module")
def asv_env(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    env = {**os.environ, "HOME": str(home)}
    for variable in ("ECT_BENCH_DB_URL", "ECT_BENCH_LARGE_DB_URL"):
        env.pop(variable, None)
    subprocess.run([sys.executable, "-m", "ect_perf", "machine"], cwd=ROOT, env=env, check=True)
    return env


def private_copy(committed: str, where: Path) -> Path:
    """A committed asv config, but writing its results and site (and, run from its directory, the
    benchmarks' SQLite files) under `where`."""
    config = {
        **asv_util.load_json(ROOT / committed, js_comments=True),
        "repo": str(ROOT),
        "benchmark_dir": str(ROOT / "benchmarks"),
        "env_dir": str(ROOT / ".asv" / "env"),
        "results_dir": str(where / "results"),
        "html_dir": str(where / "html"),
    }
    (where / committed).write_text(json.dumps(config, indent=4))
    return where / committed


@pytest.fixture(scope="module")
def private_config(tmp_path_factory) -> Path:
    return private_copy("asv.conf.json", tmp_path_factory.mktemp("asv"))


def asv(*args: str, config: Path, env: dict, timeout: float) -> subprocess.CompletedProcess:
    return run_bounded([*ASV, *args, "--config", str(config)], cwd=config.parent, env=env, timeout=timeout)


def test_asv_check(asv_env, private_config):
    result = asv("check", "--python=same", config=private_config, env=asv_env, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_quick_run_of_every_benchmark_succeeds(asv_env, private_config):
    """About 7 minutes on this machine kind (10-15 on a slower host of it); the bound is for a hang."""
    result = asv(
        "run",
        "--python=same",
        "--quick",
        "--machine",
        MACHINE,
        "--show-stderr",
        config=private_config,
        env=asv_env,
        timeout=1_500,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]  # asv exits 2 when any benchmark failed
    for name in SPEC_BENCHMARKS:
        assert name.split(".", 1)[1] in output or name.split(".")[-1] in output, f"{name} did not run"
    assert "failed" not in output.lower() and "skipped" not in output.lower(), output[-5000:]


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_the_databases_config_records_each_server_as_its_own_series(asv_env, tmp_path):
    """asv.databases.conf.json: one environment per server (built from HEAD, not --python=same, which
    ignores asv's matrix), each result recorded with its ECT_BENCH_DATABASE; the targets command
    reads one server's results by that name."""
    env = {
        **asv_env,
        "ECT_BENCH_POSTGRESQL_URL": backend_url_or_skip("postgresql"),
        "ECT_BENCH_MARIADB_URL": backend_url_or_skip("mariadb"),
    }
    config = private_copy("asv.databases.conf.json", tmp_path)
    result = asv(
        "run",
        "--machine",
        MACHINE,
        "--show-stderr",
        "--bench",
        r"UnaryBaseline\.time_get_workflow$",
        "HEAD^!",
        config=config,
        env=env,
        timeout=1_200,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    from asv.results import iter_results_for_machine

    recorded = {
        r.env_vars.get("ECT_BENCH_DATABASE"): r for r in iter_results_for_machine(tmp_path / "results", MACHINE)
    }
    assert set(recorded) == {"postgresql", "mariadb"}, recorded
    for database, one in recorded.items():
        key = "bench_throughput.UnaryBaseline.time_get_workflow"
        assert one.get_result_value(key, [])[0] > 0, (database, one.errcode)
    targets = run_bounded(
        [sys.executable, "-m", "ect_perf", "targets", "--config", str(config), "--database", "mariadb"],
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert targets.stdout.startswith(
        f"Performance targets at commit {recorded['mariadb'].commit_hash[:8]} on mariadb"
    ), targets


def test_every_benchmark_has_a_verdict_entry():
    """The gate judges each benchmark by its entry; the suite's benchmarks (as the last real asv run
    recorded them in results/benchmarks.json) and the entries are the same set."""
    suite = set(json.loads((ROOT / "results" / "benchmarks.json").read_text())) - {"version"}
    entries = set(json.loads((ROOT / "ect_perf" / "gate" / "verdicts.json").read_text())["benchmarks"])
    assert suite == entries == set(SPEC_BENCHMARKS)


# Wall-clock benchmarks that give one number per process: the gate's replicate is the process
# (ect_perf/gate/stats.py), so these are confirmed like the rest, with no samples of their own.
ONE_VALUE_A_PROCESS = {
    "bench_memory.StreamingVsBufferingPeakMemory.peakmem_stream",
    "bench_memory.StreamingVsBufferingPeakMemory.peakmem_buffered",
    "bench_concurrency.ConcurrentStreams.track_aggregate_items_per_second",
    "bench_concurrency.ConcurrentStreams.track_concurrent_streams",
    "bench_concurrency.ConcurrencyDegradation.track_throughput_50_vs_1",
}


def test_committed_wall_clock_results_carry_statistics():
    """asv (pinned) stores the samples a track_ returns as {"samples": [...], "number": 1} with their
    statistics: every benchmark judged by statistics has samples in the newest result."""
    from ect_perf.asv_results import load_config, newest_result

    result = newest_result(load_config(ROOT / "asv.conf.json"), wall_clock_machines(ROOT / "results"))
    policy = json.loads((ROOT / "ect_perf" / "gate" / "verdicts.json").read_text())["benchmarks"]
    for name, entry in policy.items():
        if entry["judge"] != "statistics" or name in ONE_VALUE_A_PROCESS:
            continue
        rows = {row: m for row, m in result.rows.items() if row.partition("(")[0] == name}
        assert rows, f"{name} has no result at {result.commit[:8]}"
        # (one stream at the 1-stream level: 1 sample)
        assert max(m.repeat for m in rows.values()) > 1, (name, rows)


def test_machine_registers_this_host_and_the_fixed_instructions_machine(asv_env):
    from ect_perf import INSTRUCTIONS_MACHINE, INSTRUCTIONS_MACHINE_INFO

    machines = json.loads((Path(asv_env["HOME"]) / ".asv-machine.json").read_text())
    assert machines[INSTRUCTIONS_MACHINE] == INSTRUCTIONS_MACHINE_INFO
    host = machines[MACHINE]
    assert host["machine"] == MACHINE and host["cpu"] and host["os"].startswith("Linux")
    assert host["os"].endswith(os.uname().release) and MACHINE.endswith(os.uname().release)
    printed = subprocess.run(
        [sys.executable, "-m", "ect_perf", "machine", "--print-name"],
        cwd=ROOT,
        env=asv_env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert printed == MACHINE + "\n"


def test_targets_report_the_newest_commit_of_any_host(asv_env, tmp_path):
    """A new host's run of HEAD, beside the committed results of earlier hosts: `targets` without
    --machine reports it (HEAD is newer than any committed result), and names its machine."""
    config = private_copy("asv.conf.json", tmp_path)
    shutil.copytree(ROOT / "results", tmp_path / "results")
    result = asv(
        "run",
        "--python=same",
        "--machine",
        MACHINE,
        "--show-stderr",
        "--bench",
        r"UnaryBaseline\.time_get_workflow$",
        "--set-commit-hash",
        head_commit(),
        config=config,
        env=asv_env,
        timeout=600,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    report = run_bounded(
        [sys.executable, "-m", "ect_perf", "targets", "--config", str(config), "--format", "json"],
        cwd=ROOT,
        env=asv_env,
        timeout=120,
    )
    assert json.loads(report.stdout)["machine"] == MACHINE, report.stdout[:500]
    assert json.loads(report.stdout)["commit"] == head_commit()
    earlier_host = an_earlier_host()
    earlier = run_bounded(
        [sys.executable, "-m", "ect_perf", "targets", "--config", str(config), "--machine", earlier_host],
        cwd=ROOT,
        env=asv_env,
        timeout=120,
    )
    assert f"(machine {earlier_host})" in earlier.stdout.splitlines()[0], earlier.stdout[:300]


def an_earlier_host() -> str:
    """A committed wall-clock series of another host than this one."""
    return min(set(wall_clock_machines(ROOT / "results")) - {MACHINE})


def head_commit() -> str:
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_committed_instruction_counts_form_one_series():
    """Every result under the instructions machine carries its one fixed description, so asv draws
    one series per benchmark whatever host counted it, and holds only instruction counts."""
    from ect_perf import INSTRUCTIONS_MACHINE, INSTRUCTIONS_MACHINE_INFO

    files = [path for path in (ROOT / "results" / INSTRUCTIONS_MACHINE).glob("*.json") if path.name != "machine.json"]
    assert files, f"no results for {INSTRUCTIONS_MACHINE} in results/"
    for path in files:
        result = json.loads(path.read_text())
        described = {key: result["params"].get(key) for key in INSTRUCTIONS_MACHINE_INFO}
        assert described == INSTRUCTIONS_MACHINE_INFO, path.name
        assert all(name.startswith("bench_instructions.") for name in result["results"]), path.name


ONE_BENCHMARK = [
    "--python=same",
    "--machine",
    MACHINE,
    "--show-stderr",
    "--bench",
    r"^bench_latency\.TimeToFirstItem\.",
]
# A benchmark that runs for seconds (up to 8 samples in 6 s): a test that disturbs it after its
# server is up lands while it runs. TimeToFirstItem with --quick can be done within 0.3 s.
LONGER_BENCHMARK = [*ONE_BENCHMARK[:-1], r"^bench_throughput\.StreamThroughput\.time_drain_stream$"]


def start_asv(args: list[str], config: Path, env: dict) -> subprocess.Popen:
    return start_in_group(
        [*ASV, *args, "--config", str(config)],
        cwd=config.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def first_server(asv_pid: int, timeout: float = 180) -> psutil.Process:
    """The first `ect_service serve` process the asv run starts, once it has been serving 0.3 s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in psutil.Process(asv_pid).children(recursive=True):
            try:
                if "ect_service" in child.cmdline() and "serve" in child.cmdline():
                    time.sleep(0.3)
                    return child
            except psutil.NoSuchProcess:
                pass
        time.sleep(0.05)
    raise AssertionError(f"asv started no server within {timeout:g} s")


def left_over(pgid: int, wait: float = 10) -> bool:
    """Whether any process of the run's group is still there `wait` seconds after asv ended."""
    deadline = time.monotonic() + wait
    while group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return group_alive(pgid)


def test_a_server_killed_mid_benchmark_fails_that_benchmark_and_leaves_no_process(asv_env, private_config):
    with start_asv(["run", *LONGER_BENCHMARK], private_config, asv_env) as run:
        try:
            first_server(run.pid).kill()
            output, _ = run.communicate(timeout=300)
            orphans = left_over(run.pid)
        finally:
            kill_group(run.pid)  # nothing of it outlives the test, whatever happened
    assert run.returncode == 2, output[-3000:]  # asv: a benchmark failed
    assert "failed" in output, output[-3000:]
    assert not orphans, "processes of the asv run outlived it"


@contextmanager
def interruptible_children():
    """Processes started in the block take SIGINT as from a terminal. A shell runs a background
    job with SIGINT ignored; its children inherit that (exec keeps an ignored signal ignored), and
    asv would then run on through every Ctrl-C: the test passed in the foreground only."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def test_an_interrupted_run_leaves_saved_results_intact(asv_env, private_config):
    """Ctrl-C in the middle of a benchmark: asv stops, and every result file already saved (the
    committed history, copied in here) is byte for byte what it was."""
    saved = private_config.parent / "results" / MACHINE
    earlier_host = an_earlier_host()
    shutil.copytree(ROOT / "results" / earlier_host, saved, dirs_exist_ok=True)  # an earlier host's results
    # machine.json is asv's description of the host running it, rewritten by every run
    before = {path.name: path.read_bytes() for path in saved.iterdir() if path.name != "machine.json"}
    head = head_commit()
    # Interrupted as from a terminal (the whole group), again each second while asv runs, as a user
    # would: one Ctrl-C that lands while asv waits on its benchmark process can be absorbed, and a
    # short benchmark then finished and exited 0.
    with (
        interruptible_children(),
        start_asv(["run", *LONGER_BENCHMARK, "--set-commit-hash", head], private_config, asv_env) as run,
    ):
        try:
            first_server(run.pid)
            deadline = time.monotonic() + 60
            while run.poll() is None and time.monotonic() < deadline:
                os.killpg(run.pid, signal.SIGINT)
                try:
                    run.wait(timeout=1)
                except subprocess.TimeoutExpired:
                    pass
            output, _ = run.communicate(timeout=120)
            orphans = left_over(run.pid)
        finally:
            kill_group(run.pid)
    assert run.returncode != 0, output[-3000:]
    assert {path.name: path.read_bytes() for path in saved.iterdir() if path.name in before} == before
    for path in saved.iterdir():  # whatever the run wrote is whole
        json.loads(path.read_text())
    assert not orphans, "processes of the asv run outlived it"
