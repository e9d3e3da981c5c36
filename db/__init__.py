"""Results store: SQLAlchemy models, Alembic migrations and the session helpers in `db.store`."""
