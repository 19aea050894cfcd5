"""Deterministic, idempotent seeding of users and workflows.

Row i is the same on every run (a fixed random seed drives every value), and the rows for N users
are the first N rows for any larger N. Seeding inserts, chunk by chunk, only the rows that are
missing, so repeating it changes nothing and an interrupted seed resumes where it stopped.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice

from sqlalchemy import Engine, Table, delete, func, insert, select

from ect_service.database import create_db_engine, create_schema, resolve_url
from ect_service.schema import users, workflows

RANDOM_SEED = 20_240_101
# A fixed "now" keeps last_active and workflow dates identical from run to run.
REFERENCE_TIME = datetime(2025, 1, 1)
# Small enough for SQL Server's 2,100-parameter limit on the existence check's IN list.
CHUNK_SIZE = 1_000
WORKFLOW_STATUSES = ("Draft", "InReview", "Approved", "Closed")


@dataclass(frozen=True)
class SeedReport:
    users: int
    workflows: int
    inserted_users: int
    inserted_workflows: int


def user_rows(count: int) -> Iterator[dict]:
    """The first `count` users; even-numbered users are online, so half of them stream."""
    rng = random.Random(RANDOM_SEED)
    for i in range(1, count + 1):
        yield {
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "name": f"User{i}",
            "is_online": i % 2 == 0,
            "last_active": REFERENCE_TIME - timedelta(seconds=rng.randrange(3600)),
        }


def workflow_rows(count: int) -> Iterator[dict]:
    """Workflows test-workflow-1 .. test-workflow-<count>."""
    rng = random.Random(RANDOM_SEED + 1)
    for i in range(1, count + 1):
        created = REFERENCE_TIME - timedelta(days=rng.randrange(365), seconds=rng.randrange(86_400))
        yield {
            "id": f"test-workflow-{i}",
            "title": f"Workflow {i}",
            "status": WORKFLOW_STATUSES[i % len(WORKFLOW_STATUSES)],
            "created_date": created,
            "modified_date": created + timedelta(hours=rng.randrange(1, 240)),
        }


def seed(engine: Engine, users_count: int = 10_000, workflows_count: int = 100) -> SeedReport:
    """Make the database hold exactly the first `users_count` users and `workflows_count` workflows."""
    if users_count < 0 or workflows_count < 0:
        raise ValueError("counts must not be negative")
    create_schema(engine)
    inserted_users = _fill(engine, users, user_rows, users_count)
    inserted_workflows = _fill(engine, workflows, workflow_rows, workflows_count)
    return SeedReport(users_count, workflows_count, inserted_users, inserted_workflows)


def seed_url(url: str, users: int = 10_000, workflows: int = 100) -> str:
    """Seed the database at `url` (see seed) and return the URL: the one seeding helper that the
    tests and the benchmarks share."""
    engine = create_db_engine(resolve_url(url))
    try:
        seed(engine, users, workflows)
    finally:
        engine.dispose()
    return url


def _fill(engine: Engine, table: Table, rows, count: int) -> int:
    if _count(engine, table) > count:
        # Rows beyond the requested set (a larger earlier seed): start over rather than guess.
        with engine.begin() as conn:
            conn.execute(delete(table))
    inserted = 0
    for chunk in _chunks(rows(count), CHUNK_SIZE):
        ids = [row["id"] for row in chunk]
        with engine.begin() as conn:
            present = set(conn.scalars(select(table.c.id).where(table.c.id.in_(ids))))
            missing = [row for row in chunk if row["id"] not in present]
            if missing:
                conn.execute(insert(table), missing)
        inserted += len(missing)
    return inserted


def _chunks(rows: Iterator[dict], size: int) -> Iterator[list[dict]]:
    while chunk := list(islice(rows, size)):
        yield chunk


def _count(engine: Engine, table: Table) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(table))
