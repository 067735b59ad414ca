"""The sidebar of a logged-in user: who they are, the team and project they work in, and Log out."""

from __future__ import annotations

import streamlit as st

from promptvault import teams
from promptvault.context import Actor
from promptvault.teams import TeamInfo
from ui import auth, plain, session
from ui.errors import showing_errors


def show(actor: Actor, key: str) -> TeamInfo | None:
    """Draw the sidebar; the chosen team (with the user's role in it), or None for a user in no team."""
    with st.sidebar:
        team = _scope(actor, key)
        role = f" · {team.role} of {team.name}" if team else " · in no team yet"
        st.caption(":material/person: " + plain(actor.email + role))
        if st.button("Log out", key=f"{key}.logout", icon=":material/logout:", width="stretch"):
            auth.log_out()
            st.rerun()
    return team


def _scope(actor: Actor, key: str) -> TeamInfo | None:
    """Team and project pickers; what they show is written to the session scope the pages act in."""
    base = session.user_context(actor)
    mine: list[TeamInfo] = []
    with showing_errors():
        mine = teams.list_teams(base)
    if not mine:
        session.set_scope(None, None)
        return None
    by_name = {t.name: t for t in mine}
    chosen = session.scope()
    switch = session.pending_switch()
    if switch and switch["team"] in by_name:
        st.session_state[f"{key}.team"] = switch["team"]
        st.session_state[f"{key}.project.{by_name[switch['team']].id}"] = switch["project"]
    if st.session_state.get(f"{key}.team") not in by_name:
        st.session_state[f"{key}.team"] = chosen["team"] if chosen["team"] in by_name else mine[0].name
    team = by_name[st.selectbox("Team", list(by_name), key=f"{key}.team")]
    projects: list[str] = []
    with showing_errors():
        projects = [p.name for p in teams.list_projects(base, team.id)]
    if not projects:
        session.set_scope(team.name, None)
        return team
    project_key = f"{key}.project.{team.id}"
    if st.session_state.get(project_key) not in projects:
        fallback = session.DEFAULT_PROJECT if session.DEFAULT_PROJECT in projects else projects[0]
        st.session_state[project_key] = chosen["project"] if chosen["project"] in projects else fallback
    project = st.selectbox("Project", projects, key=project_key)
    session.set_scope(team.name, project)
    return team
