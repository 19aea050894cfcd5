"""Which database the benchmarks read: asv.databases.conf.json's ECT_BENCH_DATABASE, else SQLite."""

from pathlib import Path

import pytest
from conftest import backend_url_or_skip
from sqlalchemy import make_url, text

from benchmarks import common

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _no_database_variables(monkeypatch):
    for variable in (
        common.DATABASE,
        "ECT_BENCH_DB_URL",
        common.LARGE_SET,
        "ECT_BENCH_POSTGRESQL_URL",
        "ECT_BENCH_MARIADB_URL",
    ):
        monkeypatch.delenv(variable, raising=False)


def test_without_a_database_the_benchmarks_read_their_sqlite_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert common.database_url("ECT_BENCH_DB_URL", "ect-bench.db") == f"sqlite:///{tmp_path / 'ect-bench.db'}"
    monkeypatch.setenv("ECT_BENCH_DB_URL", "sqlite:////elsewhere.db")
    assert common.database_url("ECT_BENCH_DB_URL", "ect-bench.db") == "sqlite:////elsewhere.db"


def test_a_database_names_its_server_and_its_url_can_be_given(monkeypatch):
    monkeypatch.setenv(common.DATABASE, "postgresql")
    monkeypatch.setenv("ECT_BENCH_DB_URL", "sqlite:////ignored.db")  # the environment's database wins
    assert common.database_url("ECT_BENCH_DB_URL", "ect-bench.db") == common.SERVERS["postgresql"]
    monkeypatch.setenv("ECT_BENCH_POSTGRESQL_URL", "postgresql+psycopg://bench@db.example:5432/perf")
    assert common.database_url("ECT_BENCH_DB_URL", "x.db") == "postgresql+psycopg://bench@db.example:5432/perf"


def test_an_unknown_database_is_an_error_naming_the_known_ones(monkeypatch):
    monkeypatch.setenv(common.DATABASE, "oracle")
    with pytest.raises(ValueError, match="ECT_BENCH_DATABASE='oracle': expected one of postgresql, mariadb"):
        common.database_url("ECT_BENCH_DB_URL", "ect-bench.db")


def test_the_benchmarks_and_the_tools_name_the_database_variable_alike():
    """benchmarks/ runs in asv's environment, where ect_perf is not installed: each spells it."""
    from ect_perf.asv_results import DATABASE_VARIABLE

    assert common.DATABASE == DATABASE_VARIABLE


def test_the_configs_matrix_names_every_server_and_only_those():
    from asv import util

    config = util.load_json(ROOT / "asv.databases.conf.json", js_comments=True)
    assert config["matrix"]["env_nobuild"] == {common.DATABASE: list(common.SERVERS)}
    plain = util.load_json(ROOT / "asv.conf.json", js_comments=True)
    assert {k: v for k, v in config.items() if k != "matrix"} == {k: v for k, v in plain.items() if k != "matrix"}
    assert config["matrix"]["req"] == plain["matrix"]["req"]


@pytest.mark.parametrize("backend", ["postgresql", "mariadb"])
def test_the_large_set_gets_a_database_of_its_own_on_the_server(backend, monkeypatch):
    """Created when missing (and found the second time), next to the 10,000-user one."""
    url = backend_url_or_skip(backend)
    monkeypatch.setenv(common.DATABASE, backend)
    monkeypatch.setenv(f"ECT_BENCH_{backend.upper()}_URL", url)
    large = common.database_url(common.LARGE_SET, "ect-bench-large.db")
    assert make_url(large).database == f"{make_url(url).database}_large"
    assert common.database_url(common.LARGE_SET, "ect-bench-large.db") == large
    assert common.database_url("ECT_BENCH_DB_URL", "ect-bench.db") == url
    from ect_service.database import create_db_engine, resolve_url

    engine = create_db_engine(resolve_url(large), pool_size=1)
    try:
        with engine.connect() as conn:
            assert conn.scalar(text("SELECT 1")) == 1
    finally:
        engine.dispose()
