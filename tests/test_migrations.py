"""Schema migrations: ordered, named, and in step with the tables the code declares."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, text

from promptvault.store.migrate import current_revision, head_revision, upgrade
from promptvault.store.tables import Base


def test_migrations_match_the_declared_tables(workspace):
    with workspace.db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], diff


def test_upgrade_from_the_first_schema_keeps_existing_rows(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine, "0001")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO users (email, display_name, created_at) VALUES ('a@x', 'A', '2026-01-01')"))
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT email, is_active, password_hash FROM users")).one() == ("a@x", 1, None)
