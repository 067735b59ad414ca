"""Audit: the team's append-only, HMAC-chained events; filter, export as CSV, verify the chain."""

import streamlit as st

from promptvault import audit, teams
from ui import plain, session
from ui.components import audit_view
from ui.errors import showing_errors

st.title("Audit")
session.show_flash()
ctx = session.context()
team = session.team(ctx)
st.caption(plain(f"Everything that happened to team {team.name}'s keys, roles and labels, newest first. Sign-ins "
                 "and account changes are installation-wide and not listed here."))

members = []
with showing_errors():
    members = [m.email for m in teams.list_members(ctx, team.id)]
chosen = audit_view.filters(members, key="audit.filters")

events = None
with showing_errors():
    events = audit.list_events(ctx, team.id, **chosen)
if events:
    st.caption(f"{len(events):,} event{'s' if len(events) != 1 else ''}" + (" (the newest 500)" if len(events) == 500 else ""))
    audit_view.table(events, key="audit.table")
elif events is not None:
    st.info("No events match these filters.", icon=":material/search_off:")

if events is not None:
    audit_view.actions(ctx, team.id, team.name, chosen, key="audit.actions")
