"""Who is logged in to this browser session: kept in st.session_state as the user id and e-mail, nothing else."""

from __future__ import annotations

import streamlit as st

from promptvault import accounts
from promptvault.context import Actor
from promptvault.errors import AuthenticationError

USER_KEY = "pv.user"  # {"id": int, "email": str}: never a password, hash or key
SSO_ERROR_KEY = "pv.sso_error"


def current() -> Actor | None:
    """The logged-in user, or None; a single sign-on identity is mapped to its local user on first sight."""
    user = st.session_state.get(USER_KEY)
    if user:
        return _still_active(user)
    if sso_configured() and st.user.get("is_logged_in") and not st.session_state.get(SSO_ERROR_KEY):
        return _from_sso(str(st.user.get("email") or ""), st.user.get("email_verified"))
    return None


def log_in(actor: Actor) -> None:
    """Start a fresh session for this user: nothing a previous user left in the session survives."""
    st.session_state.clear()
    st.session_state[USER_KEY] = {"id": actor.user_id, "email": actor.email}


def log_out() -> None:
    """Forget the user and everything of theirs in this session (and the SSO cookie, when there is one)."""
    st.session_state.clear()
    if sso_configured() and st.user.get("is_logged_in"):
        st.logout()  # reruns with the identity cookie gone


def sso_configured() -> bool:
    """True when single sign-on is set up: an `[auth]` section in Streamlit's secrets."""
    try:
        return "auth" in st.secrets
    except Exception:  # no or unreadable secrets file: no SSO (Streamlit logs why)
        return False


def sso_error() -> str | None:
    """Why the single sign-on identity was refused, if it was."""
    return st.session_state.get(SSO_ERROR_KEY)


def _still_active(user: dict) -> Actor | None:
    """The session's user if their account is still active (a removed or disabled account ends the session)."""
    from ui import session

    try:
        actor = accounts.actor_for_email(session.workspace().db, user["email"])
    except AuthenticationError:
        actor = None
    if actor is None or actor.user_id != user["id"]:
        st.session_state.clear()
        return None
    return actor


def _from_sso(email: str, verified: object) -> Actor | None:
    """The local user an SSO identity maps to; an identity with no local user, or whose identity provider says
    the e-mail is unverified, gets no access."""
    from ui import session

    workspace = session.workspace()
    try:
        actor = accounts.sso_sign_in(workspace.db, workspace.keyring, email, verified=verified is not False)
    except AuthenticationError as exc:
        st.session_state[SSO_ERROR_KEY] = str(exc)
        return None
    log_in(actor)
    return actor
