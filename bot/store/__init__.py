"""The store: SQLAlchemy models, Alembic migrations and the queries other stages use."""

from bot.store.database import Database, open_database, problem

__all__ = ["Database", "open_database", "problem"]
