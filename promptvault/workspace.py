"""Opening a PromptVault installation: data folder, master key, schema, and the contexts users act in."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from promptvault import accounts
from promptvault.accounts import DEFAULT_TEAM, LOCAL_USER_EMAIL
from promptvault.config import Settings, load_settings
from promptvault.context import Actor, Context
from promptvault.crypto import MasterKeyring
from promptvault.errors import ConfigurationError, NotFoundError
from promptvault.master_key import create_key_file, load_keyring
from promptvault.store import Database, upgrade
from promptvault.store.migrate import current_revision, head_revision
from promptvault.store.tables import Membership, Project, Team, User
from promptvault.teams import DEFAULT_PROJECT, seed_team

__all__ = ["DEFAULT_PROJECT", "DEFAULT_TEAM", "LOCAL_USER_EMAIL", "Workspace", "open_workspace"]


@dataclass
class Workspace:
    """An opened installation: its settings, its metadata store and its master keyring."""

    settings: Settings
    db: Database
    keyring: MasterKeyring

    def local_context(self, project: str = DEFAULT_PROJECT) -> Context:
        """The context in a Default-team project of the placeholder user before setup, the first admin after."""
        with self.db.read() as session:
            user = session.scalar(select(User).where(User.email == LOCAL_USER_EMAIL))
            project_id = session.scalar(
                select(Project.id).join(Team).where(Team.name == DEFAULT_TEAM, Project.name == project)
            )
        actor = Actor(user_id=user.id, email=user.email) if user else accounts.first_admin(self.db)
        if actor is None or project_id is None:
            raise ConfigurationError(f"project '{project}' does not exist; run `promptvault init`")
        return Context(db=self.db, actor=actor, project_id=project_id, keyring=self.keyring)

    def context_for(self, who: str | Actor, project: str = DEFAULT_PROJECT, team: str | None = None) -> Context:
        """A user's context in a project of their teams (no `team`: their oldest team that has one of that name)."""
        actor = who if isinstance(who, Actor) else accounts.actor_for_email(self.db, who)
        if not all(_plain_name(n) for n in (project, team) if n is not None):  # e.g. from a URL: never to the store
            raise NotFoundError(f"no project '{project}' among your teams")
        query = (
            select(Project.id).join(Team, Team.id == Project.team_id)
            .join(Membership, Membership.team_id == Project.team_id)
            .where(Membership.user_id == actor.user_id, Project.name == project)
        )
        if team is not None:
            query = query.where(Team.name == team)
        with self.db.read() as session:
            project_id = session.scalar(query.order_by(Team.id).limit(1))
        if project_id is None:
            raise NotFoundError(f"no project '{project}'" + (f" in a team '{team}'" if team else "") + " among your teams")
        return Context(db=self.db, actor=actor, project_id=project_id, keyring=self.keyring)


def _plain_name(name: object) -> bool:
    """Whether a team or project name is text any store accepts in a query (no NUL, not huge)."""
    return isinstance(name, str) and "\x00" not in name and len(name) <= 200


def open_workspace(settings: Settings | None = None) -> Workspace:
    """Open the installation; create the data folder and master key, migrate and seed when needed."""
    settings = settings or load_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if not settings.master_key:
        create_key_file(settings.master_key_file)
    keyring = load_keyring(settings)  # a malformed key stops us here, not at first use
    db = Database(settings.database_url)
    if current_revision(db.engine) != head_revision():
        upgrade(db.engine)
    _ensure_defaults(db)
    return Workspace(settings=settings, db=db, keyring=keyring)


def _ensure_defaults(db: Database) -> None:
    """Seed a fresh installation: the placeholder local user owns team Default (the first admin takes it over)."""
    try:
        with db.write() as session:
            if session.scalar(select(User.id).limit(1)) is not None:
                return
            user = User(email=LOCAL_USER_EMAIL, display_name="Local user")
            session.add(user)
            session.flush()
            if session.scalar(select(Team.id).where(Team.name == DEFAULT_TEAM)) is None:
                seed_team(session, DEFAULT_TEAM, user.id)
    except IntegrityError:  # another process seeded the same fresh installation first
        pass
