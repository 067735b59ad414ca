"""The first-run form: the first admin's e-mail, name and password (typed twice)."""

from __future__ import annotations

import streamlit as st

from promptvault import accounts
from promptvault.context import Actor
from promptvault.errors import ValidationError
from ui.components import fresh_form
from ui.errors import showing_errors


def show(key: str) -> Actor | None:
    """Create the first admin account; returns it once created."""
    form = fresh_form.name(key)
    fresh_form.show_error(key)
    with st.form(form):
        email = st.text_input("E-mail", key=f"{form}.email", value=fresh_form.kept(key, "email"),
                              placeholder="you@example.com", autocomplete="username")
        display_name = st.text_input("Display name", key=f"{form}.name", value=fresh_form.kept(key, "name"))
        password = st.text_input("Password", key=f"{form}.password", type="password", autocomplete="new-password",
                                 help="At least 12 characters. A passphrase of a few words is easiest to remember.")
        again = st.text_input("Password again", key=f"{form}.again", type="password", autocomplete="new-password")
        submitted = st.form_submit_button("Create admin account", type="primary", key=f"{form}.submit", width="stretch")
    if not submitted:
        return None
    fresh_form.consume(key)
    from ui import session

    ws = session.workspace()
    with showing_errors() as outcome:
        if password != again:
            raise ValidationError("the two passwords differ; type the same password twice")
        actor = accounts.create_first_admin(ws.db, ws.keyring, email.strip(), password, display_name.strip())
    if outcome.ok:
        return actor
    fresh_form.retry(key, outcome.error, email=email.strip(), name=display_name.strip())
    return None
