"""Wait (up to 3 minutes) for the SQL Server of $ECT_TEST_MSSQL_URL, then create its database if
missing: a fresh SQL Server container has only its system databases."""

import os
import sys
import time

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ect_service.database import create_db_engine, describe, resolve_url

url = resolve_url(os.environ["ECT_TEST_MSSQL_URL"])
engine = create_db_engine(url.set(database="master"), pool_size=1)
deadline = time.monotonic() + 180
while True:
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if conn.scalar(text("SELECT DB_ID(:name)"), {"name": url.database}) is None:
                # A name cannot be a bound parameter: quoted by the dialect.
                conn.execute(text(f"CREATE DATABASE {conn.dialect.identifier_preparer.quote(url.database)}"))
        break
    except DBAPIError as exc:
        if time.monotonic() > deadline:
            sys.exit(f"SQL Server at {describe(url)} did not answer: {str(exc.orig).splitlines()[0]}")
        time.sleep(3)
engine.dispose()
print(f"database ready: {describe(url)}")
