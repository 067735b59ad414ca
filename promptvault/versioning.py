"""Git-like history of a prompt: immutable versions, commits, log, revert, merge and diff (refs live in refs.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from promptvault import templates
from promptvault.authz import require_project
from promptvault.content import (
    Content, check_text, content_as_text, content_hash, content_kind, normalize_config,
    normalize_content,
)
from promptvault.context import Context
from promptvault.errors import (
    ConflictError, NoChangeError, NotFoundError, ValidationError,
)
from promptvault import refs
from promptvault.library import load_prompt, update_search_text
from promptvault.refs import MAIN
from promptvault.store.tables import Prompt, Ref, User, Version, utcnow

MAX_MESSAGE_CHARS = 10_000


@dataclass(frozen=True)
class VersionInfo:
    """One immutable version with its content."""

    id: int
    prompt: str
    number: int
    parent: int | None
    merge_parent: int | None
    content: Content
    config: dict[str, Any]
    variables: list[str]
    content_hash: str
    message: str
    author: str
    created_at: datetime

    @property
    def kind(self) -> str:
        """'text' or 'chat'."""
        return content_kind(self.content)


@dataclass(frozen=True)
class MergePreview:
    """The outcome a merge would have: heads involved, the merged draft, and conflicts (markers in the draft)."""

    source: str
    into: str
    ours: int
    theirs: int
    theirs_id: int
    base: int | None
    content: Content
    config: dict[str, Any]
    conflicts: list


@dataclass(frozen=True)
class LogEntry:
    """A version as `log` lists it (no content), with the refs that point at it."""

    number: int
    parent: int | None
    merge_parent: int | None
    message: str
    author: str
    created_at: datetime
    content_hash: str
    refs: list[str]


def parse_spec(spec: str) -> tuple[str, str | None]:
    """Split `NAME[@REF]` into the prompt name and the ref (None for the head of main)."""
    name, sep, ref = spec.partition("@")
    if sep and not ref:
        raise ValidationError(f"'{spec}' has an empty ref after '@'")
    return name, (ref if sep else None)


def commit(
    ctx: Context,
    name: str,
    content: Any,
    config: Mapping[str, Any] | None = None,
    message: str = "",
    branch: str = MAIN,
    expected_head: int | None = None,
) -> VersionInfo:
    """Commit a new version on a branch; refuses a copy of the head and a head that moved meanwhile."""
    content = normalize_content(content)
    config = normalize_config(dict(config) if isinstance(config, Mapping) else config)
    check_text(message, "commit message", MAX_MESSAGE_CHARS)
    variables = templates.extract_variables(content)  # a malformed template is refused here
    return _commit(ctx, name, branch, expected_head, content, config, variables, message, merge_parent=None)


def revert(ctx: Context, name: str, ref: str, message: str = "", branch: str = MAIN, expected_head: int | None = None) -> VersionInfo:
    """Commit a new version on a branch equal to an older one."""
    old = show(ctx, name, ref)
    message = message or f"Revert to v{old.number}"
    return commit(ctx, name, old.content, old.config, message, branch=branch, expected_head=expected_head)


def preview_merge(ctx: Context, name: str, source: str, into: str = MAIN) -> MergePreview:
    """What merging a branch would produce: the merged draft and any conflicts (nothing is written)."""
    from promptvault.merging import merge_content

    with ctx.db.read() as session:
        require_project(session, ctx, "prompt.read")
        prompt = load_prompt(session, ctx, name)
        ours, theirs = _branch_head(session, prompt, into), _branch_head(session, prompt, source)
        graph = _graph(session, prompt.id)
        if theirs.id in _ancestors(graph, ours.id):
            raise NoChangeError(f"'{source}' is already merged into '{into}' (v{ours.number})")
        base_id = _merge_base(graph, ours.id, theirs.id)
        base = session.get(Version, base_id) if base_id else None
    result = merge_content(base, ours, theirs)
    return MergePreview(
        source=source, into=into, ours=ours.number, theirs=theirs.number, theirs_id=theirs.id,
        base=base.number if base else None, content=result.content, config=result.config, conflicts=result.conflicts,
    )


def merge(
    ctx: Context, name: str, source: str, into: str = MAIN, message: str = "",
    resolved_content: Any = None, resolved_config: Mapping[str, Any] | None = None,
) -> VersionInfo:
    """Three-way merge a branch into another. Overlapping edits raise MergeConflictError, losing nothing,
    unless a resolution is given; the merge version records both parents."""
    from promptvault.merging import has_conflict_markers, raise_conflicts

    with ctx.db.read() as session:  # refuse before reporting conflicts; `_commit` checks again as it writes
        require_project(session, ctx, "prompt.write")
    plan = preview_merge(ctx, name, source, into)
    content, config = plan.content, plan.config
    if resolved_content is None:
        raise_conflicts(plan.conflicts)
    else:
        content = normalize_content(resolved_content)
        if has_conflict_markers(content_as_text(content)):
            raise ValidationError("the resolution still holds conflict markers (<<<<<<<, =======, >>>>>>>)")
        if resolved_config is None:
            raise_conflicts([c for c in plan.conflicts if c.field.startswith("config")], note="; give a resolved config")
    if resolved_config is not None:
        config = resolved_config
    content = normalize_content(content)
    config = normalize_config(dict(config) if isinstance(config, Mapping) else config)
    message = message or f"Merge branch '{source}' into '{into}'"
    check_text(message, "commit message", MAX_MESSAGE_CHARS)
    variables = templates.extract_variables(content)
    return _commit(ctx, name, into, plan.ours, content, config, variables, message, merge_parent=plan.theirs_id)


def show(ctx: Context, name: str, ref: str | None = None) -> VersionInfo:
    """The version a ref names: a number (`3`, `v3`), a branch, a label, or None for the head of main."""
    with ctx.db.read() as session:
        require_project(session, ctx, "prompt.read")
        prompt = load_prompt(session, ctx, name)
        return _info(session, prompt, refs.resolve(session, prompt, ref))


def log(ctx: Context, name: str, ref: str = MAIN) -> list[LogEntry]:
    """Every version reachable from a ref, newest first."""
    with ctx.db.read() as session:
        require_project(session, ctx, "prompt.read")
        prompt = load_prompt(session, ctx, name)
        start = refs.resolve(session, prompt, ref)
        graph = _graph(session, prompt.id)
        reachable = _ancestors(graph, start.id)
        rows = session.execute(
            select(Version.id, Version.number, Version.message, Version.created_at, Version.content_hash, User.email)
            .join(User, User.id == Version.author_id)
            .where(Version.prompt_id == prompt.id)
            .order_by(Version.number.desc())
        ).all()
        numbers = {vid: number for vid, (number, _p, _m) in graph.items()}
        pointing = _refs_by_version(session, prompt.id)
    return [
        LogEntry(
            number=row.number, parent=numbers.get(graph[row.id][1]), merge_parent=numbers.get(graph[row.id][2]),
            message=row.message, author=row.email, created_at=row.created_at, content_hash=row.content_hash,
            refs=pointing.get(row.id, []),
        )
        for row in rows
        if row.id in reachable
    ]


def render_version(ctx: Context, name: str, ref: str | None, variables: Mapping[str, Any]) -> Content:
    """Render a version's template with variables."""
    return templates.render(show(ctx, name, ref).content, variables)


def diff(ctx: Context, name: str, ref_a: str, ref_b: str):
    """The diff between two versions of a prompt (text or each message, config key by key, variables)."""
    from promptvault.diffing import diff_versions

    return diff_versions(show(ctx, name, ref_a), show(ctx, name, ref_b))


def _commit(ctx, name, branch, expected_head, content, config, variables, message, merge_parent) -> VersionInfo:
    """Insert the next version and advance the branch, holding the prompt's row lock meanwhile."""
    try:
        with ctx.db.write() as session:
            require_project(session, ctx, "prompt.write")
            prompt = load_prompt(session, ctx, name, for_update=True)
            ref, head = _branch_ref_and_head(session, prompt, branch)
            head_number = head.number if head else 0
            if expected_head is not None and head_number != expected_head:
                raise ConflictError(f"branch '{branch}' of '{name}' is now at v{head_number} (you started from v{expected_head}); reload and try again")
            if head is not None and head.content_hash == content_hash(content, config) and merge_parent is None:
                raise NoChangeError(f"nothing to commit: identical to the head of '{branch}' (v{head.number})")
            version = _insert_version(session, ctx, prompt, content, config, variables, message, head, merge_parent)
            _advance_branch(session, ctx, prompt, branch, ref, head, version, "merge" if merge_parent else "commit")
            merge_number = refs.version_numbers(session, {merge_parent}).get(merge_parent)
            return _info(session, prompt, version, ctx.actor.email, head.number if head else None, merge_number)
    except IntegrityError:  # the lock makes this unreachable in practice; keep the promise anyway
        raise ConflictError(f"someone else committed to '{name}' at the same moment; reload and try again") from None


def _insert_version(session, ctx, prompt, content, config, variables, message, head, merge_parent) -> Version:
    """Insert the next-numbered version of a prompt."""
    number = session.scalar(select(func.coalesce(func.max(Version.number), 0)).where(Version.prompt_id == prompt.id)) + 1
    version = Version(
        prompt_id=prompt.id, number=number, parent_id=head.id if head else None, merge_parent_id=merge_parent,
        content=content, config=config, variables=variables, content_hash=content_hash(content, config),
        message=message, author_id=ctx.actor.user_id,
    )
    session.add(version)
    session.flush()
    return version


def _advance_branch(session, ctx, prompt, branch, ref, head, version, reason) -> None:
    """Move a branch from `head` to `version` only if nobody moved it meanwhile."""
    if ref is None:
        refs.add_ref(session, ctx, prompt, branch, "branch", version, reason)
    else:
        moved = session.execute(
            update(Ref).where(Ref.id == ref.id, Ref.version_id == head.id).values(version_id=version.id, updated_at=utcnow())
        )
        if moved.rowcount != 1:
            raise ConflictError(f"branch '{branch}' of '{prompt.name}' moved while committing; reload and try again")
        refs.record_move(session, ctx, prompt.id, ref, head.id, version.id, reason)
    if branch == MAIN:
        update_search_text(session, prompt, version.content)
    prompt.updated_at = utcnow()


def _branch_ref_and_head(session: Session, prompt: Prompt, branch: str) -> tuple[Ref | None, Version | None]:
    """A branch's ref and head; `main` may not exist before the first commit."""
    ref = refs.find_ref(session, prompt.id, branch)
    if ref is None:
        if branch == MAIN and not session.scalar(select(Version.id).where(Version.prompt_id == prompt.id).limit(1)):
            return None, None
        raise NotFoundError(f"'{prompt.name}' has no branch '{branch}'; create it with `promptvault prompt branch`")
    if ref.kind != "branch":
        raise ValidationError(f"'{branch}' is a label of '{prompt.name}', not a branch; commits go on branches")
    return ref, session.get(Version, ref.version_id)


def _branch_head(session: Session, prompt: Prompt, branch: str) -> Version:
    """The head version of an existing branch."""
    ref, head = _branch_ref_and_head(session, prompt, branch)
    if head is None:
        raise NotFoundError(f"'{prompt.name}' has no versions yet")
    return head


def _graph(session: Session, prompt_id: int) -> dict[int, tuple[int, int | None, int | None]]:
    """{version id: (number, parent id, merge parent id)} for one prompt, in one query."""
    rows = session.execute(
        select(Version.id, Version.number, Version.parent_id, Version.merge_parent_id).where(Version.prompt_id == prompt_id)
    )
    return {vid: (number, parent, merge_parent) for vid, number, parent, merge_parent in rows}


def _ancestors(graph: dict[int, tuple[int, int | None, int | None]], start: int) -> set[int]:
    """A version and every version it descends from (both parents of merges)."""
    seen, stack = set(), [start]
    while stack:
        vid = stack.pop()
        if vid is None or vid in seen:
            continue
        seen.add(vid)
        stack.extend(graph[vid][1:])
    return seen


def _merge_base(graph, a: int, b: int) -> int | None:
    """The newest common ancestor of two versions (None when histories are unrelated)."""
    common = _ancestors(graph, a) & _ancestors(graph, b)
    return max(common, key=lambda vid: graph[vid][0]) if common else None


def _refs_by_version(session: Session, prompt_id: int) -> dict[int, list[str]]:
    """Ref names pointing at each version id."""
    result: dict[int, list[str]] = {}
    for version_id, ref_name in session.execute(select(Ref.version_id, Ref.name).where(Ref.prompt_id == prompt_id).order_by(Ref.name)):
        result.setdefault(version_id, []).append(ref_name)
    return result


def _info(session: Session, prompt: Prompt, version: Version, *known: Any) -> VersionInfo:
    """A version row as VersionInfo; a fresh commit passes (author, parent, merge parent) it already knows."""
    if known:
        author, parent, merge_parent = known
    else:
        numbers = refs.version_numbers(session, {version.parent_id, version.merge_parent_id})
        parent, merge_parent = numbers.get(version.parent_id), numbers.get(version.merge_parent_id)
        author = session.get(User, version.author_id).email
    return VersionInfo(
        id=version.id, prompt=prompt.name, number=version.number, parent=parent, merge_parent=merge_parent,
        content=version.content, config=version.config, variables=list(version.variables),
        content_hash=version.content_hash, message=version.message, author=author, created_at=version.created_at,
    )


