"""The login form: e-mail and password; a failed login keeps the e-mail and clears the password."""

from __future__ import annotations

import streamlit as st

from promptvault import accounts
from promptvault.context import Actor
from ui import plain
from ui.components import fresh_form
from ui.errors import showing_errors


def show(key: str) -> Actor | None:
    """Ask for e-mail and password; the authenticated user once the password is right."""
    form = fresh_form.name(key)
    fresh_form.show_error(key)
    with st.form(form):
        email = st.text_input("E-mail", key=f"{form}.email", value=fresh_form.kept(key, "email"), autocomplete="username")
        password = st.text_input("Password", key=f"{form}.password", type="password", autocomplete="current-password")
        submitted = st.form_submit_button("Log in", type="primary", key=f"{form}.submit", width="stretch")
    if not submitted:
        return None
    fresh_form.consume(key)  # a new, empty password field, whatever happens next
    from ui import session

    ws = session.workspace()
    with showing_errors() as outcome:
        actor = accounts.authenticate(ws.db, ws.keyring, email.strip(), password)
    if outcome.ok:
        return actor
    fresh_form.retry(key, outcome.error, email=email.strip())
    return None


def show_sso(error: str | None, key: str) -> None:
    """The single sign-on button, and why an identity was refused when it was."""
    if error:
        st.error(plain(error), icon=":material/error:")
        if st.button("Sign out of single sign-on", key=f"{key}.logout"):
            st.session_state.clear()
            st.logout()
        return
    if st.button("Log in with single sign-on", key=f"{key}.login", icon=":material/key:", width="stretch"):
        st.login()
