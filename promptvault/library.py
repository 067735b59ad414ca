"""The prompt library: create, describe, tag, list and search prompts in a project."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from promptvault.authz import require_project
from promptvault.content import check_name, check_text, normalize_tags
from promptvault.context import Context
from promptvault.errors import AlreadyExistsError
from promptvault.store.lookup import find_named, load_named
from promptvault.store.tables import Prompt, PromptTag, Ref, User, Version, utcnow

MAX_DESCRIPTION_CHARS = 2_000
DEFAULT_LIST_LIMIT = 500


@dataclass(frozen=True)
class PromptInfo:
    """A prompt as the library lists it."""

    id: int
    name: str
    description: str
    tags: list[str]
    owner: str
    archived: bool
    created_at: datetime
    updated_at: datetime
    versions: int = 0
    refs: dict[str, int] = field(default_factory=dict)  # ref name -> version number


def create_prompt(ctx: Context, name: str, description: str = "", tags: list[str] | None = None) -> PromptInfo:
    """Create an empty prompt; its first commit creates the `main` branch."""
    check_name(name)
    check_text(description, "description", MAX_DESCRIPTION_CHARS)
    clean_tags = normalize_tags(tags)
    try:
        with ctx.db.write() as session:
            require_project(session, ctx, "prompt.write")
            if find_named(session, Prompt, ctx.project_id, name) is not None:
                raise AlreadyExistsError(f"a prompt named '{name}' already exists")
            prompt = Prompt(project_id=ctx.project_id, name=name, description=description, owner_id=ctx.actor.user_id)
            session.add(prompt)
            session.flush()
            _set_tags(session, prompt, clean_tags)
            update_search_text(session, prompt, None)
    except IntegrityError:  # a concurrent create won the race
        raise AlreadyExistsError(f"a prompt named '{name}' already exists") from None
    return get_prompt_info(ctx, name)


def update_prompt(
    ctx: Context, name: str, *, description: str | None = None, tags: list[str] | None = None, archived: bool | None = None
) -> PromptInfo:
    """Change a prompt's description, tags or archived flag."""
    with ctx.db.write() as session:
        require_project(session, ctx, "prompt.write")
        prompt = load_prompt(session, ctx, name)
        if description is not None:
            prompt.description = check_text(description, "description", MAX_DESCRIPTION_CHARS)
        if tags is not None:
            _set_tags(session, prompt, normalize_tags(tags))
        if archived is not None:
            prompt.archived = archived
        prompt.updated_at = utcnow()
        update_search_text(session, prompt, _main_head_content(session, prompt.id))
    return get_prompt_info(ctx, name)


def get_prompt_info(ctx: Context, name: str) -> PromptInfo:
    """One prompt's library entry."""
    with ctx.db.read() as session:
        require_project(session, ctx, "prompt.read")
        prompt = load_prompt(session, ctx, name)
        return _infos(session, [prompt])[0]


def list_prompts(
    ctx: Context,
    search: str | None = None,
    tag: str | None = None,
    include_archived: bool = False,
    limit: int = DEFAULT_LIST_LIMIT,
) -> list[PromptInfo]:
    """Prompts of the project, newest first, matching a search over name, description, tags and content."""
    query = select(Prompt).where(Prompt.project_id == ctx.project_id)
    if not include_archived:
        query = query.where(Prompt.archived.is_(False))
    if search and search.strip():
        check_text(search, "search", 500)
        query = query.where(Prompt.search_text.like(f"%{_escape_like(search.strip().lower())}%", escape="\\"))
    if tag:
        tag = normalize_tags([tag])[0]
        query = query.where(Prompt.id.in_(select(PromptTag.prompt_id).where(PromptTag.tag == tag)))
    query = query.order_by(Prompt.updated_at.desc(), Prompt.id.desc()).limit(limit)
    with ctx.db.read() as session:
        require_project(session, ctx, "prompt.read")
        return _infos(session, list(session.scalars(query)))


def list_tags(ctx: Context) -> list[str]:
    """Every tag used in the project."""
    query = (
        select(PromptTag.tag).join(Prompt).where(Prompt.project_id == ctx.project_id).distinct().order_by(PromptTag.tag)
    )
    with ctx.db.read() as session:
        require_project(session, ctx, "prompt.read")
        return list(session.scalars(query))


def load_prompt(session: Session, ctx: Context, name: str, for_update: bool = False) -> Prompt:
    """The prompt by name in the context's project (callers check the role first), or NotFoundError; can lock it."""
    return load_named(session, Prompt, ctx.project_id, name, "prompt", for_update)


def update_search_text(session: Session, prompt: Prompt, head_content: object) -> None:
    """Refresh the lower-cased text that library search scans."""
    from promptvault.content import content_as_text

    tags = session.scalars(select(PromptTag.tag).where(PromptTag.prompt_id == prompt.id)).all()
    parts = [prompt.name, prompt.description, " ".join(tags)]
    if head_content is not None:
        parts.append(content_as_text(head_content))
    prompt.search_text = "\n".join(parts).lower()


def _main_head_content(session: Session, prompt_id: int) -> object:
    """The content at the head of `main`, or None before the first commit."""
    query = select(Version.content).join(Ref, Ref.version_id == Version.id).where(
        Ref.prompt_id == prompt_id, Ref.name == "main"
    )
    return session.scalar(query)


def _set_tags(session: Session, prompt: Prompt, tags: list[str]) -> None:
    """Replace a prompt's tags."""
    session.query(PromptTag).filter(PromptTag.prompt_id == prompt.id).delete()
    session.add_all(PromptTag(prompt_id=prompt.id, tag=tag) for tag in tags)
    session.flush()


def _infos(session: Session, prompts: list[Prompt]) -> list[PromptInfo]:
    """Library entries for prompts, with tags, owners, version counts and refs in four queries."""
    ids = [p.id for p in prompts]
    if not ids:
        return []
    tags: dict[int, list[str]] = {i: [] for i in ids}
    for prompt_id, tag in session.execute(select(PromptTag.prompt_id, PromptTag.tag).where(PromptTag.prompt_id.in_(ids))):
        tags[prompt_id].append(tag)
    counts = dict(
        session.execute(select(Version.prompt_id, func.max(Version.number)).where(Version.prompt_id.in_(ids)).group_by(Version.prompt_id)).all()
    )
    refs: dict[int, dict[str, int]] = {i: {} for i in ids}
    ref_rows = select(Ref.prompt_id, Ref.name, Version.number).join(Version, Ref.version_id == Version.id)
    for prompt_id, ref_name, number in session.execute(ref_rows.where(Ref.prompt_id.in_(ids))):
        refs[prompt_id][ref_name] = number
    owners = dict(session.execute(select(User.id, User.email).where(User.id.in_({p.owner_id for p in prompts}))).all())
    return [
        PromptInfo(
            id=p.id, name=p.name, description=p.description, tags=sorted(tags[p.id]), owner=owners.get(p.owner_id, ""),
            archived=p.archived, created_at=p.created_at, updated_at=p.updated_at,
            versions=counts.get(p.id, 0), refs=refs[p.id],
        )
        for p in prompts
    ]


def _escape_like(text: str) -> str:
    """Escape LIKE wildcards so a search is a plain substring match."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
