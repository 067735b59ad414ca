"""The analytics filter bar: what to count (dates, team, project, prompt, version, model, provider, user, run, status).

It owns its `{key}.*` session state. The lists it offers are a convenience (the user's teams and projects, the
project's prompts, the models, providers and users found in the history); model, provider, prompt and user also
take a typed name, which the core resolves and checks like any other.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import streamlit as st

from promptvault import analytics, library, teams
from promptvault.analytics import Filters
from promptvault.context import Context
from promptvault.errors import PromptVaultError
from ui import session

PERIODS = {"All time": None, "Last 7 days": 7, "Last 30 days": 30, "Last 90 days": 90, "Custom range": 0}
ALL_TEAMS, ALL_PROJECTS, ANY = "All my teams", "All projects", "Any"
STATUSES = {ANY: None, "Succeeded": "ok", "Failed": "error"}


def show(ctx: Context, root: Path, key: str) -> Filters:
    """Draw the filters; what they select."""
    with st.container(border=True):
        top, bottom = st.columns(5), st.columns(5)
        with top[0]:
            since, until = _period(key)
        team = _pick(top[1], "Team", _names(lambda: teams.list_teams(ctx)), f"{key}.team", ALL_TEAMS,
                     default=session.scope()["team"])
        projects = _names(lambda: teams.list_projects(ctx, team)) if team else []
        project = _pick(top[2], "Project", projects, f"{key}.project", ALL_PROJECTS)
        prompt = _pick(top[3], "Prompt", _prompts(ctx, team, project), f"{key}.prompt", ANY, free=True)
        version = top[4].number_input("Version", min_value=1, value=None, step=1, placeholder=ANY,
                                      disabled=prompt is None, key=f"{key}.version", help="A version of the prompt")
        scope = Filters(since=since, until=until, team=team, project=project)
        model = _pick(bottom[0], "Model", _found(ctx, root, scope, "tokens", "model"), f"{key}.model", ANY, free=True)
        provider = _pick(bottom[1], "Provider", _found(ctx, root, scope, "errors", "provider"), f"{key}.provider",
                         ANY, free=True)
        user = _pick(bottom[2], "User", _found(ctx, root, scope, "top_users", "user"), f"{key}.user", ANY, free=True)
        run = bottom[3].number_input("Run", min_value=1, value=None, step=1, placeholder=ANY, key=f"{key}.run")
        status = STATUSES[bottom[4].selectbox("Status", list(STATUSES), key=f"{key}.status")]
    return Filters(since=since, until=until, team=team, project=project, prompt=prompt,
                   version=int(version) if version and prompt else None, model=model, provider=provider, user=user,
                   run_id=int(run) if run else None, status=status)


def _period(key: str) -> tuple[date | None, date | None]:
    """The first and last day counted (UTC); None for no bound."""
    today = datetime.now(timezone.utc).date()
    days = PERIODS[st.selectbox("Period", list(PERIODS), key=f"{key}.period")]
    if days:
        return today - timedelta(days=days - 1), None
    if days is None:
        return None, None
    picked = st.date_input("From – to (UTC)", value=(today - timedelta(days=29), today), max_value=today,
                           key=f"{key}.dates")
    picked = tuple(picked) if isinstance(picked, (tuple, list)) else (picked,)
    return (picked[0] if picked else None), (picked[1] if len(picked) > 1 else None)


def _pick(where, title: str, options: list[str], key: str, anything: str, free: bool = False,
          default: str | None = None) -> str | None:
    """A selectbox whose first choice means "no filter"; with `free`, a typed name is kept as a choice."""
    choices = [anything, *sorted(set(options), key=str.lower)]
    if key not in st.session_state:
        st.session_state[key] = default if default in choices else anything
    current = st.session_state[key]
    if current is not None and current not in choices:
        if free:
            choices.append(current)
        else:  # e.g. a project of the team chosen before
            st.session_state[key] = anything
    value = where.selectbox(title, choices, key=key, accept_new_options=free)
    return None if value in (None, "", anything) else value


def _names(listing) -> list[str]:
    """The names of what a listing returns ([] when the core refuses it)."""
    try:
        return [item.name for item in listing()]
    except PromptVaultError:
        return []


def _prompts(ctx: Context, team: str | None, project: str | None) -> list[str]:
    """The prompts of the chosen project (of the page's project when none is chosen)."""
    try:
        where = session.workspace().context_for(ctx.actor, project=project, team=team) if project else ctx
        return [p.name for p in library.list_prompts(where, include_archived=True)]
    except PromptVaultError:
        return []


def _found(ctx: Context, root: Path, scope: Filters, view: str, column: str) -> list[str]:
    """The distinct values of a column of a view under the date, team and project filters."""
    try:
        frame = getattr(analytics, view)(ctx, root, scope)
    except PromptVaultError:
        return []
    return [str(v) for v in frame[column].unique().to_list() if v is not None]
