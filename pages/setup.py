"""First start: create the first admin account (there is no default password)."""

import streamlit as st

from ui import auth, session
from ui.components import setup_form

_, middle, _ = st.columns([1, 2, 1])
with middle:
    st.title("Welcome to PromptVault")
    st.markdown(
        "This installation has no accounts yet. Create the **first admin**: this account manages teams, "
        "members, provider keys and the audit log. You can add more people afterwards on the **Team** page."
    )
    actor = setup_form.show(key="setup")
    if actor is not None:
        auth.log_in(actor)
        session.flash(f"Welcome, {actor.email}: your admin account is ready.")
        st.rerun()
