"""Playground notebooks: a user's named list of cells (a prompt draft, its variables, params and 1-4 models).

A notebook belongs to its owner in one project. The owner (an editor or above) edits, runs, renames, shares
and deletes it; once shared, every member of the team may open it read-only (and save a copy). Anyone else
is told there is no such notebook. Each save names the revision it started from, so two tabs saving at once
never overwrite each other: the second is refused with a ConflictError.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from promptvault.authz import require, require_project
from promptvault.content import normalize_content
from promptvault.context import Context
from promptvault.errors import ConflictError, NotFoundError, ValidationError
from promptvault.run_spec import ModelSpec, check_params
from promptvault.store.tables import Notebook, Run, User, utcnow

MAX_CELLS = 50
MAX_MODELS = 4


def new_cell_id() -> str:
    """A short random id that keeps a cell's identity across edits, moves and saves."""
    return uuid.uuid4().hex[:10]


class PlaygroundCell(BaseModel):
    """One cell: a draft (text or chat messages), where it started from, its variables, params and models."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(default_factory=new_cell_id, pattern=r"^[0-9a-f]{6,32}$")
    title: str = Field(default="", max_length=100)
    prompt: str | None = Field(default=None, max_length=100)  # the prompt it started from (commits go there)
    base_version: int | None = None
    content: Any = ""
    variables: dict[str, str] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    models: list[ModelSpec] = Field(default_factory=lambda: [ModelSpec(model="offline/echo")], min_length=1,
                                    max_length=MAX_MODELS)
    use_cache: bool = True
    last_run: dict[str, str] | None = None  # {"id": execution id, "fingerprint": what it ran}

    @field_validator("content")
    @classmethod
    def _content(cls, value: Any) -> Any:
        return "" if value == "" else normalize_content(value)  # a new cell starts empty

    @field_validator("params")
    @classmethod
    def _params(cls, value: dict[str, Any]) -> dict[str, Any]:
        return check_params(value)

    @field_validator("models", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        return [{"model": v} if isinstance(v, str) else v for v in value] if isinstance(value, list) else value

    @field_validator("models")
    @classmethod
    def _distinct(cls, value: list[ModelSpec]) -> list[ModelSpec]:
        labels = [m.label for m in value]
        duplicate = next((label for label in labels if labels.count(label) > 1), None)
        if duplicate:
            raise ValueError(f"'{duplicate}' is listed twice")
        return value


@dataclass(frozen=True)
class NotebookInfo:
    """A notebook as the playground shows it; `editable` says whether the actor owns it."""

    id: int
    team_id: int
    project_id: int
    owner: str
    name: str
    cells: list[PlaygroundCell]
    shared: bool
    revision: int
    run_id: int | None
    editable: bool
    updated_at: datetime


def parse_cells(data: Any) -> list[PlaygroundCell]:
    """Cells from stored or submitted data; ValidationError naming the cell and field."""
    if not isinstance(data, list) or len(data) > MAX_CELLS:
        raise ValidationError(f"cells: expected a list of at most {MAX_CELLS} cells")
    cells = []
    for index, item in enumerate(data):
        try:
            cells.append(item if isinstance(item, PlaygroundCell) else PlaygroundCell.model_validate(item))
        except pydantic.ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ValidationError(f"cell {index + 1}: {where}: {first['msg'].removeprefix('Value error, ')}") from None
    ids = [c.id for c in cells]
    if len(set(ids)) != len(ids):
        raise ValidationError("cells: two cells share an id")
    return cells


def create(ctx: Context, name: str, cells: list[Any] | None = None) -> NotebookInfo:
    """A new notebook of the actor's in the context's project (editors); names are unique per owner."""
    name = _name(name)
    parsed = parse_cells(cells if cells is not None else [PlaygroundCell()])
    with ctx.db.write() as session:
        team_id = require_project(session, ctx, "run.start")
        row = Notebook(team_id=team_id, project_id=ctx.project_id, owner_id=ctx.actor.user_id, name=name,
                       cells=_dump(parsed), shared=False, revision=1)
        session.add(row)
        _flush_unique(session, name)
        return _info(session, ctx, row)


def get(ctx: Context, notebook_id: int) -> NotebookInfo:
    """A notebook the actor owns, or a shared one of their team; NotFoundError for anything else."""
    with ctx.db.read() as session:
        return _info(session, ctx, _readable(session, ctx, notebook_id))


def list_visible(ctx: Context) -> list[NotebookInfo]:
    """The actor's notebooks in the project, then the team's shared ones, by name."""
    with ctx.db.read() as session:
        require_project(session, ctx, "prompt.read")
        rows = session.scalars(select(Notebook).where(
            Notebook.project_id == ctx.project_id,
            or_(Notebook.owner_id == ctx.actor.user_id, Notebook.shared.is_(True))).order_by(Notebook.name, Notebook.id))
        infos = [_info(session, ctx, row) for row in rows]
    return sorted(infos, key=lambda n: (not n.editable, n.name.lower()))


def save(ctx: Context, notebook_id: int, cells: list[Any], revision: int) -> NotebookInfo:
    """Store the cells if the notebook is still at `revision`; ConflictError when someone saved in between."""
    parsed = parse_cells(cells)
    with ctx.db.write() as session:
        row = _owned(session, ctx, notebook_id)
        if row.revision != revision:
            raise ConflictError(f"notebook '{row.name}' was saved elsewhere (revision {row.revision}, yours "
                                f"{revision}): reload it, or save yours as a copy")
        row.cells, row.revision, row.updated_at = _dump(parsed), row.revision + 1, utcnow()
        return _info(session, ctx, row)


def rename(ctx: Context, notebook_id: int, name: str) -> NotebookInfo:
    """Give the actor's notebook a new name."""
    name = _name(name)
    with ctx.db.write() as session:
        row = _owned(session, ctx, notebook_id)
        row.name, row.updated_at = name, utcnow()
        _flush_unique(session, name)
        return _info(session, ctx, row)


def share(ctx: Context, notebook_id: int, shared: bool = True) -> NotebookInfo:
    """Let the team open the notebook read-only (or stop it)."""
    with ctx.db.write() as session:
        row = _owned(session, ctx, notebook_id)
        row.shared, row.updated_at = bool(shared), utcnow()
        return _info(session, ctx, row)


def copy(ctx: Context, notebook_id: int, name: str) -> NotebookInfo:
    """A copy of a notebook the actor can open, owned by the actor, without its outputs."""
    source = get(ctx, notebook_id)
    cells = [c.model_copy(update={"last_run": None}) for c in source.cells]
    return create(ctx, name, cells)


def delete(ctx: Context, notebook_id: int) -> None:
    """Delete the actor's notebook (its calls stay in the history, counted by analytics)."""
    with ctx.db.write() as session:
        session.delete(_owned(session, ctx, notebook_id))


def open_for_run(ctx: Context, notebook_id: int) -> NotebookInfo:
    """The actor's own notebook, if they may run things in its team (editors), with the run that records its
    calls in the history (kind 'playground', never executed; created on the notebook's first call)."""
    with ctx.db.write() as session:
        row = _readable(session, ctx, notebook_id)
        if row.owner_id != ctx.actor.user_id:
            raise ValidationError(f"notebook '{row.name}' is another member's: save a copy to run its cells")
        require(session, ctx, row.team_id, "run.start")
        if row.run_id is None:
            record = Run(team_id=row.team_id, project_id=row.project_id, prompt_id=None, kind="playground",
                         spec={"playground": row.id, "prompt": f"(playground: {row.name})", "models": []},
                         status="done", estimate={}, created_by=ctx.actor.user_id)
            session.add(record)
            session.flush()
            row.run_id = record.id
        return _info(session, ctx, row)


def mark_ran(ctx: Context, notebook_id: int, cell_id: str, last_run: dict[str, str]) -> None:
    """Point a cell at its latest outputs (no new revision: the page holding the notebook stays current)."""
    with ctx.db.write() as session:
        row = _owned(session, ctx, notebook_id)
        cells = [dict(c) for c in row.cells]
        for cell in cells:
            if cell.get("id") == cell_id:
                cell["last_run"] = last_run
        row.cells = cells


def _readable(session: Session, ctx: Context, notebook_id: int) -> Notebook:
    """The notebook if the actor owns it or it is shared with a team they belong to."""
    row = session.get(Notebook, notebook_id)
    if row is None or not (row.owner_id == ctx.actor.user_id or row.shared):
        raise NotFoundError(f"no notebook {notebook_id}")
    try:
        require(session, ctx, row.team_id, "prompt.read")
    except NotFoundError:
        raise NotFoundError(f"no notebook {notebook_id}") from None
    return row


def _owned(session: Session, ctx: Context, notebook_id: int) -> Notebook:
    """The notebook if the actor owns it and may still run things in its team; others' are read-only."""
    row = _readable(session, ctx, notebook_id)
    require(session, ctx, row.team_id, "run.start")
    if row.owner_id != ctx.actor.user_id:
        raise ValidationError(f"notebook '{row.name}' is another member's and read-only: save a copy to change it")
    return row


def _name(name: str) -> str:
    """A notebook name, trimmed: 1-100 characters."""
    name = (name or "").strip()
    if not 1 <= len(name) <= 100:
        raise ValidationError("a notebook name needs 1-100 characters")
    return name


def _flush_unique(session: Session, name: str) -> None:
    """Flush, turning a duplicate name into a clear error."""
    try:
        session.flush()
    except IntegrityError:
        raise ConflictError(f"you already have a notebook named '{name}'") from None


def _dump(cells: list[PlaygroundCell]) -> list[dict[str, Any]]:
    """Cells as stored JSON."""
    return [c.model_dump(mode="json") for c in cells]


def _info(session: Session, ctx: Context, row: Notebook) -> NotebookInfo:
    """A row as NotebookInfo."""
    owner = session.scalar(select(User.email).where(User.id == row.owner_id)) or ""
    return NotebookInfo(row.id, row.team_id, row.project_id, owner, row.name, parse_cells(row.cells), row.shared,
                        row.revision, row.run_id, row.owner_id == ctx.actor.user_id, row.updated_at)
