"""Team: members and their roles, projects, and new teams."""

import streamlit as st

from promptvault import teams
from promptvault.authz import can
from ui import auth, plain, session
from ui.components import member_forms, team_forms
from ui.errors import showing_errors

st.title("Team")
session.show_flash()
actor = auth.current()
if actor is None:
    st.warning("You are not logged in. Open PromptVault's start page to log in.", icon=":material/lock:")
    st.stop()
mine = None
with showing_errors():
    mine = teams.list_teams(session.user_context(actor))
if mine is None:
    st.stop()
if not mine:
    st.info("You are not a member of any team yet. Ask a team admin to add you, or create your own team below.",
            icon=":material/group_off:")
    team_forms.create_team(session.user_context(actor), key="team.create")
    st.stop()

ctx = session.context()
team = session.team(ctx)
st.caption(plain(f"You are {team.role} of {team.name}."))
members = []
with showing_errors():
    members = teams.list_members(ctx, team.id)

members_tab, projects_tab, new_team_tab = st.tabs(["Members", "Projects", "New team"])
with members_tab:
    member_forms.show_table(members, key="team.members")
    if can(team.role, "member.manage"):
        st.caption("Admins add and remove members and change roles; only owners grant or take away the owner role.")
        member_forms.add(ctx, team, key="team.add")
        left, right = st.columns(2)
        others = [m for m in members if m.email != ctx.actor.email]
        if others:
            with left:
                member_forms.change_role(ctx, team, others, key="team.role")
            with right:
                member_forms.remove(ctx, team, others, key="team.remove")
    else:
        st.caption("Only admins and owners of the team change its members.")
with projects_tab:
    team_forms.projects(ctx, team, can(team.role, "project.manage"), key="team.projects")
with new_team_tab:
    st.caption("Any user may create a team: you become its owner and manage its members, keys and projects.")
    team_forms.create_team(ctx, key="team.create")
