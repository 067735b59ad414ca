"""Shared fixtures: a real workspace on SQLite (always) and PostgreSQL (when PROMPTVAULT_TEST_POSTGRES_URL is set)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # app.py, pages/ and ui/ live at the repository root

from promptvault.config import Settings, load_settings  # noqa: E402
from promptvault.store.tables import Base  # noqa: E402
from promptvault.workspace import Workspace, open_workspace  # noqa: E402

POSTGRES_URL = os.environ.get("PROMPTVAULT_TEST_POSTGRES_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])


def _truncate_postgres(url: str) -> None:
    """Empty every table of the shared PostgreSQL test database (the schema stays migrated)."""
    from sqlalchemy import create_engine

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        existing = {row[0] for row in conn.execute(text("select tablename from pg_tables where schemaname='public'"))}
        names = [t.name for t in Base.metadata.sorted_tables if t.name in existing]
        if names:
            conn.execute(text(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE"))
        if "audit_head" in existing:  # as migration 0002 leaves it
            conn.execute(text("INSERT INTO audit_head (id, last_event_id, mac) VALUES (1, 0, '')"))
    engine.dispose()


def make_settings(tmp_path: Path, backend: str) -> Settings:
    """Settings for a fresh workspace in a temp folder on the given backend."""
    data_dir = tmp_path / "data"
    if backend == "postgresql":
        _truncate_postgres(POSTGRES_URL)
        url = POSTGRES_URL
    else:
        url = f"sqlite:///{data_dir / 'promptvault.db'}"
    return Settings(data_dir=data_dir, database_url=url, master_key=None)


@pytest.fixture(params=BACKENDS)
def workspace(request, tmp_path) -> Workspace:
    """A fresh, migrated workspace on each backend."""
    ws = open_workspace(make_settings(tmp_path, request.param))
    yield ws
    ws.db.dispose()


@pytest.fixture
def sqlite_workspace(tmp_path) -> Workspace:
    """A fresh workspace on SQLite only (for tests about files in the data folder)."""
    ws = open_workspace(make_settings(tmp_path, "sqlite"))
    yield ws
    ws.db.dispose()


@pytest.fixture
def app_ctx(tmp_path, monkeypatch):
    """The page's workspace (PROMPTVAULT_DATA_DIR in tmp_path) and the local user's context to seed it with."""
    monkeypatch.setenv("PROMPTVAULT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("PROMPTVAULT_DATABASE_URL", raising=False)
    monkeypatch.delenv("PROMPTVAULT_MASTER_KEY", raising=False)
    import streamlit as st

    st.cache_resource.clear()  # no workspace of an earlier test survives
    ws = open_workspace(load_settings())
    yield ws.local_context()
    from promptvault import background

    background.stop_all()  # the app starts a run executor per workspace: none outlives its test
    st.cache_resource.clear()
    ws.db.dispose()


@pytest.fixture
def ctx(workspace):
    """The local user's context in the default project."""
    return workspace.local_context()


@pytest.fixture(scope="module", params=BACKENDS)
def module_workspace(request, tmp_path_factory) -> Workspace:
    """One fresh workspace per backend shared by a module's tests (tables of cases that only write fresh names)."""
    ws = open_workspace(make_settings(tmp_path_factory.mktemp("module"), request.param))
    yield ws
    ws.db.dispose()


@pytest.fixture
def person(workspace):
    """A factory: person(email, role) adds an account with that role in team Default (None: no team); its context."""
    from promptvault import accounts, teams
    from promptvault.context import Context

    local = workspace.local_context()

    def make(email: str, role: str | None = "viewer") -> Context:
        """Add the account, give it the role, return its context (project `default`, or none without a team)."""
        accounts.add_user(local, email)
        if role is None:
            actor = accounts.actor_for_email(workspace.db, email)
            return Context(db=workspace.db, actor=actor, project_id=0, keyring=workspace.keyring)
        teams.add_member(local, "Default", email, role)
        return workspace.context_for(email, team="Default")

    return make


@pytest.fixture
def cheap_hashing(monkeypatch):
    """Argon2id with tiny parameters, for tests about pages rather than the cost (a module opts in with pytestmark)."""
    from argon2 import PasswordHasher, Type

    from promptvault import passwords

    monkeypatch.setattr(passwords, "HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.ID))


@pytest.fixture
def local_admin(app_ctx):
    """The page workspace's local user set up as the first admin, so the app shell asks for no setup; its actor."""
    from apptest import PASSWORD
    from promptvault import accounts
    from promptvault.workspace import LOCAL_USER_EMAIL

    return accounts.create_first_admin(app_ctx.db, app_ctx.keyring, LOCAL_USER_EMAIL, PASSWORD)


@pytest.fixture
def app_admin(app_ctx):
    """The first admin (ADMIN) of the page workspace, owner of team Default; their context as the pages build it."""
    from apptest import ADMIN, PASSWORD
    from promptvault import accounts
    from ui import session

    accounts.create_first_admin(app_ctx.db, app_ctx.keyring, ADMIN, PASSWORD)
    return session.workspace().context_for(ADMIN)


@pytest.fixture
def app_member(app_admin):
    """A factory: app_member(email, role) adds an account (password PASSWORD) with that role in Default; its context."""
    from apptest import PASSWORD
    from promptvault import accounts, teams
    from promptvault.context import Context
    from ui import session

    def make(email: str, role: str) -> Context:
        """Add the account as app_admin, give it the role in Default, return its context."""
        accounts.add_user(app_admin, email, PASSWORD)
        teams.add_member(app_admin, "Default", email, role)
        return session.workspace().context_for(email)

    return make


@pytest.fixture
def app_editor(app_member):
    """An editor (EDITOR) of team Default in the page workspace; their context."""
    from apptest import EDITOR

    return app_member(EDITOR, "editor")


def _cli_runner(settings: Settings, tmp_path: Path, monkeypatch):
    """`promptvault ...` run in-process on the workspace the settings name; returns (exit code, stdout, stderr)."""
    from click.testing import CliRunner

    from promptvault.cli import main

    monkeypatch.setenv("PROMPTVAULT_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("PROMPTVAULT_DATABASE_URL", settings.database_url)
    for name in ("PROMPTVAULT_MASTER_KEY", "PROMPTVAULT_USER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def run(*args, input=None):
        result = runner.invoke(main, list(args), input=input, catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    return run


@pytest.fixture
def cli(tmp_path, monkeypatch):
    """The CLI on a fresh SQLite data folder (tmp_path/data), run from tmp_path."""
    return _cli_runner(make_settings(tmp_path, "sqlite"), tmp_path, monkeypatch)


@pytest.fixture(params=BACKENDS)
def cli_each_backend(request, tmp_path, monkeypatch):
    """The CLI on a fresh workspace on each backend, run from tmp_path."""
    return _cli_runner(make_settings(tmp_path, request.param), tmp_path, monkeypatch)

