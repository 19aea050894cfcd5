"""Client-side helpers: a channel to the service and a timed read of the online-users stream."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import grpc

from ect_service.v1 import workflow_pb2, workflow_pb2_grpc


@dataclass(frozen=True)
class StreamStats:
    items: int
    first_item_ms: float | None
    total_ms: float

    @property
    def items_per_second(self) -> float:
        return self.items / (self.total_ms / 1_000) if self.total_ms else 0.0

    def as_dict(self) -> dict:
        return {**asdict(self), "items_per_second": round(self.items_per_second, 1)}


def connect(target: str) -> workflow_pb2_grpc.WorkflowServiceStub:
    return workflow_pb2_grpc.WorkflowServiceStub(grpc.insecure_channel(target))


def measure_stream(stub: workflow_pb2_grpc.WorkflowServiceStub, timeout: float | None = None) -> StreamStats:
    """Drain GetUsersOnlineStream, timing the first item and the whole stream."""
    start = time.perf_counter()
    first = None
    items = 0
    for _ in stub.GetUsersOnlineStream(workflow_pb2.EmptyRequest(), timeout=timeout):
        if first is None:
            first = time.perf_counter()
        items += 1
    end = time.perf_counter()
    first_ms = None if first is None else (first - start) * 1_000
    return StreamStats(items=items, first_item_ms=first_ms, total_ms=(end - start) * 1_000)
