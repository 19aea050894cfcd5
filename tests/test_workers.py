"""`serve --workers N`: N processes on one port, each serving; a taken port refused either way;
stopping the parent stops every worker; a worker that dies takes the others down with an error."""

import signal
import socket
import subprocess
import sys

import grpc
import psutil
import pytest

from benchmarks.measuring.harness import ServerProcess
from ect_service.v1 import workflow_pb2, workflow_pb2_grpc

REQUEST = workflow_pb2.StreamUsersOnlineRequest()
OWN_CONNECTION = [("grpc.use_local_subchannel_pool", 1)]


def listening_ports(process: psutil.Process) -> set[int]:
    return {c.laddr.port for c in process.net_connections("tcp") if c.status == psutil.CONN_LISTEN}


@pytest.fixture
def two_workers(sqlite_url):
    server = ServerProcess(sqlite_url, extra_args=["--workers", "2"]).start()
    yield server
    server.stop()


def test_every_worker_listens_on_the_port_and_serves(two_workers):
    port = int(two_workers.target.rsplit(":", 1)[1])
    workers = psutil.Process(two_workers.pid).children()
    assert len(workers) == 2
    assert all(listening_ports(worker) == {port} for worker in workers)
    assert listening_ports(psutil.Process(two_workers.pid)) == set()  # the parent only supervises

    # Twenty connections, held open: the kernel spreads them (both workers get one but with
    # probability 2 / 2**20), and each gets every item in order.
    channels = [grpc.insecure_channel(two_workers.target, options=OWN_CONNECTION) for _ in range(20)]
    try:
        for channel in channels:
            stream = workflow_pb2_grpc.WorkflowServiceStub(channel).StreamUsersOnline(REQUEST, timeout=30)
            ids = [item.user_id for batch in stream for item in batch.items]
            assert len(ids) == 5_000 and ids == sorted(ids)
        connections = {
            w.pid: sum(1 for c in w.net_connections("tcp") if c.status == psutil.CONN_ESTABLISHED) for w in workers
        }
        assert sum(connections.values()) >= 20 and all(connections.values()), connections
    finally:
        for channel in channels:
            channel.close()


def test_sigterm_stops_every_worker(sqlite_url):
    server = ServerProcess(sqlite_url, extra_args=["--workers", "2"]).start()
    workers = psutil.Process(server.pid).children()
    assert server.terminate(signal.SIGTERM, timeout=30) == 0
    assert not any(worker.is_running() and worker.status() != psutil.STATUS_ZOMBIE for worker in workers)


def test_a_worker_that_dies_stops_the_others_with_an_error(sqlite_url):
    server = ServerProcess(sqlite_url, extra_args=["--workers", "2"]).start()
    try:
        first, second = psutil.Process(server.pid).children()
        first.kill()
        assert server.process.wait(30) != 0
        second.wait(5)
    finally:
        server.stop()


def _serve(url: str, port: int, *more: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ect_service", "serve", "--db", url, "--port", str(port), *more],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_workers_refuse_a_port_another_server_owns(server, sqlite_url):
    port = int(server.target.rsplit(":", 1)[1])
    result = _serve(sqlite_url, port, "--workers", "2")
    assert result.returncode == 1
    assert (
        result.stderr.strip().splitlines()[-1] == f"ect-service: cannot bind 127.0.0.1:{port}: Address already in use"
    )


def test_a_single_server_refuses_the_workers_port(two_workers, sqlite_url):
    port = int(two_workers.target.rsplit(":", 1)[1])
    result = _serve(sqlite_url, port)
    assert result.returncode == 1
    assert "cannot bind" in result.stderr and "Traceback" not in result.stderr


def test_workers_refuse_a_port_a_plain_socket_listens_on(sqlite_url):
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)  # even one that allows sharing
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        result = _serve(sqlite_url, port, "--workers", "2")
    assert result.returncode == 1
    assert "Address already in use" in result.stderr
