"""unix_micros(column): a timestamp column as microseconds since the Unix epoch, computed by the
database, so that the columnar stream copies one integer per row with no datetime to build in Python.

Columns hold naive UTC (schema.py): no time zone is applied. Rounded down, as protobuf's Timestamp
counts (1969-12-31 23:59:59.5 is -500,000). Written per dialect with SQLAlchemy's public compiler
extension; tests/test_streaming.py checks each against the datetime SQLAlchemy reads back.
"""

from __future__ import annotations

import sqlite3

from sqlalchemy import BigInteger
from sqlalchemy.exc import CompileError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement


class unix_micros(FunctionElement):
    type = BigInteger()
    inherit_cache = True
    name = "unix_micros"


def _column(element: unix_micros, compiler, **kw) -> str:
    (column,) = element.clauses.clauses
    return compiler.process(column, **kw)


@compiles(unix_micros)
def _unsupported(element, compiler, **kw):
    raise CompileError(f"unix_micros is not written for {compiler.dialect.name}")


# SQLAlchemy stores a SQLite DateTime as text, 'YYYY-MM-DD HH:MM:SS.ffffff': whole seconds from
# unixepoch() (SQLite 3.38; strftime('%s') before, about 1,200 instructions a row dearer) of the
# text up to the seconds (given the fraction, SQLite rounds it to milliseconds first: .9999995 would
# become the next second), the microseconds from the text's last six characters.
_SQLITE_SECONDS = "unixepoch({})" if sqlite3.sqlite_version_info >= (3, 38) else "CAST(strftime('%s', {}) AS INTEGER)"


@compiles(unix_micros, "sqlite")
def _sqlite(element, compiler, **kw):
    column = _column(element, compiler, **kw)
    seconds = _SQLITE_SECONDS.format(f"substr({column}, 1, 19)")
    return f"({seconds} * 1000000 + CAST(substr({column}, 21, 6) AS INTEGER))"


@compiles(unix_micros, "postgresql")
def _postgresql(element, compiler, **kw):
    # EXTRACT is exact (numeric) from PostgreSQL 14; before, a double, still exact to the microsecond.
    return f"CAST(floor(EXTRACT(EPOCH FROM {_column(element, compiler, **kw)}) * 1000000) AS BIGINT)"


@compiles(unix_micros, "mysql")
def _mysql(element, compiler, **kw):
    return f"TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', {_column(element, compiler, **kw)})"


@compiles(unix_micros, "mssql")
def _mssql(element, compiler, **kw):
    return f"DATEDIFF_BIG(MICROSECOND, '19700101', {_column(element, compiler, **kw)})"
