"""The "New prompt" form: name, description, tags, and an optional first version."""

from __future__ import annotations

import streamlit as st

from promptvault import library, templates, versioning
from promptvault.context import Context
from promptvault.library import PromptInfo
from ui.errors import showing_errors


def show(ctx: Context, key: str) -> PromptInfo | None:
    """Create a prompt (and commit v1 when a text is given); returns it once created."""
    generation = st.session_state.setdefault(f"{key}.generation", 0)  # a new form (empty fields) after each success
    form = f"{key}.{generation}"
    with st.form(form):
        name = st.text_input("Name", key=f"{form}.name", placeholder="support-reply", max_chars=100,
                             help="Letters, digits, '_', '.', '-'. Used by code: get_prompt(\"support-reply\").")
        description = st.text_input("Description", key=f"{form}.description")
        tags = st.text_input("Tags", key=f"{form}.tags", placeholder="support, email", help="Comma-separated.")
        text = st.text_area("First version (optional)", key=f"{form}.text", height=150,
                            placeholder="You are a helpful assistant for {{ product }}. …")
        message = st.text_input("Commit message", key=f"{form}.message", placeholder="First version")
        submitted = st.form_submit_button("Create prompt", type="primary", key=f"{form}.submit")
    if not submitted:
        return None
    with showing_errors() as outcome:
        if text.strip():
            templates.extract_variables(text)  # refuse a broken template before anything is created
        library.create_prompt(ctx, name.strip(), description.strip(), [t for t in tags.split(",") if t.strip()])
        if text.strip():
            versioning.commit(ctx, name.strip(), text, None, message.strip() or "First version", expected_head=0)
        created = library.get_prompt_info(ctx, name.strip())
    if not outcome.ok:
        return None
    st.session_state[f"{key}.generation"] = generation + 1
    return created
