"""Seeding is deterministic, idempotent and exact."""

from sqlalchemy import func, select

from ect_service.database import create_db_engine, resolve_url
from ect_service.schema import users, workflows
from ect_service.seeding import seed, user_rows


def snapshot(engine):
    with engine.connect() as conn:
        return (
            conn.execute(select(users).order_by(users.c.id)).all(),
            conn.execute(select(workflows).order_by(workflows.c.id)).all(),
        )


def test_seed_is_deterministic_and_idempotent(tmp_path):
    first = create_db_engine(resolve_url(f"sqlite:///{tmp_path / 'a.db'}"))
    second = create_db_engine(resolve_url(f"sqlite:///{tmp_path / 'b.db'}"))
    report = seed(first, 3_000, 10)
    assert (report.inserted_users, report.inserted_workflows) == (3_000, 10)
    seed(second, 3_000, 10)
    before = snapshot(first)
    assert before == snapshot(second), "two databases seeded alike must hold the same rows"

    again = seed(first, 3_000, 10)
    assert (again.inserted_users, again.inserted_workflows) == (0, 0)
    assert snapshot(first) == before


def test_seed_half_online_and_the_unary_workflow(tmp_path):
    engine = create_db_engine(resolve_url(f"sqlite:///{tmp_path / 'c.db'}"))
    seed(engine, 10_000, 100)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(users)) == 10_000
        assert conn.scalar(select(func.count()).where(users.c.is_online)) == 5_000
        assert conn.scalar(select(func.count()).select_from(workflows)) == 100
        assert conn.scalar(select(workflows.c.title).where(workflows.c.id == "test-workflow-1")) == "Workflow 1"


def test_seed_grows_and_shrinks_to_the_requested_size(tmp_path):
    engine = create_db_engine(resolve_url(f"sqlite:///{tmp_path / 'd.db'}"))
    seed(engine, 100, 1)
    assert seed(engine, 250, 1).inserted_users == 150  # extends: the first 100 rows are kept
    seed(engine, 40, 1)
    with engine.connect() as conn:
        ids = set(conn.scalars(select(users.c.id)))
    assert ids == {row["id"] for row in user_rows(40)}
