"""Start-up on port 0, health, reflection, graceful shutdown on SIGTERM and SIGINT, and cancellation."""

import signal

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from benchmarks.measuring.harness import ServerProcess
from ect_service.v1 import workflow_pb2

EMPTY = workflow_pb2.EmptyRequest()


def test_port_zero_reports_a_loopback_address(server):
    host, port = server.target.rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) > 0


def test_health_serving_for_server_and_service(server):
    health = health_pb2_grpc.HealthStub(server.channel())
    for service in ("", "ect_service.v1.WorkflowService"):
        response = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert response.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_the_service(server):
    reflection = reflection_pb2_grpc.ServerReflectionStub(server.channel())
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    response = next(iter(reflection.ServerReflectionInfo(iter([request]), timeout=5)))
    names = {service.name for service in response.list_services_response.service}
    assert {"ect_service.v1.WorkflowService", "grpc.health.v1.Health"} <= names


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_shuts_down_cleanly(small_sqlite_url, sig):
    process = ServerProcess(small_sqlite_url).start()
    try:
        assert len(list(process.stub().GetUsersOnlineStream(EMPTY, timeout=10))) == 10
        assert process.terminate(sig, timeout=20) == 0
    finally:
        process.stop()


def test_shutdown_lets_an_open_stream_finish_within_the_grace_period(sqlite_url):
    process = ServerProcess(sqlite_url, extra_args=["--grace", "20"]).start()
    try:
        stream = process.stub().GetUsersOnlineStream(EMPTY, timeout=30)
        received = [next(stream)]
        process.process.send_signal(signal.SIGTERM)
        received.extend(stream)
        assert len(received) == 5_000
        assert process.process.wait(20) == 0
    finally:
        process.stop()


def test_health_watchers_see_not_serving_on_shutdown(sqlite_url):
    process = ServerProcess(sqlite_url, extra_args=["--grace", "20"]).start()
    try:
        watch = health_pb2_grpc.HealthStub(process.channel()).Watch(health_pb2.HealthCheckRequest(), timeout=30)
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
        stream = process.stub().GetUsersOnlineStream(EMPTY, timeout=30)
        next(stream)  # an open call keeps the server in its grace period
        process.process.send_signal(signal.SIGTERM)
        assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
        watch.cancel()  # a watch never ends by itself: it would hold the server for the whole grace
        assert 1 + sum(1 for _ in stream) == 5_000
        assert process.process.wait(20) == 0
    finally:
        process.stop()


def test_stdin_eof_stops_an_orphaned_server(small_sqlite_url):
    process = ServerProcess(small_sqlite_url).start()
    process.process.stdin.close()  # what the owner's death does to the pipe
    assert process.process.wait(20) == 0


def test_cancelled_streams_release_their_connection(sqlite_url):
    """With one pooled connection, a stream cancelled mid-way must give it back, or the next hangs."""
    with ServerProcess(sqlite_url, pool_size=1) as process:
        stub = process.stub()
        for _ in range(5):
            call = stub.GetUsersOnlineStream(EMPTY, timeout=30)
            for _, _item in zip(range(100), call):
                pass
            call.cancel()
        assert len(list(stub.GetUsersOnlineStream(EMPTY, timeout=15))) == 5_000
        assert stub.GetWorkflow(workflow_pb2.GetWorkflowRequest(id="test-workflow-1"), timeout=15).id


def test_bad_request_does_not_disturb_other_clients(server):
    stub = server.stub()
    stream = stub.GetUsersOnlineStream(EMPTY, timeout=30)
    first = next(stream)
    with pytest.raises(grpc.RpcError):
        stub.GetWorkflow(workflow_pb2.GetWorkflowRequest(id=""), timeout=5)
    assert 1 + sum(1 for _ in stream) == 5_000 and first.user_id
