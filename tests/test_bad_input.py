"""Whatever a client sends, only documented status codes come back and the server keeps serving.

Property-based (hypothesis) over the gRPC surface, on every database: random, empty, long,
non-ASCII and hostile workflow ids; undecodable request bytes; any max_items_per_batch; zero and
tiny deadlines; requests over the server's 64 KB limit (ect_service.server.MAX_REQUEST_BYTES) and over grpc's 4 MB.
"""

import grpc
import pytest
from conftest import ONLINE_USERS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ect_service.server import MAX_REQUEST_BYTES
from ect_service.v1 import workflow_pb2, workflow_pb2_grpc

Code = grpc.StatusCode
SERVICE = "/ect_service.v1.WorkflowService/"
# How many examples: the hypothesis profile (tests/conftest.py: fewer in the default tier).
EXAMPLES = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)))  # protobuf strings are UTF-8
IDS = st.one_of(
    TEXT,
    st.text(min_size=60, max_size=300),
    st.sampled_from(
        [
            "test-workflow-1",
            "",
            " ",
            "\x00",
            "test-workflow-1\x00",
            "'; DROP TABLE ect_workflows; --",
            "%",
            "_",
            "ü" * 64,
            "😀" * 64,
            "😀" * 65,
        ]
    ),
)
DEADLINES = st.sampled_from([0.0, 1e-6, 1e-3, 10.0])


def status(call) -> Code:
    try:
        call()
    except grpc.RpcError as error:
        assert error.details(), f"{error.code()} without a message"
        return error.code()
    return Code.OK


@pytest.fixture(scope="module")
def channel(backend_server):
    return backend_server.channel()


@EXAMPLES
@given(workflow_id=IDS, timeout=DEADLINES)
def test_get_workflow_answers_documented_codes_only(channel, workflow_id, timeout):
    stub = workflow_pb2_grpc.WorkflowServiceStub(channel)
    code = status(lambda: stub.GetWorkflow(workflow_pb2.GetWorkflowRequest(id=workflow_id), timeout=timeout))
    assert code in {Code.OK, Code.NOT_FOUND, Code.INVALID_ARGUMENT, Code.DEADLINE_EXCEEDED}, (workflow_id, code)
    if code == Code.OK:
        assert workflow_id.startswith("test-workflow-")


@EXAMPLES
@given(payload=st.binary(max_size=2_000), method=st.sampled_from(["GetWorkflow", "GetUsersOnline"]))
def test_undecodable_unary_requests_answer_documented_codes_only(channel, payload, method):
    raw = channel.unary_unary(SERVICE + method)  # bytes in, bytes out
    code = status(lambda: raw(payload, timeout=10))
    # UNKNOWN: grpcio's own answer to bytes that are not the request message (it parses them before
    # the service sees the call).
    assert code in {Code.OK, Code.NOT_FOUND, Code.INVALID_ARGUMENT, Code.UNKNOWN}, (payload, code)


@EXAMPLES
@given(payload=st.binary(max_size=2_000), method=st.sampled_from(["StreamUsersOnline", "GetUsersOnlineStream"]))
def test_undecodable_stream_requests_answer_documented_codes_only(channel, payload, method):
    raw = channel.unary_stream(SERVICE + method)
    code = status(lambda: sum(1 for _ in raw(payload, timeout=10)))
    assert code in {Code.OK, Code.INVALID_ARGUMENT, Code.UNKNOWN}, (payload, code)


@EXAMPLES
@given(size=st.one_of(st.integers(0, 20_000), st.integers(0, 2**32 - 1)), timeout=DEADLINES)
def test_any_batch_size_and_deadline_answer_documented_codes_only(channel, size, timeout):
    stub = workflow_pb2_grpc.WorkflowServiceStub(channel)
    request = workflow_pb2.StreamUsersOnlineRequest(max_items_per_batch=size)
    items = []
    code = status(
        lambda: items.extend(item for batch in stub.StreamUsersOnline(request, timeout=timeout) for item in batch.items)
    )
    assert code in {Code.OK, Code.INVALID_ARGUMENT, Code.DEADLINE_EXCEEDED}, (size, code)
    assert code != Code.OK or len(items) == ONLINE_USERS
    assert (code == Code.INVALID_ARGUMENT) == (size > 10_000) or code == Code.DEADLINE_EXCEEDED


@pytest.mark.parametrize("timeout", [0.0, 1e-6, 1e-3])
def test_tiny_deadlines_on_the_per_item_stream(channel, timeout):
    stub = workflow_pb2_grpc.WorkflowServiceStub(channel)
    code = status(lambda: sum(1 for _ in stub.GetUsersOnlineStream(workflow_pb2.EmptyRequest(), timeout=timeout)))
    assert code in {Code.OK, Code.DEADLINE_EXCEEDED}


@pytest.mark.parametrize("size", [MAX_REQUEST_BYTES + 1, 5 * 2**20])  # just over the server's limit; over grpc's 4 MB
def test_a_request_over_the_size_limit_is_refused(channel, size):
    stub = workflow_pb2_grpc.WorkflowServiceStub(channel)
    huge = workflow_pb2.GetWorkflowRequest(id="x" * size)
    assert status(lambda: stub.GetWorkflow(huge, timeout=30)) == Code.RESOURCE_EXHAUSTED
    # Just under the limit the request is read, and refused for what it says, not for its size.
    long = workflow_pb2.GetWorkflowRequest(id="x" * (MAX_REQUEST_BYTES - 16))
    assert status(lambda: stub.GetWorkflow(long, timeout=30)) == Code.INVALID_ARGUMENT


def test_the_server_still_serves_after_all_that(channel, backend_server):
    stub = workflow_pb2_grpc.WorkflowServiceStub(channel)
    assert stub.GetWorkflow(workflow_pb2.GetWorkflowRequest(id="test-workflow-1"), timeout=10).id == "test-workflow-1"
    assert sum(1 for _ in stub.GetUsersOnlineStream(workflow_pb2.EmptyRequest(), timeout=30)) == ONLINE_USERS
    assert backend_server.process.poll() is None
