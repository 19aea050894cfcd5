"""The database threads' slots during a stall: a call that passes its limit leaves its query running
on its thread and connection, so its slots stay taken until that query returns. Stream pages that
hang therefore never take the connections reserved for unary calls. Real threads and a real SQLite
file; the stalled query holds a connection and waits for the test to let it go."""

import asyncio
import threading

import pytest

from ect_service import queries
from ect_service.database import create_db_engine, resolve_url
from ect_service.db_threads import DatabaseThreads, DatabaseTimeout, reserved_for_unary
from ect_service.seeding import seed_url

CONNECTIONS = 4  # one reserved for unary calls, three for stream pages
LIMIT = 0.5  # seconds: the call limit, checked every eighth of a second


@pytest.mark.parametrize("give_up", ["limit", "client"])
def test_hung_pages_keep_their_slots_and_unary_calls_keep_theirs(tmp_path, give_up):
    """The pages stop waiting past the call limit, or because their clients cancel them."""
    assert reserved_for_unary(CONNECTIONS) == 1
    url = seed_url(f"sqlite:///{tmp_path / 'stall.db'}", users=10, workflows=1)
    stream_share = CONNECTIONS - 1
    stall = threading.Event()  # set: the database answers again
    entered = threading.Semaphore(0)  # released by each stalled query once it has its connection

    def stalled_page(engine):
        with engine.connect():
            entered.release()
            stall.wait(30)
        return "late"

    def all_pages_at_once(engine, barrier):
        barrier.wait(5)  # BrokenBarrierError unless the whole share runs at the same time
        return "together"

    async def scenario() -> None:
        limit = LIMIT if give_up == "limit" else 30.0
        db = DatabaseThreads(create_db_engine(resolve_url(url), CONNECTIONS), CONNECTIONS, call_limit=limit)
        try:
            # The stall: a page hangs on each of the streams' connections, then stops waiting.
            hung = [asyncio.ensure_future(db.page(stalled_page)) for _ in range(stream_share)]
            for _ in range(stream_share):
                assert await asyncio.to_thread(entered.acquire, True, 10)
            if give_up == "client":
                for page in hung:
                    page.cancel()
            outcomes = await asyncio.gather(*hung, return_exceptions=True)
            expected = DatabaseTimeout if give_up == "limit" else asyncio.CancelledError
            assert all(isinstance(outcome, expected) for outcome in outcomes), outcomes
            # More streams ask for pages while those queries still hang; then a unary call, which
            # finds its reserved connection.
            waiting = [asyncio.ensure_future(db.page(stalled_page)) for _ in range(stream_share)]
            await asyncio.sleep(0)  # each has taken what it could
            workflow = await asyncio.wait_for(db.call(queries.get_workflow, "test-workflow-1"), 5)
            assert workflow.id == "test-workflow-1"
            for page in waiting:
                page.cancel()
            await asyncio.gather(*waiting, return_exceptions=True)
            # The database answers: the hung queries return, and with them the streams' whole share.
            stall.set()
            barrier = threading.Barrier(stream_share)
            pages = [db.page(all_pages_at_once, barrier) for _ in range(stream_share)]
            assert await asyncio.wait_for(asyncio.gather(*pages), 10) == ["together"] * stream_share
        finally:
            stall.set()
            assert await asyncio.to_thread(db.close, 10.0)

    asyncio.run(scenario())
