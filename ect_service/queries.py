"""The service's reads. Blocking calls: the servicer runs them on its database threads."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence

from sqlalchemy import Engine, Row, select, true

from ect_service.schema import users, workflows

# The first batch is small so the first item leaves quickly; later ones amortise round trips.
FIRST_BATCH_SIZE = 64
BATCH_SIZE = 1_000

ONLINE_USERS = (
    select(users.c.id, users.c.name, users.c.last_active)
    .where(users.c.is_online == true())
    .order_by(users.c.id)
)


def get_workflow(engine: Engine, workflow_id: str) -> Row | None:
    with engine.connect() as conn:
        return conn.execute(select(workflows).where(workflows.c.id == workflow_id)).first()


def online_users(engine: Engine) -> Sequence[Row]:
    """Every online user at once: the buffering counterpart of online_user_batches."""
    with engine.connect() as conn:
        return conn.execute(ONLINE_USERS).all()


def doubling(first: int, largest: int) -> Iterator[int]:
    """Batch sizes first, 2 x first, 4 x first, ... up to largest, then largest for ever."""
    size = first
    while size < largest:
        yield size
        size *= 2
    yield from itertools.repeat(largest)


def online_user_batches(
    engine: Engine, sizes: Iterable[int] | None = None, buffer_rows: int = BATCH_SIZE
) -> Iterator[Sequence[Row]]:
    """Online users in batches read from an open cursor (server-side where the driver has one), of
    the given sizes (default: FIRST_BATCH_SIZE, then BATCH_SIZE).

    Memory is bounded by one batch plus the driver rows SQLAlchemy buffers ahead (up to
    `buffer_rows`) whatever the number of rows. Closing the generator early (a cancelled stream)
    closes the cursor and returns the connection to the pool.
    """
    sizes = iter(sizes or itertools.chain([FIRST_BATCH_SIZE], itertools.repeat(BATCH_SIZE)))
    with engine.connect() as conn:
        options = {"stream_results": True, "max_row_buffer": buffer_rows}
        result = conn.execution_options(**options).execute(ONLINE_USERS)
        while batch := result.fetchmany(next(sizes)):
            yield batch
