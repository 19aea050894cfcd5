"""Blocking database work, run off the event loop on as many threads as the pool has connections.

Every call is a short read that takes a connection, runs one query and gives the connection back.
Streams read in keyset pages (queries.online_user_page), one call per page, so a stream holds no
connection, cursor or thread between pages: a client that stops reading costs only the messages
grpc's flow control lets the server buffer for it.

Slots: a semaphore with one slot per connection makes callers wait asynchronously for a
connection (a thousand open streams cost a thousand coroutines, not a thousand threads). Stream
pages may take at most `connections - reserved` of them at once, so `reserved` connections are
always left to unary calls: those never queue behind a crowd of streams. A slot is taken for as long
as its thread runs the query, also after the caller stopped waiting for it: a query that hangs keeps
its connection, and so its slot.
"""

from __future__ import annotations

import asyncio
import functools
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy import Engine

T = TypeVar("T")
OVERDUE = math.inf  # a call's limit once the watchdog has cancelled it for passing it


def reserved_for_unary(connections: int) -> int:
    """A quarter of the pool, at least one connection (none when the pool has only one)."""
    return 0 if connections < 2 else max(1, connections // 4)


class DatabaseTimeout(Exception):
    """A database call did not finish within the server's per-call limit (`serve --call-timeout`)."""


class DatabaseThreads:
    def __init__(self, engine: Engine, connections: int, call_limit: float = 30.0) -> None:
        self.engine = engine
        self.call_limit = call_limit
        self._executor = ThreadPoolExecutor(max_workers=connections, thread_name_prefix="ect-db")
        self._slots = asyncio.Semaphore(connections)
        self._stream_slots = asyncio.Semaphore(connections - reserved_for_unary(connections))
        self._running = 0  # queries on a database thread now
        self._idle = threading.Condition()
        # Calls in flight by task, with the loop time they pass the limit (OVERDUE once the watchdog
        # cancelled the call for it). One watchdog for all, not a timer per call: asyncio.timeout
        # cost 40,000 instructions a call (cachegrind), 3.9% of a unary call; this costs a dict entry.
        self._limits: dict[asyncio.Task, float] = {}
        self._watchdog: asyncio.Task | None = None

    async def call(self, query: Callable[..., T], *args) -> T:
        """Run query(engine, *args) on a database thread (a unary call's read). Waiting for a
        connection and the answer together take at most call_limit seconds (checked every quarter
        of it, at most a second), else DatabaseTimeout: a database that stops answering costs
        callers a bounded wait, whatever their deadline. (The thread itself finishes when the
        driver returns; close() bounds that at shutdown.)"""
        return await self._limited(query, args, (self._slots,))

    async def page(self, query: Callable[..., T], *args) -> T:
        """Run query(engine, *args) on a database thread for a stream, within the streams' share.
        As for call(), waiting for a slot (in the share, then any) and the answer take at most
        call_limit seconds together."""
        return await self._limited(query, args, (self._stream_slots, self._slots))

    async def _limited(self, query: Callable[..., T], args: tuple, shares: tuple[asyncio.Semaphore, ...]) -> T:
        """query on a database thread once it has a slot in each of `shares`, within call_limit.
        The slots stay taken for as long as the thread runs the query: a call that gives up
        (past its limit, or cancelled by its client) leaves the query running on its connection,
        and its slots go back only when the driver returns. Were they given back at once, a
        database that stops answering would let new calls past the limits onto threads that are
        all stuck, and unary calls would queue behind hung stream pages."""
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        self._limits[task] = loop.time() + self.call_limit
        if self._watchdog is None or self._watchdog.done():
            self._watchdog = loop.create_task(self._watch(), name="ect-db-call-watchdog")
        taken: list[asyncio.Semaphore] = []
        try:
            for slots in shares:
                await slots.acquire()
                taken.append(slots)
            running = self._executor.submit(self._run, query, args)
            try:
                return await asyncio.wrap_future(running, loop=loop)
            except asyncio.CancelledError:
                running.add_done_callback(functools.partial(_release_from_thread, loop, tuple(taken)))
                taken.clear()
                raise
        except asyncio.CancelledError:
            if self._limits.get(task) != OVERDUE:
                raise  # the client's cancellation or deadline, or shutdown
            task.uncancel()
            raise DatabaseTimeout(f"the database did not answer within {self.call_limit:g} s") from None
        finally:
            for slots in taken:
                slots.release()
            self._limits.pop(task, None)

    async def _watch(self) -> None:
        """Cancel the calls past their limit, while there are calls."""
        loop = asyncio.get_running_loop()
        period = min(1.0, self.call_limit / 4)
        while self._limits:
            await asyncio.sleep(period)
            now = loop.time()
            for task, limit in list(self._limits.items()):
                if now > limit:  # never again once OVERDUE: a call is cancelled once
                    self._limits[task] = OVERDUE
                    task.cancel()

    def _run(self, query: Callable[..., T], args: tuple) -> T:
        with self._idle:
            self._running += 1
        try:
            return query(self.engine, *args)
        finally:
            with self._idle:
                self._running -= 1
                self._idle.notify_all()

    def close(self, timeout: float) -> bool:
        """Stop taking work and wait up to `timeout` seconds for running queries. False when one
        is still running (a driver call that hangs): its thread is then left behind, since Python
        cannot stop it; the caller decides whether to exit regardless."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + timeout
        with self._idle:
            finished = self._idle.wait_for(lambda: self._running == 0, max(0.0, deadline - time.monotonic()))
        if finished:
            self._executor.shutdown(wait=True)
            self.engine.dispose()
        return finished


def _release_from_thread(loop: asyncio.AbstractEventLoop, taken: tuple[asyncio.Semaphore, ...], _done) -> None:
    """Give back the slots of a call that stopped waiting, once its thread is done with the query
    (a done-callback: it runs on that thread, or at once if the query had already finished)."""
    try:
        loop.call_soon_threadsafe(_release, taken)
    except RuntimeError:  # the event loop is closed: nothing waits for these slots any more
        pass


def _release(taken: tuple[asyncio.Semaphore, ...]) -> None:
    for slots in taken:
        slots.release()
