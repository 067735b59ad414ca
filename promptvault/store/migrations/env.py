"""Alembic environment: runs migrations on the engine handed over by promptvault.store.migrate."""

from alembic import context

from promptvault.store.tables import Base

config = context.config
engine = config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite needs batch mode for ALTERs
    )
    context.run_migrations()
