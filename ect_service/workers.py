"""`ect-service serve --workers N`: N server processes sharing one port.

grpcio's Python server runs every call on one event loop, so one process uses about one core. This
is grpc's own multiprocessing pattern: the workers are forked before any gRPC state exists, each
starts a whole server of its own (event loop, database pool, health) on the same port with
SO_REUSEPORT, and the kernel spreads incoming connections among them. A connection stays with the
worker that accepted it: the calls of one client channel all go to one worker, so the gain needs
several clients (or channels).

SO_REUSEPORT is on for this case only, and the port is first bound exclusively: a port that any
other process already listens on is refused with a clear error, never silently shared.

The parent process only supervises: it prints the ready line once every worker serves, forwards
SIGTERM/SIGINT (and standard input's end, with --stop-on-stdin-eof) to the workers, and ends when
one worker ends, stopping the others, with the worst exit code (a supervisor then restarts it all).
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import sys
import threading
from dataclasses import replace

from ect_service.server import DATABASE_CLOSE_TIMEOUT, ServeOptions, address, on_stdin_eof, print_ready_line, run

READY_TIMEOUT = 60.0  # seconds for every worker to start serving
STOP_MARGIN = 5.0  # seconds past grace + DATABASE_CLOSE_TIMEOUT before a worker is killed


class PortInUse(RuntimeError):
    pass


def reserve_port(host: str, port: int) -> socket.socket:
    """A socket holding host:port (a free one for port 0) for the workers, which bind it too.

    First an exclusive bind: the kernel refuses it if anything listens there, SO_REUSEPORT or not.
    Then the reserving socket, with SO_REUSEPORT so the workers can join it; it never listens.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as exclusive:
        exclusive.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is no owner
        try:
            exclusive.bind((host, port))
        except OSError as exc:
            raise PortInUse(f"cannot bind {address(host, port)}: {exc.strerror}") from None
        port = exclusive.getsockname()[1]
    reserved = socket.socket(family, socket.SOCK_STREAM)
    reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        reserved.bind((host, port))
    except OSError as exc:  # taken between the two binds
        reserved.close()
        raise PortInUse(f"cannot bind {address(host, port)}: {exc.strerror}") from None
    return reserved


def _worker(options: ServeOptions, ready) -> None:
    # A fresh process image would not inherit the parent's handlers; a fork does: reset them.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    sys.exit(run(options, announce=lambda bound: ready.send(bound)))


def run_workers(options: ServeOptions, workers: int) -> int:
    """Serve with `workers` processes on one port; returns the exit code."""
    try:
        reserved = reserve_port(options.host, options.port)
    except PortInUse as exc:
        print(f"ect-service: {exc}", file=sys.stderr)
        return 1
    port = reserved.getsockname()[1]
    worker_options = replace(options, port=port, reuse_port=True, stop_on_stdin_eof=False)
    context = multiprocessing.get_context("fork")  # before any gRPC state: grpc's own pattern
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    processes = []
    ready_pipes = []
    for _ in range(workers):
        receive, send = context.Pipe(duplex=False)
        process = context.Process(target=_worker, args=(worker_options, send), daemon=False)
        process.start()
        send.close()
        processes.append(process)
        ready_pipes.append(receive)
    try:
        if not _wait_ready(processes, ready_pipes):
            return 1
        print_ready_line(address(options.host, port))
        print(
            f"ect-service: {workers} workers serving, pids {' '.join(str(p.pid) for p in processes)}",
            file=sys.stderr,
            flush=True,
        )
        if options.stop_on_stdin_eof:
            on_stdin_eof(stop.set)
        while not stop.is_set():
            if multiprocessing.connection.wait([p.sentinel for p in processes], timeout=0.2):
                break  # a worker ended on its own: stop the rest
    finally:
        code = _stop(processes, options.grace + DATABASE_CLOSE_TIMEOUT + STOP_MARGIN)
        reserved.close()
    return code


def _wait_ready(processes, ready_pipes) -> bool:
    """True once every worker reported its bound address; False (reported) if one ended first."""
    waiting = dict(zip(ready_pipes, processes))
    while waiting:
        done = multiprocessing.connection.wait(
            [*waiting, *(p.sentinel for p in waiting.values())], timeout=READY_TIMEOUT
        )
        if not done:
            print(f"ect-service: a worker did not start serving within {READY_TIMEOUT:g} s", file=sys.stderr)
            return False
        for pipe in [w for w in done if w in waiting]:
            try:
                pipe.recv()
            except EOFError:  # the worker ended before it served; it said why on stderr
                print(f"ect-service: worker {waiting[pipe].pid} failed to start", file=sys.stderr)
                return False
            del waiting[pipe]
        if any(p.sentinel in done for p in waiting.values()):
            print("ect-service: a worker failed to start", file=sys.stderr)
            return False
    return True


def _stop(processes, timeout: float) -> int:
    for process in processes:
        if process.is_alive():
            os.kill(process.pid, signal.SIGTERM)
    for process in processes:
        process.join(timeout)
        if process.is_alive():
            process.kill()
            process.join()
    # A worker killed by a signal has a negative exit code: report it as the shell would.
    return max((code if code >= 0 else 128 - code) for code in (p.exitcode for p in processes))
