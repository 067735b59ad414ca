"""The one place the UI builds long-lived things: the workspace (engine) once per process, the acting user's context."""

from __future__ import annotations

import streamlit as st

from promptvault import accounts, background, teams
from promptvault.config import load_settings
from promptvault.context import Actor, Context
from promptvault.teams import TeamInfo
from promptvault.workspace import Workspace, open_workspace
from ui import auth, plain
from ui.errors import showing_errors

_FLASH_KEY = "pv.flash"
SCOPE_KEY = "pv.scope"  # {"team": name, "project": name}, written by the sidebar's scope picker
DEFAULT_PROJECT = "default"
SWITCH_KEY = "pv.scope.switch"
NO_PROJECT = 0  # project ids start at 1: a service that needs a project finds none in a user-level context


def workspace() -> Workspace:
    """The installation named by the environment, opened once per process (shared by every session)."""
    settings = load_settings()
    return _open(str(settings.data_dir), settings.database_url, settings)


@st.cache_resource(show_spinner=False, on_release=lambda ws: ws.db.dispose())
def _open(data_dir: str, database_url: str, _settings) -> Workspace:
    """Open a workspace; keyed on where it lives so a changed environment opens a new one (never on secrets)."""
    return open_workspace(_settings)


def executor() -> background.BackgroundExecutor:
    """The process's run executor for the workspace (created, and interrupted runs resumed, on first use)."""
    return background.executor_for(workspace())


def needs_setup() -> bool:
    """True until the first admin account exists."""
    return accounts.needs_setup(workspace().db)


def scope() -> dict[str, str | None]:
    """The team and project chosen in the sidebar (team None: the user's first team with the project)."""
    chosen = st.session_state.get(SCOPE_KEY) or {}
    return {"team": chosen.get("team"), "project": chosen.get("project") or DEFAULT_PROJECT}


def set_scope(team: str | None, project: str | None) -> None:
    """Remember the team and project the pages act in."""
    st.session_state[SCOPE_KEY] = {"team": team, "project": project or DEFAULT_PROJECT}


def switch_to(team: str, project: str = DEFAULT_PROJECT) -> None:
    """Ask the sidebar to switch to a team and project on the next run (e.g. a team just created)."""
    st.session_state[SWITCH_KEY] = {"team": team, "project": project}


def pending_switch() -> dict[str, str] | None:
    """The switch asked for by `switch_to`, once."""
    return st.session_state.pop(SWITCH_KEY, None)


def context() -> Context:
    """The logged-in user's context in the chosen team and project; a page without a user stops at a login hint."""
    actor = auth.current()
    if actor is None:
        st.warning("You are not logged in. Open PromptVault's start page to log in.", icon=":material/lock:")
        st.stop()
    chosen = scope()
    with showing_errors() as outcome:
        ctx = workspace().context_for(actor, project=chosen["project"], team=chosen["team"])
    if not outcome.ok:
        st.stop()
    return ctx


def user_context(actor: Actor) -> Context:
    """A context for what concerns the user rather than a project (their teams, creating a team): no project."""
    ws = workspace()
    return Context(db=ws.db, actor=actor, project_id=NO_PROJECT, keyring=ws.keyring)


def team(ctx: Context) -> TeamInfo:
    """The team the context's project belongs to, with the user's current role in it."""
    named = scope()["team"]
    with showing_errors():
        for info in sorted(teams.list_teams(ctx), key=lambda t: t.name != named):  # the sidebar's team first
            if any(p.id == ctx.project_id for p in teams.list_projects(ctx, info.id)):
                return info
        st.error("Your access to this team has changed: pick a team in the sidebar.", icon=":material/error:")
    st.stop()


def flash(message: str) -> None:
    """Keep a success message to show after the next rerun."""
    st.session_state[_FLASH_KEY] = message


def show_flash() -> None:
    """Show (once) the message a previous run kept with `flash`, in a slot that is always there."""
    slot = st.empty()  # so the message coming and going never shifts the elements below it
    message = st.session_state.pop(_FLASH_KEY, None)
    if message:
        slot.success(plain(message), icon=":material/check_circle:")
