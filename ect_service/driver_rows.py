"""Run a SQLAlchemy statement on a pooled connection and read the driver's own rows from its cursor.

SQLAlchemy builds a Row object for every row it returns: about 3,000 instructions a row on SQLite,
as much as the columnar stream spends on everything else, whose rows go straight into repeated
fields. Here SQLAlchemy still writes the SQL for the dialect (compiled once per statement) and owns
the pool, and parameters stay bound; only the rows come from the DBAPI cursor as they are. A driver
error becomes SQLAlchemy's DBAPIError, the connection invalidated when the database dropped it, as
SQLAlchemy does itself, so callers handle both paths alike.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Select

from ect_service.database import mysql_odbc_disconnect


@functools.lru_cache(maxsize=256)
def _compiled(statement: Select, dialect):
    # render_postcompile: values SQLAlchemy would render at execution (SQL Server's TOP n).
    return statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})


@contextmanager
def driver_cursor(engine: Engine, statement: Select, params: dict) -> Iterator:
    """The DBAPI cursor with `statement` executed on a pooled connection (keep the statement
    object: it is compiled once per statement and dialect), for reading its rows in the block, with
    fetchmany if only a part of them should be alive at once. The cursor is closed and the
    connection returned after the block; driver errors in it become DBAPIError."""
    compiled = _compiled(statement, engine.dialect)
    values = compiled.construct_params(params)
    args = tuple(values[name] for name in compiled.positiontup) if compiled.positional else values
    dbapi_error = engine.dialect.loaded_dbapi.Error
    try:
        connection = engine.raw_connection()  # the pool's checkout, with its pre-ping
    except dbapi_error as exc:  # unlike engine.connect(), raw_connection() does not wrap these
        raise DBAPIError.instance(
            None, None, exc, dbapi_error, connection_invalidated=_dropped(engine, exc, None), dialect=engine.dialect
        ) from exc
    try:
        cursor = connection.cursor()
        try:
            cursor.execute(compiled.string, args)
            yield cursor
        finally:
            cursor.close()
    except dbapi_error as exc:
        dropped = _dropped(engine, exc, connection.dbapi_connection)
        if dropped:
            connection.invalidate(exc)
        raise DBAPIError.instance(
            compiled.string, args, exc, dbapi_error, connection_invalidated=dropped, dialect=engine.dialect
        ) from exc
    finally:
        connection.close()


def _dropped(engine: Engine, error: Exception, dbapi_connection) -> bool:
    """Whether `error` means the database connection is gone (or could not be made), as
    SQLAlchemy's own handling decides it, with database.py's MariaDB addition."""
    return engine.dialect.is_disconnect(error, dbapi_connection, None) or (
        engine.dialect.name in ("mysql", "mariadb") and mysql_odbc_disconnect(error)
    )
