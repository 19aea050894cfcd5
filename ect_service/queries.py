"""The service's reads. Blocking calls: the servicer runs them on its database threads."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager

from sqlalchemy import Engine, Row, Select, bindparam, select, true

from ect_service.driver_rows import driver_cursor
from ect_service.schema import users, workflows
from ect_service.sql_time import unix_micros

ONLINE_USERS = (
    select(users.c.id, users.c.name, users.c.last_active).where(users.c.is_online == true()).order_by(users.c.id)
)

# The WHERE built once; each page adds only its LIMIT (an integer, which every dialect can render:
# SQL Server's TOP takes no bound parameter).
NEXT_PAGE = ONLINE_USERS.where(users.c.id > bindparam("after"))


def get_workflow(engine: Engine, workflow_id: str) -> Row | None:
    with engine.connect() as conn:
        return conn.execute(select(workflows).where(workflows.c.id == workflow_id)).first()


def online_users(engine: Engine) -> Sequence[Row]:
    """Every online user at once: the buffering counterpart of the pages."""
    with engine.connect() as conn:
        return conn.execute(ONLINE_USERS).all()


def growing(first: int, largest: int, factor: int = 2) -> Iterator[int]:
    """Batch sizes first, factor x first, factor² x first, ... up to largest, then largest for ever."""
    size = first
    while size < largest:
        yield size
        size *= factor
    yield from itertools.repeat(largest)


def online_user_page(engine: Engine, after_id: str | None, limit: int) -> Sequence[Row]:
    """One keyset page of online users: up to `limit`, in id order, with ids after `after_id` (from
    the first when None). A short read: the connection goes back to the pool before this returns,
    and the index on (is_online, id) finds the page's first row without reading the ones before."""
    with engine.connect() as conn:
        if after_id is None:
            return conn.execute(ONLINE_USERS.limit(limit)).all()
        return conn.execute(NEXT_PAGE.limit(limit), {"after": after_id}).all()


# The columnar stream's pages: the same users, last_active as microseconds computed by the database.
_NEXT_COLUMNS = (
    select(users.c.id, users.c.name, unix_micros(users.c.last_active))
    .where(users.c.is_online == true(), users.c.id > bindparam("after"))
    .order_by(users.c.id)
)


@functools.lru_cache(maxsize=64)
def _next_columns(limit: int) -> Select:
    return _NEXT_COLUMNS.limit(limit)  # one object per page size: driver_cursor compiles it once


def online_user_rows(engine: Engine, after_id: str | None, limit: int) -> AbstractContextManager:
    """online_user_page's users as a context manager over the driver's cursor, whose rows are
    (id, name, last_active_unix_micros): no SQLAlchemy Row or datetime per row, and the caller
    fetches as many at a time as it wants alive at once. One short read: the connection goes back
    to the pool when the block ends. Ids are never empty, so '' reads from the first."""
    return driver_cursor(engine, _next_columns(limit), {"after": after_id or ""})


def ping(engine: Engine) -> None:
    """Raises when the database cannot be reached (the health check)."""
    with engine.connect() as conn:
        conn.execute(select(1)).scalar()
