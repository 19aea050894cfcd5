"""Shared fixtures: real databases, seeded once per session, and real server processes on loopback.

PostgreSQL and MariaDB are used when their URLs are set (ECT_TEST_POSTGRESQL_URL,
ECT_TEST_MARIADB_URL); .ci/run sets both. Without them those cases are skipped, saying why, unless
ECT_REQUIRE_BACKENDS=1 (as in CI), where a missing URL is a failure. SQL Server likewise with
ECT_TEST_MSSQL_URL and ECT_REQUIRE_MSSQL (only its GitHub workflow has one).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

from benchmarks.measuring.harness import ServerProcess
from ect_service.seeding import seed_url

# Property tests: fewer examples in the default tier (`make test`), all of them in `make test-all`.
settings.register_profile("quick", max_examples=25)
settings.register_profile("thorough", max_examples=100)
settings.load_profile("quick")

SEEDED_USERS = 10_000
ONLINE_USERS = SEEDED_USERS // 2

BACKEND_ENV = {
    "postgresql": "ECT_TEST_POSTGRESQL_URL",
    "mariadb": "ECT_TEST_MARIADB_URL",
    "mssql": "ECT_TEST_MSSQL_URL",
}
# SQL Server runs only in .github/workflows/sqlserver.yml (scripts/sqlserver_tests.sh), which sets
# its own requirement; this machine kind has no SQL Server.
REQUIRED_BY = {"postgresql": "ECT_REQUIRE_BACKENDS", "mariadb": "ECT_REQUIRE_BACKENDS", "mssql": "ECT_REQUIRE_MSSQL"}


def backend_url_or_skip(backend: str) -> str:
    variable = BACKEND_ENV[backend]
    url = os.environ.get(variable)
    if not url:
        reason = f"{backend} not configured: set {variable} to a SQLAlchemy URL"
        if os.environ.get(REQUIRED_BY[backend]) == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return url


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("sqlite") / "ect.db"
    return seed_url(f"sqlite:///{path}")


@pytest.fixture(scope="session", params=["sqlite", "postgresql", "mariadb", "mssql"])
def backend_url(request) -> str:
    """A database seeded with 10,000 users, for each backend whose URL is available."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return seed_url(backend_url_or_skip(request.param))


@pytest.fixture(scope="session")
def server(sqlite_url):
    """One server over the seeded SQLite file, shared by the read-only tests."""
    with ServerProcess(sqlite_url) as running:
        yield running


@pytest.fixture(scope="session")
def backend_server(backend_url):
    with ServerProcess(backend_url) as running:
        yield running


@pytest.fixture
def small_sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite file with 20 users (10 online)."""
    return seed_url(f"sqlite:///{tmp_path / 'small.db'}", users=20, workflows=3)
