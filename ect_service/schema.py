"""Tables of the service, as SQLAlchemy Core metadata (Core rows keep the streaming path cheap)."""

from sqlalchemy import Boolean, Column, DateTime, Index, MetaData, String, Table

metadata = MetaData()

# Timestamps are stored as naive UTC: the one convention every supported backend round-trips.
users = Table(
    "ect_users",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("is_online", Boolean, nullable=False),
    Column("last_active", DateTime, nullable=False),
    # The online-users query filters on is_online and reads in id order: this index serves both,
    # so the first row comes back without a sort over the whole table. It also holds every column
    # the query returns, so a page is read from the index alone, without a lookup per row in the
    # table (SQLite: 1,100 fewer instructions per item).
    Index("ix_ect_users_online", "is_online", "id", "name", "last_active"),
)

WORKFLOW_ID_MAX_LENGTH = 64

workflows = Table(
    "ect_workflows",
    metadata,
    Column("id", String(WORKFLOW_ID_MAX_LENGTH), primary_key=True),
    Column("title", String(200), nullable=False),
    Column("status", String(32), nullable=False),
    Column("created_date", DateTime, nullable=False),
    Column("modified_date", DateTime, nullable=False),
)
