"""The probe answers each snapshot request by its name: a signal the server never handles (the kernel
keeps one of two signals sent before the first is handled) costs the snapshot that timed out, and
never shifts the snapshots after it. A real server process with the probe loaded."""

import os
import signal
import time
from pathlib import Path

import psutil
import pytest

from benchmarks.measuring.harness import ServerProcess


def stop(pid: int) -> None:
    os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + 10
    while psutil.Process(pid).status() != psutil.STATUS_STOPPED:
        assert time.monotonic() < deadline, "the server did not stop"
        time.sleep(0.01)


def test_a_lost_signal_does_not_shift_later_snapshots(small_sqlite_url):
    with ServerProcess(small_sqlite_url, probe=True) as server:
        first = server.snapshot()
        stop(server.pid)
        try:
            # Two requests while the server cannot handle signals: the second signal joins the
            # first, still pending, and is lost.
            for _ in range(2):
                with pytest.raises(RuntimeError, match="the server's probe did not answer"):
                    server.snapshot(timeout=0.3)
        finally:
            os.kill(server.pid, signal.SIGCONT)
        collected = server.snapshot(timeout=5, collect=True)
        assert collected["gc_collections"][2] > first["gc_collections"][2], "not this request's answer"
        assert server.snapshot(timeout=5)["gc_collections"][2] == collected["gc_collections"][2]


def test_the_probe_folder_goes_with_the_server(small_sqlite_url):
    with ServerProcess(small_sqlite_url, probe=True) as server:
        folder = Path(server.snapshot(dump=True, trace=True)["snapshot"]).parent
        assert folder.is_dir()
    assert not folder.exists()
