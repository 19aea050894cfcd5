"""Blocking database work, run off the event loop on as many threads as the pool has connections.

A semaphore with one slot per connection makes callers wait asynchronously for a connection, so a
thousand open streams cost a thousand coroutines, not a thousand threads.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy import Engine

T = TypeVar("T")
_EXHAUSTED = object()


class DatabaseThreads:
    def __init__(self, engine: Engine, connections: int) -> None:
        self.engine = engine
        self._executor = ThreadPoolExecutor(max_workers=connections, thread_name_prefix="ect-db")
        self._slots = asyncio.Semaphore(connections)

    async def call(self, query: Callable[..., T], *args) -> T:
        """Run query(engine, *args) on a database thread."""
        async with self._slots:
            return await asyncio.get_running_loop().run_in_executor(
                self._executor, query, self.engine, *args
            )

    async def stream(self, query: Callable[..., Iterator[T]], *args) -> AsyncIterator[T]:
        """Iterate query(engine, *args) on a database thread, one item per hop.

        The generator keeps its connection for the whole stream and is always closed on a database
        thread, after any fetch still in flight has finished, also when the consumer is cancelled.
        """
        loop = asyncio.get_running_loop()
        async with self._slots:
            iterator = query(self.engine, *args)
            pending = None
            try:
                while True:
                    pending = loop.run_in_executor(self._executor, next, iterator, _EXHAUSTED)
                    item = await asyncio.shield(pending)
                    if item is _EXHAUSTED:
                        return
                    yield item
                    del item  # consumed: not held while the next one is fetched
            finally:
                if pending is not None and not pending.done():
                    await asyncio.wait([pending])
                await loop.run_in_executor(self._executor, iterator.close)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self.engine.dispose()
