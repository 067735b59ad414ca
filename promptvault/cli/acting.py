"""Who the CLI acts as: `--as EMAIL` or PROMPTVAULT_USER, else the first admin (the server's own rights)."""

from __future__ import annotations

import click

from promptvault.context import Context
from promptvault.workspace import Workspace


def workspace() -> Workspace:
    """The installation named by the environment, opened (and migrated) once per command."""
    from promptvault.config import load_settings
    from promptvault.workspace import open_workspace

    click_ctx = click.get_current_context()
    root = click_ctx.find_root().ensure_object(dict)
    if "workspace" not in root:
        root["workspace"] = open_workspace(load_settings())
    return root["workspace"]


def context(project: str = "default", team: str | None = None) -> Context:
    """The acting user's context in a project (of a team, or the first of the user's teams that has it)."""
    from promptvault import accounts

    ws = workspace()
    email = click.get_current_context().find_root().obj.get("as_user")
    if email:
        return ws.context_for(email, project=project, team=team)
    admin = accounts.first_admin(ws.db)
    if admin is None:  # no accounts yet: the local placeholder user acts, as before the first admin exists
        return ws.local_context(project)
    return ws.context_for(admin, project=project, team=team)
