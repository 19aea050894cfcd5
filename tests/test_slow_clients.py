"""Slow and stalled clients cost only themselves: streams read in keyset pages and hold nothing
between them, unary calls keep connections of their own, a cap on open streams answers
RESOURCE_EXHAUSTED, and an idle limit ends a stream whose client stopped reading."""

import asyncio
import time

import grpc
import psutil
import pytest
from conftest import ONLINE_USERS

from benchmarks.measuring.harness import ServerProcess
from ect_service.v1 import workflow_pb2, workflow_pb2_grpc

EMPTY = workflow_pb2.EmptyRequest()
WORKFLOW = workflow_pb2.GetWorkflowRequest(id="test-workflow-1")
# Each stalled client on its own connection, as separate clients would be: streams sharing one
# HTTP/2 connection also share its flow-control window, and would stall each other client-side.
OWN_CONNECTION = [("grpc.use_local_subchannel_pool", 1)]
# A stalled client's window: 16 KB and no bandwidth probing, so the server really has to wait for it
# (grpc's default windows grow to hold a whole 5,000-item stream, about 300 KB).
SMALL_WINDOW = [("grpc.http2.bdp_probe", 0), ("grpc.http2.lookahead_bytes", 16_384)]


async def stall(target: str, streams: int, rpc: str = "GetUsersOnlineStream"):
    """`streams` calls that each read one message and then stop reading: (channels, calls)."""
    channels = [grpc.aio.insecure_channel(target, options=OWN_CONNECTION + SMALL_WINDOW) for _ in range(streams)]
    request = workflow_pb2.StreamUsersOnlineRequest() if rpc == "StreamUsersOnline" else EMPTY
    calls = [getattr(workflow_pb2_grpc.WorkflowServiceStub(channel), rpc)(request, timeout=120) for channel in channels]
    await asyncio.gather(*(call.read() for call in calls))
    return channels, calls


async def settled(pid: int) -> None:
    """Until the server has used its CPU for a while: the stalled streams have filled their
    flow-control windows (a per-item stream's is about a thousand messages) and wait."""
    server = psutil.Process(pid)
    before = sum(server.cpu_times()[:2])
    for _ in range(120):
        await asyncio.sleep(0.5)
        now = sum(server.cpu_times()[:2])
        if now - before < 0.05:
            return
        before = now
    raise AssertionError("the server kept busy for a minute with only stalled clients")


async def close(channels) -> None:
    await asyncio.gather(*(channel.close() for channel in channels))


@pytest.mark.parametrize("rpc", ["GetUsersOnlineStream", "StreamUsersOnline"])
def test_stalled_streams_do_not_deny_service(sqlite_url, rpc):
    """Five times as many stalled streams as pooled connections: unary calls and a new stream are
    still served (before keyset pages, 20 stalled streams made both fail with DEADLINE_EXCEEDED)."""

    async def scenario(target: str, pid: int) -> None:
        channels, _ = await stall(target, 100, rpc)
        await settled(pid)
        try:
            async with grpc.aio.insecure_channel(target, options=OWN_CONNECTION) as channel:
                stub = workflow_pb2_grpc.WorkflowServiceStub(channel)
                for _ in range(20):
                    assert (await stub.GetWorkflow(WORKFLOW, timeout=2)).id == "test-workflow-1"
                items = 0
                async for _ in stub.GetUsersOnlineStream(EMPTY, timeout=10):
                    items += 1
                assert items == ONLINE_USERS
        finally:
            await close(channels)

    with ServerProcess(sqlite_url) as server:
        asyncio.run(scenario(server.target, server.pid))


def test_streams_beyond_the_cap_get_resource_exhausted_and_idle_ones_end(sqlite_url):
    """--max-streams 5: a sixth stream is refused at once, unary calls go on; once the stalled
    five pass --stream-idle-timeout they are cancelled, and new streams are served again."""

    async def scenario(target: str) -> None:
        channels, calls = await stall(target, 5)
        try:
            async with grpc.aio.insecure_channel(target, options=OWN_CONNECTION) as channel:
                stub = workflow_pb2_grpc.WorkflowServiceStub(channel)
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await stub.GetUsersOnlineStream(EMPTY, timeout=5).read()
                assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                assert "5 streams are open" in refused.value.details()
                assert (await stub.GetWorkflow(WORKFLOW, timeout=2)).id == "test-workflow-1"

                deadline = time.monotonic() + 15
                while True:  # the idle limit is 1 s, checked every 0.25 s
                    try:
                        items = 0
                        async for _ in stub.GetUsersOnlineStream(EMPTY, timeout=10):
                            items += 1
                        break
                    except grpc.aio.AioRpcError as error:
                        if error.code() != grpc.StatusCode.RESOURCE_EXHAUSTED or time.monotonic() > deadline:
                            raise
                        await asyncio.sleep(0.2)
                assert items == ONLINE_USERS
            # A stalled client that reads again gets what was already sent, then the cancellation.
            with pytest.raises(grpc.aio.AioRpcError) as ended:
                while await calls[0].read() != grpc.aio.EOF:
                    pass
            assert ended.value.code() == grpc.StatusCode.CANCELLED
        finally:
            await close(channels)

    args = ["--max-streams", "5", "--stream-idle-timeout", "1"]
    with ServerProcess(sqlite_url, extra_args=args) as server:
        asyncio.run(scenario(server.target))
        assert "cancelling a stream whose client read nothing" in "\n".join(server.stderr_lines)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_thousand_stalled_streams(sqlite_url):
    """With 1,000 stalled streams open, GetWorkflow and a new stream's first item are still served
    at once (within their 2 s deadlines; the figures are printed for the README: run with -s)."""

    async def scenario(target: str, pid: int) -> tuple[list[float], list[float]]:
        channels, _ = await stall(target, 1_000)
        await settled(pid)
        try:
            async with grpc.aio.insecure_channel(target, options=OWN_CONNECTION) as channel:
                stub = workflow_pb2_grpc.WorkflowServiceStub(channel)
                unary, first = [], []
                for _ in range(200):
                    start = time.perf_counter()
                    assert (await stub.GetWorkflow(WORKFLOW, timeout=2)).id == "test-workflow-1"
                    unary.append((time.perf_counter() - start) * 1e3)
                for _ in range(20):
                    start = time.perf_counter()
                    call = stub.StreamUsersOnline(workflow_pb2.StreamUsersOnlineRequest(), timeout=2)
                    assert (await call.read()).items
                    first.append((time.perf_counter() - start) * 1e3)
                    call.cancel()
                return unary, first
        finally:
            await close(channels)

    with ServerProcess(sqlite_url) as server:
        unary, first = asyncio.run(scenario(server.target, server.pid))
    unary.sort()
    first.sort()
    print(
        f"\n1,000 stalled streams: GetWorkflow p50 {unary[99]:.2f} ms, p99 {unary[197]:.2f} ms; "
        f"a new stream's first item p50 {first[9]:.2f} ms, max {first[-1]:.2f} ms"
    )
