"""Finding a project's named rows (prompts, datasets, ...): one query shape, one not-found message."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from promptvault.errors import NotFoundError

Row = TypeVar("Row")


def find_named(session: Session, table: type[Row], project_id: int, name: str, for_update: bool = False) -> Row | None:
    """The row of `table` with this name in the project, or None; `for_update` locks it (PostgreSQL)."""
    query = select(table).where(table.project_id == project_id, table.name == name)
    return session.scalar(query.with_for_update() if for_update else query)


def load_named(session: Session, table: type[Row], project_id: int, name: str, what: str, for_update: bool = False) -> Row:
    """The row of `table` with this name in the project, or NotFoundError ("no <what> named '<name>'")."""
    row = find_named(session, table, project_id, name, for_update)
    if row is None:
        raise NotFoundError(f"no {what} named '{name}'")
    return row
