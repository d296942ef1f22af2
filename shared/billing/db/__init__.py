"""Persistence: SQLModel tables, engine and unit of work, claim queries, Alembic migrations."""
