"""Opening a PromptVault installation: data folder, master key, schema and the local default user."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from promptvault.config import Settings, load_settings
from promptvault.context import Actor, Context
from promptvault.errors import ConfigurationError
from promptvault.crypto import MasterKeyring
from promptvault.master_key import create_key_file, load_keyring
from promptvault.store import Database, upgrade
from promptvault.store.migrate import current_revision, head_revision
from promptvault.store.tables import Membership, Project, Team, User

LOCAL_USER_EMAIL = "local@promptvault"
DEFAULT_TEAM = "Default"
DEFAULT_PROJECT = "default"


@dataclass
class Workspace:
    """An opened installation: its settings and its metadata store."""

    settings: Settings
    db: Database
    keyring: MasterKeyring

    def local_context(self, project: str = DEFAULT_PROJECT) -> Context:
        """The context of the local default user in a project of the default team."""
        with self.db.read() as session:
            user = session.scalar(select(User).where(User.email == LOCAL_USER_EMAIL))
            project_id = session.scalar(
                select(Project.id).join(Team).where(Team.name == DEFAULT_TEAM, Project.name == project)
            )
        if user is None or project_id is None:
            raise ConfigurationError(f"project '{project}' does not exist; run `promptvault init`")
        return Context(db=self.db, actor=Actor(user_id=user.id, email=user.email), project_id=project_id, keyring=self.keyring)


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
    """The local user, default team and project exist (until accounts land, they act for everyone)."""
    with db.write() as session:
        user = session.scalar(select(User).where(User.email == LOCAL_USER_EMAIL))
        if user is None:
            user = User(email=LOCAL_USER_EMAIL, display_name="Local user")
            session.add(user)
        team = session.scalar(select(Team).where(Team.name == DEFAULT_TEAM))
        if team is None:
            team = Team(name=DEFAULT_TEAM)
            session.add(team)
            session.flush()
            session.add(Membership(team_id=team.id, user_id=user.id, role="owner"))
            session.add(Project(team_id=team.id, name=DEFAULT_PROJECT))
