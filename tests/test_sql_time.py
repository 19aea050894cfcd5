"""unix_micros computes, on every backend, the microseconds SQLAlchemy's own datetime says."""

from datetime import datetime, timedelta

import pytest
from sqlalchemy import Column, DateTime, Integer, MetaData, Table, select

from ect_service.database import create_db_engine, resolve_url
from ect_service.sql_time import unix_micros

EPOCH = datetime(1970, 1, 1)
VALUES = [
    datetime(2025, 6, 1, 12, 0, 0),
    datetime(2025, 6, 1, 12, 0, 0, 1),
    datetime(2038, 1, 19, 3, 14, 8, 999_999),  # past 32-bit seconds
    datetime(1970, 1, 1),
    datetime(1969, 12, 31, 23, 59, 59, 500_000),  # before the epoch: rounded down, as Timestamp counts
    datetime(1900, 3, 1, 0, 0, 1, 250_000),
]


def test_unix_micros_matches_the_datetime_read_back(backend_url):
    engine = create_db_engine(resolve_url(backend_url))  # as the service makes it (a password from the environment)
    table = Table(
        "ect_unix_micros_check",
        MetaData(),
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("at", DateTime, nullable=False),
    )
    try:
        table.drop(engine, checkfirst=True)
        table.create(engine)
        with engine.begin() as conn:
            conn.execute(table.insert(), [{"id": i, "at": value} for i, value in enumerate(VALUES, start=1)])
        with engine.connect() as conn:
            rows = conn.execute(select(table.c.at, unix_micros(table.c.at)).order_by(table.c.id)).all()
        assert len(rows) == len(VALUES)
        for stored, micros in rows:
            assert micros == (stored - EPOCH) // timedelta(microseconds=1), stored
        # Where the backend keeps microseconds (SQLite, PostgreSQL), nothing was lost on the way.
        if engine.dialect.name in ("sqlite", "postgresql"):
            assert [stored for stored, _ in rows] == VALUES
    finally:
        table.drop(engine, checkfirst=True)
        engine.dispose()


def test_unix_micros_has_no_fallback_for_an_unknown_dialect():
    from sqlalchemy.dialects import oracle
    from sqlalchemy.exc import CompileError

    column = Column("at", DateTime)
    with pytest.raises(CompileError):
        select(unix_micros(column)).compile(dialect=oracle.dialect())
