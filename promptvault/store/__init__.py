"""The metadata store: tables, engine and migrations."""

from promptvault.store.database import Database
from promptvault.store.migrate import upgrade

__all__ = ["Database", "upgrade"]
