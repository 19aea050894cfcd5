"""A database that goes away: UNAVAILABLE with a useful message, the server lives on and recovers."""

import time

import grpc
import pytest

from conftest import BACKEND_ENV, ONLINE_USERS, backend_url_or_skip
from ect_service.seeding import seed_url
from ect_service.database import resolve_url
from benchmarks.harness import ServerProcess
from ect_service.v1 import workflow_pb2
from tcp_proxy import TcpProxy

EMPTY = workflow_pb2.EmptyRequest()
WORKFLOW = workflow_pb2.GetWorkflowRequest(id="test-workflow-1")


@pytest.fixture(params=sorted(BACKEND_ENV))
def proxied(request):
    """(server, proxy): a server whose every database connection passes through a cuttable proxy."""
    url = seed_url(backend_url_or_skip(request.param))  # the same rows the other backend tests use
    real = resolve_url(url)
    default_port = {"postgresql": 5432}.get(real.get_backend_name(), 3306)
    port = int(real.query.get("port", real.port or default_port))
    proxy = TcpProxy(real.host or "127.0.0.1", port).start()
    # resolve_url moves the port where the driver reads it (MariaDB's ODBC driver: a query option).
    through_proxy = real.set(port=proxy.port).render_as_string(hide_password=False)
    with ServerProcess(through_proxy, pool_size=4) as server:
        yield server, proxy
    proxy.cut()


def test_outage_gives_unavailable_and_recovers(proxied):
    server, proxy = proxied
    stub = server.stub()
    assert len(list(stub.GetUsersOnlineStream(EMPTY, timeout=30))) == ONLINE_USERS

    proxy.cut()
    for call in (lambda: stub.GetWorkflow(WORKFLOW, timeout=30), lambda: list(stub.GetUsersOnlineStream(EMPTY, timeout=30))):
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
