"""Engine and transactions for the metadata store (SQLite by default, PostgreSQL by URL)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from promptvault.errors import ConfigurationError

SQLITE_BUSY_TIMEOUT_MS = 10_000


class Database:
    """One engine per process; `read()` and `write()` open short transactions."""

    def __init__(self, url: str):
        self.url = url
        self.engine = _make_engine(url)
        self._writer = self.engine.execution_options(promptvault_write=True)
        self._sessions = sessionmaker(expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        """Whether this store is SQLite."""
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read transaction; closing the session ends it (loaded objects stay readable)."""
        with self._sessions(bind=self.engine) as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction, committed on success; on SQLite it takes the write lock up front."""
        with self._sessions(bind=self._writer) as session:
            with session.begin():
                yield session

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def _make_engine(url: str) -> Engine:
    """Build the engine with the per-dialect settings we rely on."""
    try:
        if url.startswith("sqlite"):
            return _sqlite_engine(url)
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        return create_engine(url, pool_pre_ping=True)
    except Exception as exc:  # a malformed URL or an unknown driver
        raise ConfigurationError(f"cannot use database URL: {exc}") from None


def _sqlite_engine(url: str) -> Engine:
    """SQLite in WAL mode with foreign keys, a busy timeout and explicit BEGINs."""
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (pysqlite's is too late)
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
        except Exception:  # read-only media: keep the default journal
            pass
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        # A writer that starts with a read and upgrades later can fail with SQLITE_BUSY without waiting;
        # taking the write lock at BEGIN makes concurrent writers queue on the busy timeout instead.
        immediate = conn.get_execution_options().get("promptvault_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def is_locked_error(exc: Exception) -> bool:
    """Whether an error is SQLite's 'database is locked' after the busy timeout."""
    return isinstance(exc, OperationalError) and "locked" in str(exc).lower()
