"""Where the database is and how to connect to it: URL resolution and engine creation.

The URL comes from --db, else ECT_DB_URL, else a SQLite file in the data directory. A password is
best given as ECT_DB_PASSWORD, so that it never appears on a command line.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from ect_service.schema import metadata

DRIVER_EXTRAS = {"postgresql": "postgresql", "mysql": "odbc", "mariadb": "odbc", "mssql": "odbc"}


class DatabaseConfigError(ValueError):
    """The database URL or its driver cannot be used; the message says why in one line."""


def data_dir() -> Path:
    """ECT_DATA_DIR, else $XDG_DATA_HOME/ect-service, else ~/.local/share/ect-service."""
    if explicit := os.environ.get("ECT_DATA_DIR"):
        return Path(explicit)
    xdg = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(xdg) / "ect-service"


# user:password@ in a URL that may not even parse: what an error message must never show.
_CREDENTIALS = re.compile(r"(?<=://)([^:/@]*):([^@]*)@")


def mask_password(text: str) -> str:
    """`text` with the password of any URL in it replaced by ***."""
    return _CREDENTIALS.sub(r"\1:***@", text)


def resolve_url(value: str | None = None) -> URL:
    """The database URL to use, validated: dialect known, password taken from the environment."""
    raw = value or os.environ.get("ECT_DB_URL")
    if not raw:
        return make_url(f"sqlite:///{data_dir() / 'ect.db'}")
    try:
        url = make_url(raw)
        url.get_dialect()
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        message = f"invalid database URL {raw!r}: {exc}"
        password = _CREDENTIALS.search(raw)
        if password and password.group(2):
            message = message.replace(password.group(2), "***")  # also where exc quotes it
        raise DatabaseConfigError(mask_password(message)) from None
    if url.port is not None and not 0 < url.port < 65_536:
        raise DatabaseConfigError(f"invalid database URL {describe(url)}: port must be 1-65535, got {url.port}")
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        raise DatabaseConfigError(
            f"{describe(url)}: an in-memory SQLite database is not supported (every connection of "
            "the pool would see its own empty database); give a file, e.g. sqlite:///ect.db"
        )
    if password := os.environ.get("ECT_DB_PASSWORD"):
        url = url.set(password=password)
    return _odbc_port_for_mysql(url)


def _odbc_port_for_mysql(url: URL) -> URL:
    """SQLAlchemy writes host:port as SQL Server's "Server=host,port", which MariaDB's ODBC driver
    ignores (it would silently use 3306); pass the port as the driver's own PORT keyword instead."""
    if url.get_backend_name() in ("mysql", "mariadb") and url.get_driver_name() == "pyodbc" and url.port:
        url = url.set(port=None).update_query_dict({"port": str(url.port)})
    return url


def describe(url: URL) -> str:
    """The URL as it may be printed or logged: never with its password."""
    return url.render_as_string(hide_password=True)


def create_db_engine(url: URL, pool_size: int = 20) -> Engine:
    """An engine whose pool holds at most pool_size connections. A server's connections are checked
    before each use (the server may have restarted); a SQLite file's cannot drop, and a check would
    cost a query per stream page."""
    options: dict = {"pool_pre_ping": url.get_backend_name() != "sqlite"}
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            folder = Path(url.database).parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                why = "it is not a folder" if isinstance(exc, FileExistsError) else exc.strerror
                raise DatabaseConfigError(f"cannot use {describe(url)}: {folder}: {why}") from None
        # Each stream's connection is used from whichever executor thread fetches its next batch.
        options["connect_args"] = {"check_same_thread": False, "timeout": 30}
    if url.get_backend_name() == "mssql":
        options["fast_executemany"] = True
    try:
        engine = create_engine(url, pool_size=pool_size, max_overflow=0, **options)
    except ImportError as exc:
        extra = DRIVER_EXTRAS.get(url.get_backend_name(), "")
        hint = f"; install it with: pip install 'ect-service[{extra}]'" if extra else ""
        raise DatabaseConfigError(f"driver for {url.drivername} is not installed ({exc}){hint}") from None
    if url.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    if url.get_backend_name() in ("mysql", "mariadb") and url.get_driver_name() == "pyodbc":
        # Multi-row INSERTs for the seed instead of one round trip per row.
        engine.dialect.use_insertmanyvalues_wo_returning = True
        event.listen(engine, "handle_error", _mysql_odbc_disconnects)
    return engine


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets the server's readers run while a seed writes; NORMAL sync is safe under WAL.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


# MySQL client errors that mean the connection is gone: can't connect (2002, 2003), server gone
# away (2006), lost during query (2013, 2055), killed (1927).
_MYSQL_DISCONNECT = re.compile(r"\((?:1927|2002|2003|2006|2013|2055)\)")


def mysql_odbc_disconnect(error: BaseException) -> bool:
    """pyodbc's own check misses MariaDB's lost-connection errors; this recognises them."""
    state = str(error.args[0]) if getattr(error, "args", None) else ""
    return state.startswith("08") or bool(_MYSQL_DISCONNECT.search(str(error)))


def _mysql_odbc_disconnects(context) -> None:
    """Without this, pool_pre_ping would hand out a dead connection: recognise MariaDB's
    lost-connection errors, so the pool reconnects once the server is back."""
    if mysql_odbc_disconnect(context.original_exception):
        context.is_disconnect = True


def failure_reason(exc: BaseException) -> str:
    """The first line of the driver's message (some drivers raise with none: then the type)."""
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__


def create_schema(engine: Engine) -> None:
    """Create the service's tables and indexes where they are missing (safe to repeat). create_all
    adds an index only with its table: a database made by an earlier version gets new ones here."""
    metadata.create_all(engine)
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            for index in table.indexes:
                index.create(conn, checkfirst=True)
