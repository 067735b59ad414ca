"""Who is acting, where: the first argument of every service function."""

from __future__ import annotations

from dataclasses import dataclass

from promptvault.crypto import MasterKeyring
from promptvault.store import Database


@dataclass(frozen=True)
class Actor:
    """The user on whose behalf a service call runs."""

    user_id: int
    email: str


@dataclass(frozen=True)
class Context:
    """A service call's store, actor, project, and the master keyring the vault and audit log need."""

    db: Database
    actor: Actor
    project_id: int
    keyring: MasterKeyring
