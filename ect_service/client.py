"""Client-side helpers: a channel to the service, the online users item by item, a timed read.

Two RPCs stream the online users. StreamUsersOnline (the recommended one) carries many items per
message (250 by default); GetUsersOnlineStream carries one, and grpc's cost per message (tens of microseconds of
CPU on each side, whatever the size) then dominates. online_users() yields items one by one from
either, so callers iterate items whichever RPC they read.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import grpc

from ect_service.v1 import workflow_pb2, workflow_pb2_grpc

BATCHED = "StreamUsersOnline"
PER_ITEM = "GetUsersOnlineStream"
RPCS = (BATCHED, PER_ITEM)


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
) -> Iterator[workflow_pb2.UserOnlineItem]:
    """Every online user, in id order, one item at a time, read through `rpc`."""
    if rpc == BATCHED:
        for batch in stub.StreamUsersOnline(workflow_pb2.StreamUsersOnlineRequest(), timeout=timeout):
            yield from batch.items
    elif rpc == PER_ITEM:
        yield from stub.GetUsersOnlineStream(workflow_pb2.EmptyRequest(), timeout=timeout)
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
