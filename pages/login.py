"""Log in: e-mail and password, or single sign-on when it is configured."""

import streamlit as st

from ui import auth, session
from ui.components import login_form

_, middle, _ = st.columns([1, 2, 1])
with middle:
    st.title("Log in to PromptVault")
    session.show_flash()
    actor = login_form.show(key="login")
    if actor is not None:
        auth.log_in(actor)
        st.rerun()
    if auth.sso_configured():
        st.divider()
        login_form.show_sso(auth.sso_error(), key="login.sso")
    st.caption("No account yet? Ask an admin of your team to add you.")
