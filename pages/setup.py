"""First start: create the first admin account (there is no default password), optionally with example data."""

import streamlit as st

from promptvault import demo
from ui import auth, session
from ui.components import setup_form
from ui.errors import showing_errors

_, middle, _ = st.columns([1, 2, 1])
with middle:
    st.title("Welcome to PromptVault")
    st.markdown(
        "This installation has no accounts yet. Create the **first admin**: this account manages teams, "
        "members, provider keys and the audit log. You can add more people afterwards on the **Team** page."
    )
    ws = session.workspace()
    examples = not demo.existing(ws.local_context()) and st.checkbox(
        "Add example prompts, a dataset and a run (offline, no key needed)", key="setup.demo",
        help="Three prompts with branches, a label and a merge, a dataset of support tickets and a finished "
             "comparison on the offline echo model, so every page has something to show.")
    actor = setup_form.show(key="setup")
    if actor is not None:
        auth.log_in(actor)
        outcome = None
        if examples:
            with st.spinner("Adding the examples..."), showing_errors() as outcome:
                demo.fill(ws.context_for(actor), ws.settings.data_dir)
        if outcome is None or outcome.ok:
            added = " Example prompts, a dataset and a run are in the Library." if examples else ""
            session.flash(f"Welcome, {actor.email}: your admin account is ready.{added}")
            st.rerun()
        st.button("Continue without the examples", key="setup.continue", type="primary")  # any click reruns into the app
