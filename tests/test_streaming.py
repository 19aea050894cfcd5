"""The stream and unary calls over a real server and a seeded database, on every configured backend."""

from datetime import datetime

import grpc
import pytest

from conftest import ONLINE_USERS, SEEDED_USERS
from ect_service.seeding import user_rows
from ect_service.v1 import workflow_pb2

EMPTY = workflow_pb2.EmptyRequest()


def expected_online() -> dict[str, dict]:
    return {row["id"]: row for row in user_rows(SEEDED_USERS) if row["is_online"]}


def test_stream_returns_exactly_the_online_users(backend_server):
    items = list(backend_server.stub().GetUsersOnlineStream(EMPTY, timeout=60))
    assert len(items) == ONLINE_USERS
    expected = expected_online()
    assert {item.user_id for item in items} == set(expected)
    for item in items[:50] + items[-50:]:
        row = expected[item.user_id]
        assert item.user_name == row["name"]
        assert item.status == workflow_pb2.USER_STATUS_ONLINE
        assert item.last_active.ToDatetime() == row["last_active"]


def test_stream_is_in_id_order(backend_server):
    ids = [item.user_id for item in backend_server.stub().GetUsersOnlineStream(EMPTY, timeout=60)]
    assert ids == sorted(ids)


def test_buffered_call_returns_the_same_users_as_the_stream(backend_server):
    stub = backend_server.stub()
    buffered = stub.GetUsersOnline(EMPTY, timeout=60).items
    streamed = list(stub.GetUsersOnlineStream(EMPTY, timeout=60))
    assert len(buffered) == ONLINE_USERS
    assert {(i.user_id, i.user_name) for i in buffered} == {(i.user_id, i.user_name) for i in streamed}


def test_get_workflow(backend_server):
    response = backend_server.stub().GetWorkflow(workflow_pb2.GetWorkflowRequest(id="test-workflow-1"), timeout=10)
    assert response.id == "test-workflow-1"
    assert response.title == "Workflow 1"
    assert response.status
    assert response.modified_date.ToDatetime() > response.created_date.ToDatetime() > datetime(2023, 1, 1)


@pytest.mark.parametrize(
    ("workflow_id", "code"),
    [
        ("no-such-workflow", grpc.StatusCode.NOT_FOUND),
        ("", grpc.StatusCode.INVALID_ARGUMENT),
        ("x" * 65, grpc.StatusCode.INVALID_ARGUMENT),
    ],
)
def test_get_workflow_errors(backend_server, workflow_id, code):
    with pytest.raises(grpc.RpcError) as error:
        backend_server.stub().GetWorkflow(workflow_pb2.GetWorkflowRequest(id=workflow_id), timeout=10)
    assert error.value.code() == code
    assert error.value.details()  # a message that says what was wrong
