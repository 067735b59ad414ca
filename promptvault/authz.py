"""Roles and the one table of what each role may do; every service checks it inside its own transaction."""

from __future__ import annotations

from enum import IntEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from promptvault.context import Context
from promptvault.errors import NotFoundError, PermissionDeniedError, ValidationError
from promptvault.store.tables import Membership, Project, User


class Role(IntEnum):
    """A member's role in a team; a higher role can do everything a lower one can."""

    VIEWER = 1
    EDITOR = 2
    ADMIN = 3
    OWNER = 4

    def __str__(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, name: object) -> Role:
        """The role named (owner, admin, editor, viewer), or ValidationError."""
        if isinstance(name, Role):
            return name
        try:
            return cls[str(name).strip().upper()]
        except KeyError:
            raise ValidationError(f"unknown role '{name}'; use one of owner, admin, editor, viewer") from None


# The minimum role of every action. A non-member can do nothing and sees nothing of the team.
ACTIONS: dict[str, Role] = {
    "prompt.read": Role.VIEWER,  # list, show, log, diff, render, refs and their history
    "prompt.write": Role.EDITOR,  # create, edit, commit, branch, merge, revert, move unprotected labels
    "label.move_protected": Role.ADMIN,  # move a protected label
    "label.protect": Role.ADMIN,  # protect or unprotect a label
    "dataset.write": Role.EDITOR,
    "run.start": Role.EDITOR,
    "key.read": Role.VIEWER,  # see the team's keys (provider, label, last four characters)
    "key.use": Role.EDITOR,  # have a key decrypted for a run or test call
    "key.manage": Role.ADMIN,  # add, rotate, delete team keys
    "team.read": Role.VIEWER,  # see the team's members and projects
    "member.manage": Role.ADMIN,  # add, change and remove members below owner; add user accounts
    "project.manage": Role.ADMIN,  # create projects in the team
    "team.manage": Role.OWNER,  # grant or remove the owner role, and anything about the team itself
    "audit.read": Role.ADMIN,
    "export": Role.VIEWER,
}


def minimum_role(action: str) -> Role:
    """The least role an action needs (an unknown action is a programming error)."""
    try:
        return ACTIONS[action]
    except KeyError:
        raise ValueError(f"unknown action '{action}'") from None


def can(role: Role | str | None, action: str) -> bool:
    """Whether a role (None: not a member) may do an action; for the UI to hide what the core would refuse."""
    return role is not None and Role.parse(role) >= minimum_role(action)


def roles_of(session: Session, user_id: int) -> dict[int, Role]:
    """The user's role in each of their teams, by team id (an inactive user has none)."""
    rows = session.execute(
        select(Membership.team_id, Membership.role).join(User, User.id == Membership.user_id)
        .where(Membership.user_id == user_id, User.is_active.is_(True))
    )
    return {team_id: Role.parse(role) for team_id, role in rows}


def require(session: Session, ctx: Context, team_id: int, action: str) -> Role:
    """The actor's role in a team if it allows the action; NotFoundError for a non-member, else PermissionDenied."""
    needed = minimum_role(action)
    role = session.scalar(
        select(Membership.role).join(User, User.id == Membership.user_id)
        .where(Membership.team_id == team_id, Membership.user_id == ctx.actor.user_id, User.is_active.is_(True))
    )
    if role is None:
        raise NotFoundError("no such team")
    return _allowed(Role.parse(role), needed, action)


def require_project(session: Session, ctx: Context, action: str) -> int:
    """The team of the context's project if the actor's role there allows the action (NotFound for non-members)."""
    needed = minimum_role(action)
    row = session.execute(
        select(Project.team_id, Membership.role)
        .join(Membership, Membership.team_id == Project.team_id)
        .join(User, User.id == Membership.user_id)
        .where(Project.id == ctx.project_id, Membership.user_id == ctx.actor.user_id, User.is_active.is_(True))
    ).first()
    if row is None:
        raise NotFoundError("no such project")
    _allowed(Role.parse(row.role), needed, action)
    return row.team_id


def require_any(session: Session, ctx: Context, action: str) -> Role:
    """The actor's highest role if some team grants it the action (installation-wide actions, e.g. add a user)."""
    needed = minimum_role(action)
    best = max(roles_of(session, ctx.actor.user_id).values(), default=None)
    if best is None or best < needed:
        raise PermissionDeniedError(f"{action} needs the {needed} role (or higher) in at least one team")
    return best


def _allowed(role: Role, needed: Role, action: str) -> Role:
    """The role, if it reaches what the action needs."""
    if role < needed:
        raise PermissionDeniedError(f"{action} needs the {needed} role or higher; you are {role}")
    return role
