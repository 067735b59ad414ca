"""The Team page's team and project forms: create a team, list and create projects."""

from __future__ import annotations

import streamlit as st

from promptvault import teams
from promptvault.context import Context
from promptvault.teams import TeamInfo
from ui import session, utc_text
from ui.errors import showing_errors


def create_team(ctx: Context, key: str) -> None:
    """Create a team; its creator becomes owner and it gets a `default` project. The sidebar switches to it."""
    with st.form(key, clear_on_submit=True):
        name = st.text_input("Team name", key=f"{key}.name", placeholder="e.g. Support bots")
        submitted = st.form_submit_button("Create team", key=f"{key}.submit", icon=":material/group_add:")
    if submitted:
        with showing_errors() as outcome:
            created = teams.create_team(ctx, name)
        if outcome.ok:
            session.switch_to(created.name)
            session.flash(f"Created team {created.name}; you are its owner. It starts with a project named default.")
            st.rerun()


def projects(ctx: Context, team: TeamInfo, may_create: bool, key: str) -> None:
    """The team's projects, and (for admins) a form to add one."""
    found = []
    with showing_errors():
        found = teams.list_projects(ctx, team.id)
    st.dataframe([{"Project": p.name, "Created (UTC)": utc_text(p.created_at)} for p in found], key=f"{key}.table",
                 hide_index=True, width="stretch")
    if not may_create:
        return
    with st.form(f"{key}.new", clear_on_submit=True):
        name = st.text_input("New project", key=f"{key}.new.name", placeholder="e.g. chatbot",
                             help="Letters, digits, '_', '.', '-'.")
        submitted = st.form_submit_button("Create project", key=f"{key}.new.submit", icon=":material/create_new_folder:")
    if submitted:
        with showing_errors() as outcome:
            created = teams.create_project(ctx, team.id, name.strip())
        if outcome.ok:
            session.flash(f"Created project {created.name}; pick it in the sidebar to work in it.")
            st.rerun()
