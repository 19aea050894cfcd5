"""Keep grpc's health service in step with the database: NOT_SERVING while it cannot be reached.

The watch pings the database (SELECT 1) every `serving_period` seconds while it answers, every
`outage_period` seconds while it does not, and at once when a request finds it unavailable. When it
answers again, the tables are created where missing (a server started while its database was down
has none yet), and health says SERVING.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from grpc_health.v1 import health_pb2

from ect_service import queries
from ect_service.database import create_schema, failure_reason
from ect_service.db_threads import DatabaseThreads

log = logging.getLogger(__name__)
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class DatabaseHealth:
    def __init__(
        self,
        db: DatabaseThreads,
        health,
        services: tuple[str, ...],
        *,
        serving_period: float = 10.0,
        outage_period: float = 1.0,
        timeout: float = 5.0,
    ) -> None:
        self._db = db
        self._health = health
        self._services = services
        self._periods = {True: serving_period, False: outage_period}
        self._timeout = timeout
        self._serving: bool | None = None
        self._schema_ready = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None

    async def start(self) -> bool:
        """Check once (creating the tables), set health accordingly, then keep watching."""
        await self._update()
        self._task = asyncio.get_running_loop().create_task(self._watch(), name="ect-health-watch")
        return bool(self._serving)

    def suspect(self) -> None:
        """A request found the database unavailable: check now."""
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _watch(self) -> None:
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._periods[bool(self._serving)])
            self._wake.clear()
            await self._update()

    async def _update(self) -> None:
        reachable, reason = await self._check()
        if reachable == self._serving:
            return
        if reachable:
            log.info("database reachable: health SERVING")
        else:
            log.warning("database unreachable (%s): health NOT_SERVING", reason)
        self._serving = reachable
        for service in self._services:
            await self._health.set(service, SERVING if reachable else NOT_SERVING)

    async def _check(self) -> tuple[bool, str]:
        try:
            await asyncio.wait_for(self._db.call(queries.ping), self._timeout)
            if not self._schema_ready:
                await asyncio.wait_for(self._db.call(create_schema), self._timeout)
                self._schema_ready = True
        except asyncio.TimeoutError:
            return False, f"no answer within {self._timeout:g} s"
        except Exception as exc:  # any failure to reach it means not serving; the log says why
            return False, failure_reason(exc)
        return True, ""
