"""The Team page's member forms: add a member (creating the account if needed), change a role, remove."""

from __future__ import annotations

import streamlit as st

from promptvault import accounts, teams
from promptvault.authz import Role, can
from promptvault.context import Context
from promptvault.teams import MemberInfo, TeamInfo
from ui import session
from ui.components import fresh_form
from ui.errors import showing_errors


def grantable(role: str) -> list[str]:
    """The roles a member with `role` may give: owners every role, admins all but owner."""
    roles = [str(r) for r in sorted(Role, reverse=True)]
    return roles if can(role, "team.manage") else [r for r in roles if r != str(Role.OWNER)]


def show_table(members: list[MemberInfo], key: str) -> None:
    """E-mail, name, role and whether the account is active."""
    rows = [{"E-mail": m.email, "Name": m.display_name, "Role": m.role, "Active": m.is_active} for m in members]
    st.dataframe(rows, key=key, hide_index=True, width="stretch")


def add(ctx: Context, team: TeamInfo, key: str) -> None:
    """Give someone a role in the team; with a first password, a new account is created for them first."""
    form = fresh_form.name(key)
    fresh_form.show_error(key)
    roles = grantable(team.role)
    with st.form(form):
        st.markdown("**Add a member**")
        left, right = st.columns([2, 1])
        email = left.text_input("E-mail", key=f"{form}.email", value=fresh_form.kept(key, "email"))
        role = right.selectbox("Role", roles, key=f"{form}.role", index=roles.index("editor"))
        new_account = st.checkbox("No account yet: create one", key=f"{form}.new", value=fresh_form.kept(key, "new", False),
                                  help="Give a first password (12+ characters) to share with them, or none for single sign-on only.")
        left, right = st.columns(2)
        name = left.text_input("Display name (new account)", key=f"{form}.name", value=fresh_form.kept(key, "name"))
        password = right.text_input("First password (new account)", key=f"{form}.password", type="password", autocomplete="new-password")
        submitted = st.form_submit_button("Add member", type="primary", key=f"{form}.submit", icon=":material/person_add:")
    if not submitted:
        return
    fresh_form.consume(key)
    with showing_errors() as outcome:
        if new_account:
            accounts.add_user(ctx, email, password=password or None, display_name=name)
        member = teams.add_member(ctx, team.id, email, role)
    if not outcome.ok:
        fresh_form.retry(key, outcome.error, email=email, name=name, new=new_account)  # reruns
    _done(f"{member.email} is now {member.role} of {team.name}.")


def change_role(ctx: Context, team: TeamInfo, members: list[MemberInfo], key: str) -> None:
    """Give a member another role (only owners grant or take away owner)."""
    roles = grantable(team.role)
    with st.form(key):
        st.markdown("**Change a role**")
        left, right = st.columns([2, 1])
        email = left.selectbox("Member", [m.email for m in members], key=f"{key}.member")
        role = right.selectbox("New role", roles, key=f"{key}.role", index=roles.index("editor"))
        submitted = st.form_submit_button("Change role", key=f"{key}.submit", icon=":material/swap_vert:")
    if submitted:
        with showing_errors() as outcome:
            member = teams.set_role(ctx, team.id, email, role)
        if outcome.ok:
            _done(f"{member.email} is now {member.role} of {team.name}.")


def remove(ctx: Context, team: TeamInfo, members: list[MemberInfo], key: str) -> None:
    """Take a member out of the team (their account stays)."""
    with st.form(key):
        st.markdown("**Remove a member**")
        email = st.selectbox("Member", [m.email for m in members], key=f"{key}.member")
        sure = st.checkbox("Yes, remove them from this team", key=f"{key}.sure")
        submitted = st.form_submit_button("Remove member", key=f"{key}.submit", icon=":material/person_remove:")
    if submitted and not sure:
        st.warning("Tick “Yes, remove them from this team” first.", icon=":material/warning:")
    elif submitted:
        with showing_errors() as outcome:
            teams.remove_member(ctx, team.id, email)
        if outcome.ok:
            _done(f"Removed {email} from {team.name}.")


def _done(message: str) -> None:
    """Keep the message and reload, so the table and the pickers show the change."""
    session.flash(message)
    st.rerun()
