"""The schema: a page of online users is read from one index alone, and a database made by an
earlier version gets the indexes it lacks."""

from sqlalchemy import inspect, text

from ect_service import queries
from ect_service.database import create_db_engine, create_schema, resolve_url


def plan(engine, statement) -> str:
    compiled = statement.compile(engine, compile_kwargs={"literal_binds": True})
    with engine.connect() as conn:
        return " | ".join(row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}"))


def test_online_pages_read_from_a_covering_index(tmp_path):
    engine = create_db_engine(resolve_url(f"sqlite:///{tmp_path / 'plan.db'}"))
    create_schema(engine)
    for statement in (queries.ONLINE_USERS.limit(250), queries.NEXT_PAGE.limit(250).params(after="u")):
        described = plan(engine, statement)
        assert "USING COVERING INDEX ix_ect_users_online" in described, described
        assert "TEMP B-TREE" not in described, described  # no sort: the index gives id order


def test_an_earlier_database_gets_the_new_index(tmp_path):
    engine = create_db_engine(resolve_url(f"sqlite:///{tmp_path / 'old.db'}"))
    with engine.begin() as conn:  # the tables as an earlier version made them
        conn.execute(
            text(
                "CREATE TABLE ect_users (id VARCHAR(36) NOT NULL PRIMARY KEY, name VARCHAR(64) NOT NULL, "
                "is_online BOOLEAN NOT NULL, last_active DATETIME NOT NULL)"
            )
        )
        conn.execute(text("CREATE INDEX ix_ect_users_online_id ON ect_users (is_online, id)"))
    create_schema(engine)
    create_schema(engine)  # safe to repeat
    indexes = {index["name"]: index["column_names"] for index in inspect(engine).get_indexes("ect_users")}
    assert indexes["ix_ect_users_online"] == ["is_online", "id", "name", "last_active"]
    assert "ect_workflows" in inspect(engine).get_table_names()
