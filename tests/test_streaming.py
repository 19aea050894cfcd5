"""The stream and unary calls over a real server and a seeded database, on every configured backend."""

from datetime import datetime

import grpc
import pytest
from conftest import ONLINE_USERS, SEEDED_USERS

from ect_service.client import BATCHED, PER_ITEM, online_users
from ect_service.seeding import user_rows
from ect_service.v1 import workflow_pb2

EMPTY = workflow_pb2.EmptyRequest()
BATCH_REQUEST = workflow_pb2.StreamUsersOnlineRequest()
COLUMNS_REQUEST = workflow_pb2.StreamUsersOnlineRequest(columns=True)


def batch_size(batch: workflow_pb2.UserOnlineBatch) -> int:
    """Items in one StreamUsersOnline message, whichever form it carries them in (never both)."""
    assert not (batch.items and batch.HasField("columns"))
    columns = batch.columns
    assert len(columns.user_ids) == len(columns.user_names) == len(columns.last_active_unix_micros)
    return len(batch.items) or len(columns.user_ids)


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


def test_batched_stream_returns_the_same_items_in_the_same_order(backend_server):
    stub = backend_server.stub()
    per_item = list(stub.GetUsersOnlineStream(EMPTY, timeout=60))
    batched = [item for batch in stub.StreamUsersOnline(BATCH_REQUEST, timeout=60) for item in batch.items]
    assert len(batched) == ONLINE_USERS
    assert batched == per_item  # every field of every item, in id order


def test_columns_carry_the_same_users_in_the_same_order(backend_server):
    stub = backend_server.stub()
    columns = list(online_users(stub, BATCHED, timeout=60))  # StreamUsersOnline with columns
    per_item = list(online_users(stub, PER_ITEM, timeout=60))
    assert len(columns) == ONLINE_USERS
    assert columns == per_item  # id, name and last active to the microsecond, in id order
    expected = expected_online()
    assert all(user.last_active.replace(tzinfo=None) == expected[user.user_id]["last_active"] for user in columns)


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        # 4 + 8 + ... + 128 = 252 items, then 18 x 250 and the remaining 248 of 5,000.
        (BATCH_REQUEST, [4, 8, 16, 32, 64, 128, *[250] * 18, 248]),
        # Columns: pages grow eight-fold, 4 + 32 + 256 = 292, then 4 x 1,000 and the remaining 708, in
        # messages of at most 500.
        (COLUMNS_REQUEST, [4, 32, 256, *[500] * 9, 208]),
    ],
    ids=["items", "columns"],
)
def test_batched_stream_batches_grow_from_a_small_first_one(server, request_, expected):
    sizes = [batch_size(batch) for batch in server.stub().StreamUsersOnline(request_, timeout=60)]
    assert sizes == expected


@pytest.mark.parametrize("columns", [False, True], ids=["items", "columns"])
@pytest.mark.parametrize("limit", [1, 7, 1_000, 10_000])
def test_batched_stream_honours_max_items_per_batch(server, limit, columns):
    request = workflow_pb2.StreamUsersOnlineRequest(max_items_per_batch=limit, columns=columns)
    sizes = [batch_size(batch) for batch in server.stub().StreamUsersOnline(request, timeout=60)]
    assert max(sizes) <= limit and sum(sizes) == ONLINE_USERS


def test_batched_stream_rejects_oversized_batches(server):
    request = workflow_pb2.StreamUsersOnlineRequest(max_items_per_batch=10_001)
    with pytest.raises(grpc.RpcError) as error:
        list(server.stub().StreamUsersOnline(request, timeout=10))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "at most 10000" in error.value.details()


@pytest.mark.parametrize("request_", [BATCH_REQUEST, COLUMNS_REQUEST], ids=["items", "columns"])
def test_cancelled_batched_streams_leave_the_server_serving(server, request_):
    stub = server.stub()
    for _ in range(30):  # more than the pool's 20 connections: each cancel must return its own
        call = stub.StreamUsersOnline(request_, timeout=10)
        next(call)
        call.cancel()
    assert sum(1 for _ in online_users(stub, BATCHED, timeout=30)) == ONLINE_USERS


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
