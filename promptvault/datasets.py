"""Datasets: named lists of test cases (variables, optional expected output, tags) imported, edited and exported."""

from __future__ import annotations

from dataclasses import dataclass, field
from dataclasses import replace as replace_fields
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from promptvault import dataset_io
from promptvault.authz import require_project
from promptvault.content import check_name, check_text
from promptvault.context import Context
from promptvault.dataset_io import MAX_CASES, MAX_IMPORT_BYTES, CaseData
from promptvault.errors import AlreadyExistsError, ConflictError, NotFoundError, ValidationError
from promptvault.store.lookup import find_named, load_named
from promptvault.store.tables import Dataset, TestCase, User, utcnow

MAX_DESCRIPTION_CHARS = 2_000
MAX_MISSING_LISTED = 5  # further missing variables named in a refusal after the first
VARIABLES_SAMPLE = 200  # cases read to list a dataset's variables (imports give every case the same columns)
KEEP: Any = object()  # update_case: leave the expected output as it is


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset as lists show it; `imported` is how many cases the call that returned it added."""

    id: int
    name: str
    description: str
    cases: int
    created_by: str
    created_at: datetime
    updated_at: datetime
    imported: int = 0
    variables: list[str] = field(default_factory=list)  # the names its first VARIABLES_SAMPLE cases use


@dataclass(frozen=True)
class Case:
    """One test case at its position (from 1)."""

    position: int
    variables: dict[str, Any]
    expected: str | None = None
    tags: list[str] = field(default_factory=list)


def create_dataset(ctx: Context, name: str, description: str = "") -> DatasetInfo:
    """Create an empty dataset."""
    check_name(name, "dataset name")
    check_text(description, "description", MAX_DESCRIPTION_CHARS)
    try:
        with ctx.db.write() as session:
            require_project(session, ctx, "dataset.write")
            if find_named(session, Dataset, ctx.project_id, name) is not None:
                raise AlreadyExistsError(f"a dataset named '{name}' already exists")
            session.add(Dataset(project_id=ctx.project_id, name=name, description=description, created_by=ctx.actor.user_id))
    except IntegrityError:  # a concurrent create won the race
        raise AlreadyExistsError(f"a dataset named '{name}' already exists") from None
    return get_dataset(ctx, name)


def import_cases(ctx: Context, name: str, data: bytes, filename: str, replace: bool = False) -> DatasetInfo:
    """Add (or with `replace`, swap in) the cases of a CSV, JSONL or pasted table, all or nothing; creates the dataset."""
    check_name(name, "dataset name")
    cases = dataset_io.parse_cases(data, filename)  # everything is checked before the transaction starts
    try:
        return _import(ctx, name, cases, replace)
    except IntegrityError:  # a concurrent import created the same dataset first
        raise ConflictError(f"dataset '{name}' was created by someone else meanwhile; import again") from None


def _import(ctx: Context, name: str, cases: list[CaseData], replace: bool) -> DatasetInfo:
    """Create the dataset if needed, then replace or append its cases in one transaction."""
    with ctx.db.write() as session:
        require_project(session, ctx, "dataset.write")
        dataset = find_named(session, Dataset, ctx.project_id, name, for_update=True)
        if dataset is None:
            dataset = Dataset(project_id=ctx.project_id, name=name, created_by=ctx.actor.user_id)
            session.add(dataset)
            session.flush()
        elif replace:
            session.execute(delete(TestCase).where(TestCase.dataset_id == dataset.id))
        start = _case_count(session, dataset.id)
        if start + len(cases) > MAX_CASES:
            raise ValidationError(f"{name} would hold {start + len(cases):,} test cases; the limit is {MAX_CASES:,}")
        _insert_cases(session, dataset.id, start, cases)
        dataset.updated_at = utcnow()
        info = _infos(session, [dataset])[0]
    return replace_fields(info, imported=len(cases))


def import_file(ctx: Context, name: str, path: Path | str, replace: bool = False) -> DatasetInfo:
    """Import a dataset file from disk; one over the size limit is refused before it is read."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_IMPORT_BYTES:
            raise ValidationError(f"{path.name} is {size:,} bytes; the limit is {MAX_IMPORT_BYTES:,} bytes")
        data = path.read_bytes()
    except OSError as exc:
        raise ValidationError(f"cannot read {path}: {exc.strerror}") from None
    return import_cases(ctx, name, data, path.name, replace=replace)


def list_datasets(ctx: Context) -> list[DatasetInfo]:
    """The project's datasets by name, with their case counts."""
    with ctx.db.read() as session:
        require_project(session, ctx, "prompt.read")
        rows = session.scalars(select(Dataset).where(Dataset.project_id == ctx.project_id).order_by(Dataset.name))
        return _infos(session, list(rows))


def get_dataset(ctx: Context, name: str) -> DatasetInfo:
    """One dataset's entry."""
    with ctx.db.read() as session:
        require_project(session, ctx, "prompt.read")
        return _infos(session, [_load(session, ctx, name)])[0]


def get_cases(ctx: Context, name: str) -> list[Case]:
    """A dataset's cases in order."""
    with ctx.db.read() as session:
        require_project(session, ctx, "prompt.read")
        dataset = _load(session, ctx, name)
        rows = session.execute(
            select(TestCase.position, TestCase.variables, TestCase.expected, TestCase.tags)
            .where(TestCase.dataset_id == dataset.id).order_by(TestCase.position)
        )
        return [Case(position=p, variables=v, expected=e, tags=list(t or [])) for p, v, e, t in rows]


def add_case(
    ctx: Context, name: str, variables: dict[str, Any], expected: str | None = None, tags: list[str] | None = None
) -> Case:
    """Append one case to a dataset."""
    case = dataset_io.make_case(variables, expected, tags or [], "new case")
    with ctx.db.write() as session:
        require_project(session, ctx, "dataset.write")
        dataset = _load(session, ctx, name, for_update=True)
        count = _case_count(session, dataset.id)
        if count >= MAX_CASES:
            raise ValidationError(f"{name} holds {count:,} test cases; the limit is {MAX_CASES:,}")
        _insert_cases(session, dataset.id, count, [case])
        dataset.updated_at = utcnow()
    return Case(position=count + 1, variables=case.variables, expected=case.expected, tags=case.tags)


def update_case(
    ctx: Context, name: str, position: int, *, variables: dict[str, Any] | None = None,
    expected: str | None = KEEP, tags: list[str] | None = None,
) -> Case:
    """Change a case's variables, expected output (None clears it) or tags."""
    with ctx.db.write() as session:
        require_project(session, ctx, "dataset.write")
        dataset = _load(session, ctx, name, for_update=True)
        row = _load_case(session, dataset, position)
        case = dataset_io.make_case(
            row.variables if variables is None else variables,
            row.expected if expected is KEEP else expected,
            row.tags if tags is None else tags,
            f"case {position}",
        )
        row.variables, row.expected, row.tags = case.variables, case.expected, case.tags
        dataset.updated_at = utcnow()
    return Case(position=position, variables=case.variables, expected=case.expected, tags=case.tags)


def delete_case(ctx: Context, name: str, position: int) -> None:
    """Remove a case; the cases after it move up one position."""
    with ctx.db.write() as session:
        require_project(session, ctx, "dataset.write")
        dataset = _load(session, ctx, name, for_update=True)
        session.delete(_load_case(session, dataset, position))
        session.flush()
        session.execute(
            update(TestCase).where(TestCase.dataset_id == dataset.id, TestCase.position > position)
            .values(position=TestCase.position - 1)
        )
        dataset.updated_at = utcnow()


def export_cases(ctx: Context, name: str, fmt: str = "csv") -> str:
    """A dataset as CSV (every cell quoted, formula cells defanged) or JSON lines."""
    if fmt not in ("csv", "jsonl"):
        raise ValidationError(f"unknown export format '{fmt}'; use csv or jsonl")
    cases = [CaseData(c.variables, c.expected, c.tags) for c in get_cases(ctx, name)]
    return dataset_io.cases_to_csv(cases) if fmt == "csv" else dataset_io.cases_to_jsonl(cases)


def missing_variables(ctx: Context, name: str, needed: list[str]) -> list[tuple[int, str]]:
    """Every (case position, variable) where a case lacks a variable the template needs."""
    return [(case.position, var) for case in get_cases(ctx, name) for var in needed if var not in case.variables]


def check_cases_for_prompt(ctx: Context, dataset: str, prompt: str, ref: str | None = None) -> list[str]:
    """The variables a prompt version needs, or ValidationError naming the first case and variable it lacks."""
    from promptvault import versioning
    from promptvault.templates import extract_variables

    needed = extract_variables(versioning.show(ctx, prompt, ref).content)
    missing = missing_variables(ctx, dataset, needed)
    if missing:
        raise ValidationError(_missing_message(dataset, prompt, missing))
    return needed


def _missing_message(dataset: str, prompt: str, missing: list[tuple[int, str]]) -> str:
    """'case 3 of D lacks variable 'x' that P needs (also: case 4 'y', ...; N more)'."""
    (position, var), rest = missing[0], missing[1:]
    message = f"case {position} of dataset '{dataset}' has no variable '{var}' that prompt '{prompt}' needs"
    if rest:
        listed = ", ".join(f"case {p} '{v}'" for p, v in rest[:MAX_MISSING_LISTED])
        more = len(rest) - MAX_MISSING_LISTED
        message += f" (also: {listed}" + (f"; {more:,} more)" if more > 0 else ")")
    return message


def _load(session: Session, ctx: Context, name: str, for_update: bool = False) -> Dataset:
    """The dataset by name in the context's project (callers check the role first), or NotFoundError."""
    return load_named(session, Dataset, ctx.project_id, name, "dataset", for_update)


def _load_case(session: Session, dataset: Dataset, position: int) -> TestCase:
    """The case at a position, or NotFoundError."""
    row = session.scalar(select(TestCase).where(TestCase.dataset_id == dataset.id, TestCase.position == position))
    if row is None:
        raise NotFoundError(f"dataset '{dataset.name}' has no case {position}")
    return row


def _case_count(session: Session, dataset_id: int) -> int:
    """How many cases a dataset holds."""
    return session.scalar(select(func.count()).select_from(TestCase).where(TestCase.dataset_id == dataset_id)) or 0


def _insert_cases(session: Session, dataset_id: int, start: int, cases: list[CaseData]) -> None:
    """Insert cases after position `start` in one bulk statement."""
    rows = [
        {"dataset_id": dataset_id, "position": start + index, "variables": case.variables,
         "expected": case.expected, "tags": case.tags}
        for index, case in enumerate(cases, start=1)
    ]
    session.execute(insert(TestCase.__table__), rows)  # Core executemany: no ORM bookkeeping per row


def _infos(session: Session, datasets: list[Dataset]) -> list[DatasetInfo]:
    """List entries with case counts and creators in two queries."""
    ids = [d.id for d in datasets]
    if not ids:
        return []
    counts = dict(session.execute(
        select(TestCase.dataset_id, func.count()).where(TestCase.dataset_id.in_(ids)).group_by(TestCase.dataset_id)
    ).all())
    creators = dict(session.execute(select(User.id, User.email).where(User.id.in_({d.created_by for d in datasets}))).all())
    return [
        DatasetInfo(id=d.id, name=d.name, description=d.description, cases=counts.get(d.id, 0),
                    created_by=creators.get(d.created_by, ""), created_at=d.created_at, updated_at=d.updated_at,
                    variables=_variable_names(session, d.id))
        for d in datasets
    ]


def _variable_names(session: Session, dataset_id: int) -> list[str]:
    """The variable names of a dataset's first cases, in first-seen order."""
    rows = session.scalars(select(TestCase.variables).where(TestCase.dataset_id == dataset_id)
                           .order_by(TestCase.position).limit(VARIABLES_SAMPLE))
    return list(dict.fromkeys(name for variables in rows for name in variables))
