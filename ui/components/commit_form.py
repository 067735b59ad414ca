"""Commit the editor's draft as a new version, refusing if the branch moved since the draft was loaded."""

from __future__ import annotations

from typing import Any

import streamlit as st

from promptvault import versioning
from promptvault.content import parse_config_text
from promptvault.context import Context
from promptvault.versioning import VersionInfo
from ui import plain
from ui.errors import showing_errors


def show(ctx: Context, name: str, branch: str, draft: tuple[Any, str], expected_head: int, key: str) -> VersionInfo | None:
    """A commit message and a Commit button; returns the new version once committed."""
    content, config_text = draft
    if st.session_state.pop(f"{key}.committed", False):
        st.session_state[f"{key}.message"] = ""  # set, not deleted, so the browser's field is emptied too
    with st.form(key, border=False):
        message = st.text_input("Commit message", key=f"{key}.message", placeholder="What changed, and why")
        submitted = st.form_submit_button(f"Commit to {plain(branch)}", type="primary", key=f"{key}.submit",
                                          icon=":material/commit:")
    if not submitted:
        return None
    with showing_errors() as outcome:
        config = parse_config_text(config_text)
        version = versioning.commit(ctx, name, content, config, message, branch=branch, expected_head=expected_head)
    if not outcome.ok:
        return None
    st.session_state[f"{key}.committed"] = True  # the next run starts with an empty message
    return version
