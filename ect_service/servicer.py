"""The WorkflowService implementation: validates requests, runs queries, maps rows to messages."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timezone

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import Engine, Row
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from ect_service import queries
from ect_service.database import failure_reason
from ect_service.db_threads import DatabaseThreads, DatabaseTimeout
from ect_service.schema import WORKFLOW_ID_MAX_LENGTH
from ect_service.stream_limits import StreamLimits
from ect_service.v1 import workflow_pb2, workflow_pb2_grpc

log = logging.getLogger(__name__)
_EPOCH = datetime(1970, 1, 1)
_ONLINE = workflow_pb2.USER_STATUS_ONLINE
MAX_ITEMS_PER_BATCH = 10_000  # StreamUsersOnline: about 0.6 MB per message, under grpc's 4 MB default
FIRST_MESSAGE_ITEMS = 4  # StreamUsersOnline's first batch
# StreamUsersOnline's default largest batch. grpc's cost per message is then under 1% of the cost
# per item, and memory stays small: one page of 250 rows and one message.
# Measured on 5,000 items: 1,000 per message gave 785 KB and 245K items/s; 250 gave 204 KB and
# 433-468K items/s (the in-place build counts for most of that); 100 gave 95 KB but 325K items/s.
ITEMS_PER_BATCH = 250
# With columns, pages grow 8-fold from FIRST_MESSAGE_ITEMS to COLUMNS_PAGE_ROWS (4, 32, 256, 1,000,
# ...), each sent in messages of up to COLUMNS_PER_MESSAGE items. A page costs the server a thread
# hop and a query, a message grpc's send: each a fixed cost whatever the size, so both are large.
# A message's size sets the memory (the serialized bytes in the server and about twice them in the
# client, which decodes it whole); rows are fetched ROWS_PER_FETCH at a time, so a page's size
# does not add to it.
COLUMNS_PAGE_ROWS = 1_000
COLUMNS_PER_MESSAGE = 500
COLUMNS_GROWTH = 8
ROWS_PER_FETCH = 64
# GetUsersOnlineStream's pages double from a small first one (its first item leaves early) to
# PAGE_ROWS: one short read per page.
FIRST_PAGE_ROWS = 64
PAGE_ROWS = 1_000


def set_timestamp(stamp: Timestamp, value: datetime) -> None:
    """Sets a message's Timestamp field in place from a naive-UTC (or aware) datetime. Building a
    Timestamp and passing it to the message's constructor copies it: in place, the server spends
    about 4,400 fewer instructions per streamed item (StreamInstructions, 400cb57)."""
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    delta = value - _EPOCH
    stamp.seconds = delta.days * 86_400 + delta.seconds
    stamp.nanos = delta.microseconds * 1_000


def user_item(row) -> workflow_pb2.UserOnlineItem:
    # Unpacked, not row.id, row.name, ...: a SQLAlchemy Row's attributes cost about 15 times its
    # unpacking (1.5 µs against 0.09 µs for the three, timeit on this machine kind).
    user_id, name, last_active = row  # queries.ONLINE_USERS' columns, in that order
    item = workflow_pb2.UserOnlineItem(user_id=user_id, user_name=name, status=_ONLINE)
    set_timestamp(item.last_active, last_active)
    return item


def user_batch(rows) -> workflow_pb2.UserOnlineBatch:
    """One StreamUsersOnline message. Items are added in place and their timestamps set field by
    field: no per-item message or Timestamp object to build and copy in. set_timestamp's body is
    written out here: a call per item would cost more than its arithmetic."""
    batch = workflow_pb2.UserOnlineBatch()
    add = batch.items.add
    for user_id, name, last_active in rows:  # queries.ONLINE_USERS' columns, in that order
        if last_active.tzinfo is not None:
            last_active = last_active.astimezone(timezone.utc).replace(tzinfo=None)
        delta = last_active - _EPOCH
        stamp = add(user_id=user_id, user_name=name, status=_ONLINE).last_active
        stamp.seconds = delta.days * 86_400 + delta.seconds
        stamp.nanos = delta.microseconds * 1_000
    return batch


def user_rows_page(engine: Engine, after_id: str | None, size: int) -> tuple[Sequence[Row], str | None, int]:
    """GetUsersOnlineStream's next page: (rows, last id, rows read)."""
    rows = queries.online_user_page(engine, after_id, size)
    return rows, (rows[-1][0] if rows else None), len(rows)


def user_batch_page(
    engine: Engine, after_id: str | None, size: int
) -> tuple[list[workflow_pb2.UserOnlineBatch], str | None, int]:
    """StreamUsersOnline's next message as items, built where its rows are read (on a database
    thread), so the event loop only sends it: ([message], last id, items), the shape of
    user_columns_pages."""
    rows = queries.online_user_page(engine, after_id, size)
    return [user_batch(rows)], (rows[-1][0] if rows else None), len(rows)


def user_columns_pages(
    engine: Engine, after_id: str | None, size: int, per_message: int
) -> tuple[list[workflow_pb2.UserOnlineBatch], str | None, int]:
    """StreamUsersOnline's next page as columns (the request's `columns`), in messages of up to
    `per_message` items: (messages, last id, items). The driver's rows go into the repeated fields
    whole, ROWS_PER_FETCH at a time: no message, Row or datetime per item, and only those rows alive
    at once as Python objects (the fields live in protobuf's own memory)."""
    messages = []
    count = 0
    with queries.online_user_rows(engine, after_id, size) as cursor:
        while True:
            batch = workflow_pb2.UserOnlineBatch()
            columns = batch.columns
            items = 0
            while items < per_message and (rows := cursor.fetchmany(min(ROWS_PER_FETCH, per_message - items))):
                user_ids, user_names, last_active = zip(*rows)
                columns.user_ids.extend(user_ids)
                columns.user_names.extend(user_names)
                columns.last_active_unix_micros.extend(last_active)
                items += len(user_ids)
            if items:
                messages.append(batch)
                count += items
            if items < per_message:
                break
    return messages, (messages[-1].columns.user_ids[-1] if messages else None), count


class WorkflowServicer(workflow_pb2_grpc.WorkflowServiceServicer):
    def __init__(self, db: DatabaseThreads, streams: StreamLimits, on_unavailable=lambda: None) -> None:
        self._db = db
        self._streams = streams
        self._on_unavailable = on_unavailable  # the health watch re-checks the database at once

    async def _pages(self, read_page, sizes: Iterable[int]) -> AsyncIterator:
        """What read_page(engine, after_id, size) returns for each page, until a short page. Each
        page is its own short read: nothing is held between pages, whatever the client does."""
        after_id = None
        for size in sizes:
            payload, after_id, count = await self._db.page(read_page, after_id, size)
            if count:
                yield payload
            # The caller has sent the page: dropped here, not when the next read's result replaces
            # it, so that it is not alive while the next page is read.
            del payload
            if count < size:
                return

    @asynccontextmanager
    async def _open_stream(self, context: grpc.aio.ServicerContext):
        """A place among the open streams (else RESOURCE_EXHAUSTED), given up when the stream ends.
        A stream the watchdog cancels for an idle client ends with CANCELLED and the reason."""
        stream = self._streams.admit()
        if stream is None:
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"{self._streams.max_streams} streams are open, the server's limit; try again later",
            )
        try:
            yield stream
        except asyncio.CancelledError:
            if stream.idle:
                await context.abort(
                    grpc.StatusCode.CANCELLED,
                    f"the server ended this stream: its client read nothing for {self._streams.idle_timeout:g} s",
                )
            raise
        finally:
            self._streams.release(stream)

    async def GetWorkflow(
        self, request: workflow_pb2.GetWorkflowRequest, context: grpc.aio.ServicerContext
    ) -> workflow_pb2.GetWorkflowResponse:
        if not request.id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "workflow id must not be empty")
        if "\x00" in request.id:  # no database stores it in a text column alike (PostgreSQL refuses it)
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "workflow id must not contain NUL characters")
        if len(request.id) > WORKFLOW_ID_MAX_LENGTH:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"workflow id is {len(request.id)} characters; at most {WORKFLOW_ID_MAX_LENGTH} allowed",
            )
        async with _database_errors(context, self._on_unavailable):
            row = await self._db.call(queries.get_workflow, request.id)
        if row is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"workflow {request.id!r} not found")
        response = workflow_pb2.GetWorkflowResponse(id=row.id, title=row.title, status=row.status)
        set_timestamp(response.created_date, row.created_date)
        set_timestamp(response.modified_date, row.modified_date)
        return response

    async def GetUsersOnline(
        self, request: workflow_pb2.EmptyRequest, context: grpc.aio.ServicerContext
    ) -> workflow_pb2.GetUsersOnlineResponse:
        async with _database_errors(context, self._on_unavailable):
            rows = await self._db.call(queries.online_users)
        return workflow_pb2.GetUsersOnlineResponse(items=[user_item(row) for row in rows])

    async def GetUsersOnlineStream(self, request: workflow_pb2.EmptyRequest, context: grpc.aio.ServicerContext) -> None:
        # Written with context.write, not yielded: the watchdog's cancellation then arrives here,
        # where the stream can end with a status, and not inside grpc's sending loop.
        write = context.write
        clock = asyncio.get_running_loop().time
        async with self._open_stream(context) as stream, _database_errors(context, self._on_unavailable):
            async for rows in self._pages(user_rows_page, queries.growing(FIRST_PAGE_ROWS, PAGE_ROWS)):
                for row in rows:
                    stream.waiting_since = clock()
                    await write(user_item(row))
                    stream.waiting_since = None

    async def StreamUsersOnline(
        self, request: workflow_pb2.StreamUsersOnlineRequest, context: grpc.aio.ServicerContext
    ) -> None:
        if request.max_items_per_batch > MAX_ITEMS_PER_BATCH:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"max_items_per_batch is {request.max_items_per_batch}; at most {MAX_ITEMS_PER_BATCH} allowed",
            )
        if request.columns:
            per_message = request.max_items_per_batch or COLUMNS_PER_MESSAGE
            read_page = functools.partial(user_columns_pages, per_message=per_message)
            sizes = queries.growing(FIRST_MESSAGE_ITEMS, max(per_message, COLUMNS_PAGE_ROWS), COLUMNS_GROWTH)
        else:
            read_page = user_batch_page
            sizes = queries.growing(FIRST_MESSAGE_ITEMS, request.max_items_per_batch or ITEMS_PER_BATCH)
        clock = asyncio.get_running_loop().time
        async with self._open_stream(context) as stream, _database_errors(context, self._on_unavailable):
            # Pages grow from FIRST_MESSAGE_ITEMS: the first item leaves after a few rows, and
            # a stream abandoned early leaves little work in flight.
            async for messages in self._pages(read_page, sizes):
                for batch in messages:
                    stream.waiting_since = clock()
                    await context.write(batch)
                    stream.waiting_since = None
                del messages, batch  # sent: not held while the next page is read


@asynccontextmanager
async def _database_errors(context: grpc.aio.ServicerContext, on_unavailable):
    """Database failures become a status with the driver's reason; the server keeps serving.

    A lost or refused connection is UNAVAILABLE (worth retrying: the pool reconnects once the
    database is back); a call past the server's limit (--call-timeout) is DEADLINE_EXCEEDED; any
    other database error is INTERNAL.
    """
    try:
        yield
    except DatabaseTimeout as exc:
        log.warning("database call timed out: %s", exc)
        on_unavailable()  # the health watch checks the database now
        await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, str(exc))
    except (DBAPIError, PoolTimeoutError) as exc:
        reason = failure_reason(exc)
        unreachable = isinstance(exc, (OperationalError, InterfaceError, PoolTimeoutError)) or (
            isinstance(exc, DBAPIError) and exc.connection_invalidated
        )
        if unreachable:
            log.warning("database unavailable: %s", reason)
            on_unavailable()
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"database unavailable: {reason}")
        log.error("database error: %s", reason)
        await context.abort(grpc.StatusCode.INTERNAL, f"database error: {reason}")
