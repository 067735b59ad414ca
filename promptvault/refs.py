"""Refs of a prompt: branches and labels, what a ref names, and the recorded history of every move."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from promptvault import audit
from promptvault.authz import require, require_project
from promptvault.content import check_ref_name
from promptvault.context import Context
from promptvault.errors import AlreadyExistsError, NoChangeError, NotFoundError, ValidationError
from promptvault.library import load_prompt
from promptvault.store.tables import Prompt, Ref, RefMove, User, Version, utcnow

MAIN = "main"


NUMBER_REF = re.compile(r"^v?(\d+)$")


@dataclass(frozen=True)
class RefInfo:
    """A branch or label and the version it points at."""

    name: str
    kind: str
    version: int
    protected: bool
    updated_at: datetime


@dataclass(frozen=True)
class RefMoveInfo:
    """One recorded move of a ref: who moved it, when, from which version to which."""

    ref: str
    kind: str
    from_version: int | None
    to_version: int
    reason: str
    actor: str
    at: datetime


def list_refs(ctx: Context, name: str) -> list[RefInfo]:
    """The prompt's branches and labels."""
    with ctx.db.read() as session:
        require_project(session, ctx, "prompt.read")
        prompt = load_prompt(session, ctx, name)
        rows = session.execute(
            select(Ref, Version.number).join(Version, Ref.version_id == Version.id)
            .where(Ref.prompt_id == prompt.id).order_by(Ref.kind, Ref.name)
        ).all()
    return [RefInfo(r.name, r.kind, number, r.protected, r.updated_at) for r, number in rows]


def ref_history(ctx: Context, name: str, ref: str | None = None, limit: int = 200) -> list[RefMoveInfo]:
    """Recorded ref moves of a prompt (optionally one ref), newest first."""
    with ctx.db.read() as session:
        require_project(session, ctx, "prompt.read")
        prompt = load_prompt(session, ctx, name)
        query = select(RefMove).where(RefMove.prompt_id == prompt.id)
        if ref:
            query = query.where(RefMove.ref_name == ref)
        moves = list(session.scalars(query.order_by(RefMove.id.desc()).limit(limit)))
        numbers = version_numbers(session, {m.from_version_id for m in moves} | {m.to_version_id for m in moves})
        emails = dict(session.execute(select(User.id, User.email).where(User.id.in_({m.actor_id for m in moves}))).all())
    return [
        RefMoveInfo(m.ref_name, m.kind, numbers.get(m.from_version_id), numbers[m.to_version_id], m.reason, emails.get(m.actor_id, ""), m.at)
        for m in moves
    ]


def create_branch(ctx: Context, name: str, branch: str, from_ref: str | None = None) -> RefInfo:
    """Start a branch at a version (default: the head of main)."""
    check_ref_name(branch, "branch name")
    _refuse_number_like(branch)
    try:
        with ctx.db.write() as session:
            require_project(session, ctx, "prompt.write")
            prompt = load_prompt(session, ctx, name)
            if find_ref(session, prompt.id, branch) is not None:
                raise AlreadyExistsError(f"'{name}' already has a ref named '{branch}'")
            start = resolve(session, prompt, from_ref)
            add_ref(session, ctx, prompt, branch, "branch", start)
    except IntegrityError:
        raise AlreadyExistsError(f"'{name}' already has a ref named '{branch}'") from None
    return _ref_info(ctx, name, branch)


def set_label(ctx: Context, name: str, label: str, ref: str | None) -> RefInfo:
    """Point a label (`production`, `staging`, ...) at a version; a protected label needs an admin. Audited."""
    check_ref_name(label, "label")
    _refuse_number_like(label)
    with ctx.db.write() as session:
        team_id = require_project(session, ctx, "prompt.write")
        prompt = load_prompt(session, ctx, name, for_update=True)
        target = resolve(session, prompt, ref)
        existing = find_ref(session, prompt.id, label)
        if existing is None:
            add_ref(session, ctx, prompt, label, "label", target)
            moved_from = None
        else:
            moved_from = _move_label(session, ctx, team_id, prompt, existing, target)
        _audit_label(session, ctx, team_id, "label.move", prompt, label, {
            "from": moved_from, "to": target.number, "protected": bool(existing and existing.protected),
        })
    return _ref_info(ctx, name, label)


def protect_label(ctx: Context, name: str, label: str, protected: bool = True) -> RefInfo:
    """Protect a label (moving it then needs an admin) or lift the protection (admins). Audited."""
    with ctx.db.write() as session:
        team_id = require_project(session, ctx, "label.protect")
        prompt = load_prompt(session, ctx, name, for_update=True)
        ref = find_ref(session, prompt.id, label)
        if ref is None or ref.kind != "label":
            raise NotFoundError(f"'{name}' has no label '{label}'" + (" (it is a branch)" if ref else ""))
        if ref.protected == protected:
            raise NoChangeError(f"label '{label}' is already {'protected' if protected else 'unprotected'}")
        ref.protected, ref.updated_at = protected, utcnow()
        version = version_numbers(session, {ref.version_id})[ref.version_id]
        _audit_label(session, ctx, team_id, "label.protect", prompt, label, {"protected": protected, "version": version})
    return _ref_info(ctx, name, label)


def resolve(session: Session, prompt: Prompt, ref: str | None) -> Version:
    """The version row a ref names within one prompt, or NotFoundError listing what exists."""
    if ref is None or ref == "":
        ref = MAIN
    number = NUMBER_REF.match(ref)
    if number:
        query = select(Version).where(Version.prompt_id == prompt.id, Version.number == int(number.group(1)))
    else:
        query = select(Version).join(Ref, Ref.version_id == Version.id).where(Ref.prompt_id == prompt.id, Ref.name == ref)
    version = session.scalar(query)
    if version is None:
        raise NotFoundError(_unknown_ref_message(session, prompt, ref))
    return version


def add_ref(session, ctx, prompt, name, kind, version, reason="create") -> Ref:
    """Create a ref and record its creation."""
    ref = Ref(prompt_id=prompt.id, name=name, kind=kind, version_id=version.id)
    session.add(ref)
    session.flush()
    record_move(session, ctx, prompt.id, ref, None, version.id, reason)
    return ref


def record_move(session, ctx, prompt_id, ref, from_id, to_id, reason) -> None:
    """Append one ref move to the history."""
    session.add(RefMove(
        prompt_id=prompt_id, ref_name=ref.name, kind=ref.kind, from_version_id=from_id, to_version_id=to_id,
        reason=reason, actor_id=ctx.actor.user_id,
    ))


def _move_label(session: Session, ctx: Context, team_id: int, prompt: Prompt, ref: Ref, target: Version) -> int:
    """Move an existing label (admins only when it is protected); the version number it left."""
    if ref.kind != "label":
        raise ValidationError(f"'{ref.name}' is a branch of '{prompt.name}'; branches move by committing")
    if ref.protected:
        require(session, ctx, team_id, "label.move_protected")
    if ref.version_id == target.id:
        raise NoChangeError(f"label '{ref.name}' already points at v{target.number}")
    old = ref.version_id
    record_move(session, ctx, prompt.id, ref, old, target.id, "move")
    ref.version_id, ref.updated_at = target.id, utcnow()
    return version_numbers(session, {old})[old]


def _audit_label(session: Session, ctx: Context, team_id: int, action: str, prompt: Prompt, label: str, details: dict) -> None:
    """Record a label event in the audit log, in the transaction that made it."""
    audit.append(
        session, ctx.keyring, action=action, actor=ctx.actor, team_id=team_id, target=f"{prompt.name}@{label}",
        details={"project_id": prompt.project_id, "prompt": prompt.name, "label": label, **details},
    )


def find_ref(session: Session, prompt_id: int, name: str) -> Ref | None:
    """A ref by name, or None."""
    return session.scalar(select(Ref).where(Ref.prompt_id == prompt_id, Ref.name == name))


def _ref_info(ctx: Context, name: str, ref_name: str) -> RefInfo:
    """One ref as RefInfo."""
    return next(r for r in list_refs(ctx, name) if r.name == ref_name)


def _refuse_number_like(name: str) -> None:
    """Ref names like `v3` would shadow version numbers."""
    if NUMBER_REF.match(name):
        raise ValidationError(f"'{name}' looks like a version number; pick another name")


def version_numbers(session: Session, ids: set[int | None]) -> dict[int, int]:
    """Version numbers by id."""
    ids = {i for i in ids if i is not None}
    return dict(session.execute(select(Version.id, Version.number).where(Version.id.in_(ids))).all()) if ids else {}


def _unknown_ref_message(session: Session, prompt: Prompt, ref: str) -> str:
    """Say which ref was not found and which exist."""
    names = list(session.scalars(select(Ref.name).where(Ref.prompt_id == prompt.id).order_by(Ref.name)))
    latest = session.scalar(select(func.max(Version.number)).where(Version.prompt_id == prompt.id))
    if latest is None:
        return f"'{prompt.name}' has no versions yet"
    known = ", ".join(names) if names else "none"
    return f"'{prompt.name}' has no version or ref '{ref}' (versions 1-{latest}; refs: {known})"
