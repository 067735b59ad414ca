"""Teams, their members and roles, and their projects. A user sees only the teams they belong to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from promptvault import audit, vault
from promptvault.authz import Role, require
from promptvault.content import check_name, check_text
from promptvault.context import Context
from promptvault.errors import AlreadyExistsError, NotFoundError, ValidationError
from promptvault.store.tables import Membership, Project, Team, User

DEFAULT_PROJECT = "default"
MAX_TEAM_NAME_CHARS = 100


@dataclass(frozen=True)
class TeamInfo:
    """A team as its member sees it, with that member's role."""

    id: int
    name: str
    role: str
    created_at: datetime


@dataclass(frozen=True)
class MemberInfo:
    """One member of a team."""

    user_id: int
    email: str
    display_name: str
    role: str
    is_active: bool


@dataclass(frozen=True)
class ProjectInfo:
    """One project of a team."""

    id: int
    team_id: int
    name: str
    created_at: datetime


def create_team(ctx: Context, name: str) -> TeamInfo:
    """Create a team with a `default` project; its creator becomes its owner (any active user may)."""
    name = _check_team_name(name)
    try:
        with ctx.db.write() as session:
            if not session.scalar(select(User.is_active).where(User.id == ctx.actor.user_id)):
                raise NotFoundError("no such user")
            if session.scalar(select(Team.id).where(func.lower(Team.name) == name.lower())) is not None:
                raise AlreadyExistsError(f"a team named '{name}' already exists")
            team = seed_team(session, name, ctx.actor.user_id)
            _audit_role(session, ctx, team.id, ctx.actor.user_id, ctx.actor.email, None, Role.OWNER)
            return TeamInfo(team.id, team.name, str(Role.OWNER), team.created_at)
    except IntegrityError:
        raise AlreadyExistsError(f"a team named '{name}' already exists") from None


def seed_team(session: Session, name: str, owner_id: int) -> Team:
    """Insert a team, its owner's membership and its default project (inside the caller's transaction)."""
    team = Team(name=name)
    session.add(team)
    session.flush()
    session.add(Membership(team_id=team.id, user_id=owner_id, role=str(Role.OWNER)))
    session.add(Project(team_id=team.id, name=DEFAULT_PROJECT))
    session.flush()
    return team


def list_teams(ctx: Context) -> list[TeamInfo]:
    """The actor's teams and their role in each, by name."""
    query = (
        select(Team, Membership.role).join(Membership, Membership.team_id == Team.id)
        .join(User, User.id == Membership.user_id)
        .where(Membership.user_id == ctx.actor.user_id, User.is_active.is_(True)).order_by(Team.name)
    )
    with ctx.db.read() as session:
        return [TeamInfo(t.id, t.name, role, t.created_at) for t, role in session.execute(query)]


def team_id_by_name(ctx: Context, name: str) -> int:
    """The id of one of the actor's teams by name; NotFoundError for any other name."""
    with ctx.db.read() as session:
        return _team_id(session, ctx, name)


def list_members(ctx: Context, team: str | int) -> list[MemberInfo]:
    """The members of a team and their roles (any member may look)."""
    with ctx.db.read() as session:
        team_id = _team_id(session, ctx, team)
        require(session, ctx, team_id, "team.read")
        rows = session.execute(
            select(User, Membership.role).join(Membership, Membership.user_id == User.id)
            .where(Membership.team_id == team_id).order_by(User.email)
        )
        return [MemberInfo(u.id, u.email, u.display_name, role, u.is_active) for u, role in rows]


def add_member(ctx: Context, team: str | int, email: str, role: str | Role) -> MemberInfo:
    """Give an existing user a role in a team (admins; only an owner may grant owner)."""
    role = Role.parse(role)
    with ctx.db.write() as session:
        team_id = _locked_team(session, ctx, team, _grant_action(role))
        user = _user_by_email(session, email)
        if session.scalar(_membership(team_id, user.id)) is not None:
            raise AlreadyExistsError(f"{user.email} is already a member; change their role instead")
        session.add(Membership(team_id=team_id, user_id=user.id, role=str(role)))
        _audit_role(session, ctx, team_id, user.id, user.email, None, role)
        return MemberInfo(user.id, user.email, user.display_name, str(role), user.is_active)


def set_role(ctx: Context, team: str | int, email: str, role: str | Role) -> MemberInfo:
    """Change a member's role (admins; only an owner may grant or take away owner; one owner always stays)."""
    role = Role.parse(role)
    with ctx.db.write() as session:
        team_id = _locked_team(session, ctx, team, _grant_action(role))
        user, membership = _member(session, team_id, email)
        old = Role.parse(membership.role)
        if old == Role.OWNER:
            require(session, ctx, team_id, "team.manage")
            if role != Role.OWNER:
                _keep_an_owner(session, team_id)
        if old == role:
            return MemberInfo(user.id, user.email, user.display_name, str(role), user.is_active)
        membership.role = str(role)
        _audit_role(session, ctx, team_id, user.id, user.email, old, role)
        return MemberInfo(user.id, user.email, user.display_name, str(role), user.is_active)


def remove_member(ctx: Context, team: str | int, email: str) -> None:
    """Take a user out of a team (admins; only an owner may remove an owner, never the last one)."""
    with ctx.db.write() as session:
        team_id = _locked_team(session, ctx, team, "member.manage")
        user, membership = _member(session, team_id, email)
        old = Role.parse(membership.role)
        if old == Role.OWNER:
            require(session, ctx, team_id, "team.manage")
            _keep_an_owner(session, team_id)
        session.delete(membership)
        _audit_role(session, ctx, team_id, user.id, user.email, old, None)
        vault.destroy_personal_keys(session, ctx, team_id, user.id)  # unusable once they leave; nothing lingers


def create_project(ctx: Context, team: str | int, name: str) -> ProjectInfo:
    """Add a project to a team (admins)."""
    check_name(name, "project name")
    try:
        with ctx.db.write() as session:
            team_id = _team_id(session, ctx, team)
            require(session, ctx, team_id, "project.manage")
            if session.scalar(select(Project.id).where(Project.team_id == team_id, Project.name == name)):
                raise AlreadyExistsError(f"the team already has a project named '{name}'")
            project = Project(team_id=team_id, name=name)
            session.add(project)
            session.flush()
            return ProjectInfo(project.id, team_id, project.name, project.created_at)
    except IntegrityError:
        raise AlreadyExistsError(f"the team already has a project named '{name}'") from None


def list_projects(ctx: Context, team: str | int) -> list[ProjectInfo]:
    """A team's projects by name (any member may look)."""
    with ctx.db.read() as session:
        team_id = _team_id(session, ctx, team)
        require(session, ctx, team_id, "team.read")
        rows = session.scalars(select(Project).where(Project.team_id == team_id).order_by(Project.name))
        return [ProjectInfo(p.id, p.team_id, p.name, p.created_at) for p in rows]


def _team_id(session: Session, ctx: Context, team: str | int) -> int:
    """A team id from a name or id, only among the actor's teams ("no such team" for every other)."""
    query = select(Team.id).join(Membership, Membership.team_id == Team.id).where(Membership.user_id == ctx.actor.user_id)
    if isinstance(team, int) and not isinstance(team, bool):
        query = query.where(Team.id == team)
    elif isinstance(team, str) and "\x00" not in team and len(team) <= MAX_TEAM_NAME_CHARS:
        query = query.where(Team.name == team)
    else:
        raise NotFoundError("no such team")
    team_id = session.scalar(query)
    if team_id is None:
        raise NotFoundError("no such team")
    return team_id


def _grant_action(role: Role) -> str:
    """What granting a role needs: owners grant owner, admins the rest."""
    return "team.manage" if role == Role.OWNER else "member.manage"


def _locked_team(session: Session, ctx: Context, team: str | int, action: str) -> int:
    """Check the actor may do the action in the team, then lock the team row so membership changes serialize."""
    team_id = _team_id(session, ctx, team)
    require(session, ctx, team_id, action)
    session.scalar(select(Team.id).where(Team.id == team_id).with_for_update())
    return team_id


def _keep_an_owner(session: Session, team_id: int) -> None:
    """Refuse a change that would leave the team with no owner."""
    owners = session.scalar(
        select(func.count()).select_from(Membership).where(Membership.team_id == team_id, Membership.role == str(Role.OWNER))
    )
    if owners <= 1:
        raise ValidationError("a team needs at least one owner; make someone else owner first")


def _membership(team_id: int, user_id: int):
    """Select one membership row."""
    return select(Membership).where(Membership.team_id == team_id, Membership.user_id == user_id)


def _user_by_email(session: Session, email: str) -> User:
    """A user by e-mail (any case), or NotFoundError."""
    email = check_text(email, "e-mail", 320).strip().lower()
    user = session.scalar(select(User).where(User.email == email))
    if user is None:
        raise NotFoundError(f"no user with the e-mail '{email}'; add the account first")
    return user


def _member(session: Session, team_id: int, email: str) -> tuple[User, Membership]:
    """A member of the team by e-mail, or NotFoundError."""
    user = _user_by_email(session, email)
    membership = session.scalar(_membership(team_id, user.id))
    if membership is None:
        raise NotFoundError(f"{user.email} is not a member of this team")
    return user, membership


def _audit_role(
    session: Session, ctx: Context, team_id: int, user_id: int, email: str, old: Role | None, new: Role | None,
) -> None:
    """Record a membership change in the audit log (same transaction)."""
    audit.append(
        session, ctx.keyring, action="role.change", actor=ctx.actor, team_id=team_id, target=email,
        details={"user_id": user_id, "from": str(old) if old else None, "to": str(new) if new else None},
    )


def _check_team_name(name: object) -> str:
    """A team name: 1-100 characters of text, trimmed."""
    name = check_text(name, "team name", MAX_TEAM_NAME_CHARS, allow_empty=False).strip()
    if any(ord(c) < 32 for c in name):
        raise ValidationError("the team name may not contain control characters")
    return name
