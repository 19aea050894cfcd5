"""Run a real server process on loopback: the one helper that the benchmarks and the tests share.

    with ServerProcess(db_url) as server:
        stub = server.stub()

It lives with the benchmarks, not in the service, so that what measures stays the same for every
commit measured. It relies only on the service's command line, which every commit of main has:
`python -m ect_service serve --db URL --port 0 --stop-on-stdin-eof` prints one ready line with the
bound address; the server is used once its health check says SERVING. Its standard input is a pipe
held by this process: should this process die without stopping it, the server sees the pipe close
and stops by itself, so no server outlives its owner.

`wrapper` runs the server under another program (valgrind); `probe=True` loads probe/sitecustomize.py
into the server so that `snapshot()` can read its garbage collector and tracemalloc counters.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

READY_LINE_PREFIX = "ect-service serving on "  # the service's ready line (ect_service.server)
PROBE_DIR = Path(__file__).resolve().parent / "probe"


class ServerStartError(RuntimeError):
    pass


class ServerProcess:
    # The folder whose `ect_service` every server started meanwhile runs, when not given one: the
    # gate's interleaved confirmation sets it around a benchmark's own setup (interleaved.py).
    serve_from: str | None = None

    def __init__(
        self,
        db_url: str,
        *,
        pool_size: int | None = None,
        extra_args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        wrapper: Sequence[str] = (),
        probe: bool = False,
        startup_timeout: float = 30.0,
        source: str | None = None,
    ) -> None:
        """source: a folder holding an `ect_service` package to serve instead of the installed one
        (first on the server's PYTHONPATH): two revisions served side by side by one environment."""
        self.db_url = db_url
        self.args = [*wrapper, sys.executable, "-m", "ect_service", "serve", "--db", db_url, "--port", "0"]
        if pool_size is not None:
            self.args += ["--pool-size", str(pool_size)]
        self.args += ["--stop-on-stdin-eof", *extra_args]
        self.env = {**os.environ, **(env or {})}
        source = source or self.serve_from
        # `python -m` puts its working directory first on sys.path: the source's folder, when given.
        self.cwd = source
        if source:
            self.env["PYTHONPATH"] = os.pathsep.join(filter(None, [source, self.env.get("PYTHONPATH", "")]))
        self._probe_dir = None
        if probe:
            self._probe_dir = tempfile.mkdtemp(prefix="ect-probe-")
            path = [str(PROBE_DIR), self.env.get("PYTHONPATH", "")]
            self.env.update(PYTHONPATH=os.pathsep.join(filter(None, path)), ECT_PROBE_DIR=self._probe_dir)
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen | None = None
        self.target = ""
        self._channels: list[grpc.Channel] = []
        self._snapshots = itertools.count(1)  # names the snapshot requests
        self.stderr_lines: deque[str] = deque(maxlen=200)  # the server's log tail, for errors

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> "ServerProcess":
        self.process = subprocess.Popen(
            self.args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.env,
            cwd=self.cwd,
            text=True,
        )
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        try:
            self.target = self._read_ready_line()
            self._wait_serving()
        except BaseException:
            self.stop()
            raise
        return self

    def _read_ready_line(self) -> str:
        deadline = time.monotonic() + self.startup_timeout
        # stdout carries only the ready line; a reader thread keeps the timeout honest.
        found: list[str] = []
        reader = threading.Thread(target=lambda: found.append(self.process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(max(0.0, deadline - time.monotonic()))
        line = found[0] if found else ""
        if not line.startswith(READY_LINE_PREFIX):
            raise ServerStartError(
                f"server did not report its address (exit code {self.process.poll()}): "
                + " | ".join(list(self.stderr_lines)[-5:])
            )
        return line[len(READY_LINE_PREFIX):].strip()

    def _wait_serving(self) -> None:
        with grpc.insecure_channel(self.target) as channel:
            response = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=self.startup_timeout, wait_for_ready=True
            )
        if response.status != health_pb2.HealthCheckResponse.SERVING:
            raise ServerStartError(f"server at {self.target} is not SERVING: {response.status}")

    def _drain_stderr(self) -> None:
        for line in self.process.stderr:
            self.stderr_lines.append(line.rstrip())

    def channel(self, options: Sequence[tuple] = ()) -> grpc.Channel:
        channel = grpc.insecure_channel(self.target, options=list(options))
        self._channels.append(channel)
        return channel

    def stub(self, options: Sequence[tuple] = ()):
        from ect_service.v1 import workflow_pb2_grpc  # the commit's own contract

        return workflow_pb2_grpc.WorkflowServiceStub(self.channel(options))

    def snapshot(self, timeout: float = 10.0, collect: bool = False, dump: bool = False, trace: bool = False) -> dict:
        """The server's counters now (probe=True): gc collections per generation and, when the server
        runs with PYTHONTRACEMALLOC=1, traced memory. Resets the traced peak for the next snapshot.
        `collect=True` runs a full garbage collection first: the traced memory is then what is still
        reachable, without the garbage that happens to await the next collection. `trace=True`
        starts tracemalloc first (where PYTHONTRACEMALLOC did not), and `dump=True` has the server
        write tracemalloc's snapshot, whose file the answer names ("snapshot").

        The request is a file named for this snapshot, and the probe answers under that name
        (probe/sitecustomize.py): a signal lost or handled late can cost this snapshot, never the
        next. One that times out is withdrawn, unless the probe has already taken it."""
        assert self._probe_dir, "start the server with probe=True"
        directory = Path(self._probe_dir)
        name = str(next(self._snapshots))
        request, answer = directory / f"{name}.request", directory / f"{name}.json"
        written = directory / f"{name}.request.tmp"
        words = {"collect": collect, "dump": dump, "trace": trace}
        written.write_text(" ".join(word for word, wanted in words.items() if wanted))
        written.replace(request)
        self.process.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        taken = False
        while not answer.exists():
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited before its probe answered: {self._log_tail()}")
            if time.monotonic() > deadline:
                if not taken:
                    try:
                        request.unlink()
                    except FileNotFoundError:  # taken by the probe: its answer is being written
                        taken, deadline = True, time.monotonic() + timeout
                        continue
                raise RuntimeError(f"the server's probe did not answer within {timeout:g} s: {self._log_tail()}")
            time.sleep(0.002)
        data = json.loads(answer.read_text())
        if dump and "traced_bytes" in data:
            data["snapshot"] = str(directory / f"{name}.tracemalloc")
        return data

    def _log_tail(self) -> str:
        return " | ".join(list(self.stderr_lines)[-3:])

    def terminate(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Send `sig` and wait for the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout)

    def stop(self, timeout: float = 15.0) -> int | None:
        """Stop gracefully; kill if the grace period is not honoured. Safe to call twice."""
        for channel in self._channels:
            channel.close()
        self._channels.clear()
        if self.process is None:
            return None
        try:
            return self.terminate(signal.SIGTERM, timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()
        finally:
            if self.process.stdin:
                self.process.stdin.close()
            if self._probe_dir:  # the snapshot requests and answers, read while the server ran
                shutil.rmtree(self._probe_dir, ignore_errors=True)

    def __enter__(self) -> "ServerProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
