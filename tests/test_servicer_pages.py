"""A stream holds one page at a time: while the next page is read on a database thread, nothing in
the servicer still refers to the page already sent, so its memory is free before the next one grows.
Checked in this process, with a real grpc server on loopback over a real SQLite file."""

import asyncio
import time
import weakref

import grpc

from ect_service import servicer
from ect_service.database import create_db_engine, resolve_url
from ect_service.db_threads import DatabaseThreads
from ect_service.seeding import seed_url
from ect_service.stream_limits import StreamLimits
from ect_service.v1 import workflow_pb2, workflow_pb2_grpc

ONLINE = 50  # pages of 4, 32 and 256 rows (14 read): two pages read while an earlier one was sent


class Page(list):
    """user_columns_pages' list of messages, as it is, but one a weak reference can follow."""


def test_a_sent_page_is_not_held_while_the_next_is_read(tmp_path, monkeypatch):
    url = seed_url(f"sqlite:///{tmp_path / 'pages.db'}", users=2 * ONLINE, workflows=1)
    read = servicer.user_columns_pages
    sent: list[weakref.ref] = []
    held_while_reading: list[bool] = []

    def user_columns_pages(engine, after_id, size, per_message):
        # On the database thread, while the stream awaits this page: is the previous one still alive?
        # The executor's other thread may still hold the finished call that returned it for a moment
        # (ThreadPoolExecutor drops its work item only after setting the result): wait that out. The
        # servicer cannot drop anything while it awaits this read, so a page it holds stays alive.
        if sent:
            deadline = time.monotonic() + 1.0
            while sent[-1]() is not None and time.monotonic() < deadline:
                time.sleep(0.001)
            held_while_reading.append(sent[-1]() is not None)
        messages, last_id, count = read(engine, after_id, size, per_message)
        page = Page(messages)
        sent.append(weakref.ref(page))
        return page, last_id, count

    monkeypatch.setattr(servicer, "user_columns_pages", user_columns_pages)

    async def stream() -> int:
        engine = create_db_engine(resolve_url(url), 2)
        db, streams = DatabaseThreads(engine, 2), StreamLimits(4, 30.0)
        server = grpc.aio.server()
        workflow_pb2_grpc.add_WorkflowServiceServicer_to_server(servicer.WorkflowServicer(db, streams), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = workflow_pb2_grpc.WorkflowServiceStub(channel)
                request = workflow_pb2.StreamUsersOnlineRequest(columns=True)
                batches = stub.StreamUsersOnline(request, timeout=30)
                return sum([len(batch.columns.user_ids) async for batch in batches])
        finally:
            await server.stop(None)
            streams.close()
            db.close(5.0)

    assert asyncio.run(stream()) == ONLINE
    assert len(held_while_reading) == 2
    assert held_while_reading == [False, False], "a sent page was still held while the next was read"
