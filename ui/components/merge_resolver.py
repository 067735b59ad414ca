"""Resolve a conflicted merge: edit the merged draft (conflict markers included) and commit it as the merge."""

from __future__ import annotations

import json

import streamlit as st

from promptvault import versioning
from promptvault.context import Context
from promptvault.content import parse_config_text
from promptvault.errors import ValidationError
from ui import plain, session
from ui.errors import showing_errors


def start(key: str, source: str, into: str) -> None:
    """Remember that the user is resolving a merge of `source` into `into`."""
    st.session_state[key] = (source, into)


def show(ctx: Context, name: str, key: str) -> None:
    """The resolution editor, when a conflicted merge is pending."""
    pending = st.session_state.get(key)
    if not pending:
        return
    source, into = pending
    with showing_errors() as loaded:
        plan = versioning.preview_merge(ctx, name, source, into)
    if not loaded.ok:
        st.session_state.pop(key, None)
        return
    with st.form(f"{key}.form"):
        st.markdown(f"**Resolve the merge of {plain(source)} (v{plan.theirs}) into {plain(into)} (v{plan.ours})**")
        st.caption("Edit the merged draft: keep what you want from each side and remove every conflict marker.")
        chat = isinstance(plan.content, list)
        draft = json.dumps(plan.content, indent=2, ensure_ascii=False) if chat else plan.content
        content_text = st.text_area("Chat messages (JSON)" if chat else "Merged text", draft, height=260, key=f"{key}.content")
        config_text = st.text_area("Config (JSON)", json.dumps(plan.config, indent=2, ensure_ascii=False), height=120, key=f"{key}.config")
        message = st.text_input("Message", key=f"{key}.message", placeholder=f"Merge branch '{source}' into '{into}'")
        commit, cancel = st.columns(2)
        submitted = commit.form_submit_button("Commit resolution", type="primary")
        cancelled = cancel.form_submit_button("Cancel")
    if cancelled:
        st.session_state.pop(key, None)
        st.rerun()
    if submitted:
        with showing_errors() as outcome:
            content = _parse_messages(content_text) if chat else content_text
            merged = versioning.merge(ctx, name, source, into, message, resolved_content=content,
                                      resolved_config=parse_config_text(config_text))
        if outcome.ok:
            st.session_state.pop(key, None)
            session.flash(f"Merged {source} into {into} as v{merged.number}.")
            st.rerun()


def _parse_messages(text: str) -> list:
    """Chat messages typed as JSON, with the position of a syntax error."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"messages are not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
