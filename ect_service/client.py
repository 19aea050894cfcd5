"""Client-side helpers: a channel to the service, the online users item by item, a timed read.

Two RPCs stream the online users. StreamUsersOnline (the recommended one) carries many items per
message (250 by default), here as columns; GetUsersOnlineStream carries one, and grpc's cost per
message (tens of microseconds of CPU on each side, whatever the size) then dominates.
online_users() yields OnlineUser tuples one by one from either, so callers iterate users whichever
RPC they read.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from typing import NamedTuple

import grpc

from ect_service.v1 import workflow_pb2, workflow_pb2_grpc

BATCHED = "StreamUsersOnline"
PER_ITEM = "GetUsersOnlineStream"
RPCS = (BATCHED, PER_ITEM)


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class OnlineUser(NamedTuple):
    user_id: str
    user_name: str
    last_active_unix_micros: int  # microseconds since 1970-01-01T00:00:00Z

    @property
    def last_active(self) -> datetime:
        return _EPOCH + timedelta(microseconds=self.last_active_unix_micros)


@dataclass(frozen=True)
class StreamStats:
    rpc: str
    items: int
    first_item_ms: float | None
    total_ms: float

    @property
    def items_per_second(self) -> float:
        return self.items / (self.total_ms / 1_000) if self.total_ms else 0.0

    def as_dict(self) -> dict:
        return {**asdict(self), "items_per_second": round(self.items_per_second, 1)}


def connect(target: str, ca: bytes | None = None) -> workflow_pb2_grpc.WorkflowServiceStub:
    """A stub over plain TCP, or over TLS verified against the certificate authority `ca` (PEM)."""
    if ca is None:
        return workflow_pb2_grpc.WorkflowServiceStub(grpc.insecure_channel(target))
    return workflow_pb2_grpc.WorkflowServiceStub(grpc.secure_channel(target, grpc.ssl_channel_credentials(ca)))


def online_users(
    stub: workflow_pb2_grpc.WorkflowServiceStub, rpc: str = BATCHED, timeout: float | None = None
) -> Iterator[OnlineUser]:
    """Every online user, in id order, one at a time, read through `rpc`."""
    if rpc == BATCHED:
        request = workflow_pb2.StreamUsersOnlineRequest(columns=True)
        for batch in stub.StreamUsersOnline(request, timeout=timeout):
            columns = batch.columns
            yield from map(OnlineUser, columns.user_ids, columns.user_names, columns.last_active_unix_micros)
    elif rpc == PER_ITEM:
        for item in stub.GetUsersOnlineStream(workflow_pb2.EmptyRequest(), timeout=timeout):
            stamp = item.last_active
            yield OnlineUser(item.user_id, item.user_name, stamp.seconds * 1_000_000 + stamp.nanos // 1_000)
    else:
        raise ValueError(f"unknown rpc {rpc!r}; choose from {', '.join(RPCS)}")


def measure_stream(
    stub: workflow_pb2_grpc.WorkflowServiceStub, rpc: str = BATCHED, timeout: float | None = None
) -> StreamStats:
    """Read every online user through `rpc`, timing the first item and the whole read."""
    start = time.perf_counter()
    first = None
    items = 0
    for _ in online_users(stub, rpc, timeout):
        if first is None:
            first = time.perf_counter()
        items += 1
    end = time.perf_counter()
    first_ms = None if first is None else (first - start) * 1_000
    return StreamStats(rpc=rpc, items=items, first_item_ms=first_ms, total_ms=(end - start) * 1_000)
