"""A database that goes away: UNAVAILABLE with a useful message, the server lives on and recovers."""

import signal
import subprocess
import sys
import time

import grpc
import pytest
from conftest import ONLINE_USERS, backend_url_or_skip
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tcp_proxy import TcpProxy

from benchmarks.measuring.harness import ServerProcess
from ect_service.database import resolve_url
from ect_service.seeding import seed_url
from ect_service.server import DATABASE_CLOSE_TIMEOUT, UNCLEAN_EXIT
from ect_service.v1 import workflow_pb2, workflow_pb2_grpc

EMPTY = workflow_pb2.EmptyRequest()
COLUMNS = workflow_pb2.StreamUsersOnlineRequest(columns=True)  # read through driver_rows, not SQLAlchemy rows
WORKFLOW = workflow_pb2.GetWorkflowRequest(id="test-workflow-1")
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
GRACE = 1.0
PROXIED_BACKENDS = ["mariadb", "postgresql"]  # the servers this machine kind has (SQL Server: not proxied)


@pytest.fixture(params=PROXIED_BACKENDS)
def proxied(request):
    """(server, proxy): a server whose every database connection passes through a cuttable proxy."""
    url = seed_url(backend_url_or_skip(request.param))  # the same rows the other backend tests use
    real = resolve_url(url)
    default_port = {"postgresql": 5432}.get(real.get_backend_name(), 3306)
    port = int(real.query.get("port", real.port or default_port))
    proxy = TcpProxy(real.host or "127.0.0.1", port).start()
    # resolve_url moves the port where the driver reads it (MariaDB's ODBC driver: a query option).
    through_proxy = real.set(port=proxy.port).render_as_string(hide_password=False)
    with ServerProcess(through_proxy, pool_size=4, extra_args=["--grace", str(GRACE)]) as server:
        yield server, proxy
    proxy.cut()


def test_outage_gives_unavailable_and_recovers(proxied):
    server, proxy = proxied
    stub = server.stub()
    assert len(list(stub.GetUsersOnlineStream(EMPTY, timeout=30))) == ONLINE_USERS

    proxy.cut()
    for call in (
        lambda: stub.GetWorkflow(WORKFLOW, timeout=30),
        lambda: list(stub.GetUsersOnlineStream(EMPTY, timeout=30)),
        lambda: list(stub.StreamUsersOnline(COLUMNS, timeout=30)),
    ):
        with pytest.raises(grpc.RpcError) as error:
            call()
        assert error.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "database unavailable" in error.value.details()
    assert server.process.poll() is None, "the server must keep running while the database is down"

    proxy.start()
    deadline = time.monotonic() + 20
    while True:
        try:
            assert stub.GetWorkflow(WORKFLOW, timeout=10).id == "test-workflow-1"
            break
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    assert len(list(stub.GetUsersOnlineStream(EMPTY, timeout=30))) == ONLINE_USERS
    assert sum(len(b.columns.user_ids) for b in stub.StreamUsersOnline(COLUMNS, timeout=30)) == ONLINE_USERS


def health_status(server, timeout: float = 10):
    stub = health_pb2_grpc.HealthStub(server.channel())
    return stub.Check(health_pb2.HealthCheckRequest(service="ect_service.v1.WorkflowService"), timeout=timeout).status


def wait_for_health(server, status, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while (seen := health_status(server)) != status:
        assert time.monotonic() < deadline, f"health stayed {seen}, expected {status}"
        time.sleep(0.2)


def test_health_follows_the_database(proxied):
    server, proxy = proxied
    assert health_status(server) == SERVING
    proxy.cut()
    with pytest.raises(grpc.RpcError):  # a failed request makes the server check at once
        server.stub().GetWorkflow(WORKFLOW, timeout=30)
    wait_for_health(server, NOT_SERVING, seconds=5)
    proxy.start()
    wait_for_health(server, SERVING)
    assert server.stub().GetWorkflow(WORKFLOW, timeout=10).id == "test-workflow-1"


@pytest.mark.parametrize("backend", PROXIED_BACKENDS)
def test_a_server_started_while_the_database_is_down_says_not_serving_until_it_is_back(backend):
    real = resolve_url(seed_url(backend_url_or_skip(backend)))
    default_port = {"postgresql": 5432}.get(real.get_backend_name(), 3306)
    proxy = TcpProxy(real.host or "127.0.0.1", int(real.query.get("port", real.port or default_port))).start()
    proxy.cut()  # the port is kept: nothing listens on it until start()
    url = real.set(port=proxy.port).render_as_string(hide_password=False)
    process = subprocess.Popen(
        [sys.executable, "-m", "ect_service", "serve", "--db", url, "--port", "0", "--stop-on-stdin-eof"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        target = process.stdout.readline().rsplit(" ", 1)[-1].strip()
        with grpc.insecure_channel(target) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            check = health_pb2.HealthCheckRequest(service="ect_service.v1.WorkflowService")
            assert health.Check(check, timeout=10).status == NOT_SERVING
            stub = workflow_pb2_grpc.WorkflowServiceStub(channel)
            with pytest.raises(grpc.RpcError) as error:
                stub.GetWorkflow(WORKFLOW, timeout=30)
            assert error.value.code() == grpc.StatusCode.UNAVAILABLE
            proxy.start()
            deadline = time.monotonic() + 20
            while health.Check(check, timeout=10).status != SERVING:
                assert time.monotonic() < deadline, "health did not return to SERVING"
                time.sleep(0.2)
            assert stub.GetWorkflow(WORKFLOW, timeout=10).id == "test-workflow-1"
    finally:
        process.stdin.close()
        process.wait(30)
        proxy.cut()


def test_a_database_that_stops_answering_costs_callers_the_call_limit_only(proxied):
    """A frozen database (connections open, no answer): with --call-timeout 2, a unary call and a
    stream end with DEADLINE_EXCEEDED after about 2 s whatever their own deadline, health turns
    NOT_SERVING, and once the database answers again so does the server."""
    server, proxy = proxied
    with ServerProcess(server.db_url, pool_size=4, extra_args=["--call-timeout", "2"]) as limited:
        stub = limited.stub()
        assert stub.GetWorkflow(WORKFLOW, timeout=10).id == "test-workflow-1"
        proxy.freeze()
        for call in (
            lambda: stub.GetWorkflow(WORKFLOW, timeout=60),
            lambda: list(stub.StreamUsersOnline(COLUMNS, timeout=60)),
        ):
            start = time.monotonic()
            with pytest.raises(grpc.RpcError) as error:
                call()
            assert error.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED, error.value
            assert "the database did not answer within 2 s" in error.value.details()
            assert 1.5 < time.monotonic() - start < 10
        wait_for_health(limited, NOT_SERVING, 30)
        proxy.thaw()
        wait_for_health(limited, SERVING, 30)
        assert stub.GetWorkflow(WORKFLOW, timeout=10).id == "test-workflow-1"
        assert limited.process.poll() is None


def test_shutdown_is_bounded_when_a_driver_call_hangs(proxied):
    """A database that stops answering mid-call: SIGTERM still ends the server within the grace
    period plus its bounded wait for database calls (server.DATABASE_CLOSE_TIMEOUT)."""
    server, proxy = proxied
    proxy.freeze()
    hung = server.stub().GetWorkflow.future(WORKFLOW, timeout=60)
    time.sleep(1)  # the call is now waiting for the database's answer
    assert not hung.done()
    start = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    code = server.process.wait(30)
    elapsed = time.monotonic() - start
    assert code == UNCLEAN_EXIT, code
    assert elapsed < GRACE + DATABASE_CLOSE_TIMEOUT + 3, elapsed
    proxy.thaw()
