"""Alembic environment: runs migrations against the URL that `db.schema.migrate` passes in.

Each upgrade is one transaction: SQLite gets real transactional DDL (BEGIN IMMEDIATE, so a second
process waits and then sees the new revision), PostgreSQL an advisory lock held to the end."""

from alembic import context
from sqlalchemy import create_engine, event, pool, text

from db.models import Base
from db.schema import connect_args

config = context.config
target_metadata = Base.metadata
PG_MIGRATION_LOCK = 7_302_077  # any constant: every workbench process takes the same advisory lock


def _engine(url: str):
    if not url.startswith("sqlite"):
        return create_engine(url, poolclass=pool.NullPool, connect_args=connect_args(url))
    engine = create_engine(url, poolclass=pool.NullPool, connect_args={"timeout": 60})

    @event.listens_for(engine, "connect")
    def _driver_leaves_transactions_to_us(dbapi_conn, _record):
        dbapi_conn.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin_immediate(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def run_migrations_online() -> None:
    connectable = _engine(config.get_main_option("sqlalchemy.url"))
    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=True,
            transactional_ddl=True,
        )
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                connection.execute(text(f"SELECT pg_advisory_xact_lock({PG_MIGRATION_LOCK})"))
            context.run_migrations()
    connectable.dispose()


run_migrations_online()
