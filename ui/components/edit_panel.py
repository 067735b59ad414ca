"""The editor's Edit tab: the draft, its commit, and the live variables and preview beside it."""

from __future__ import annotations

import streamlit as st

from promptvault.context import Context
from promptvault.versioning import VersionInfo
from ui import plain, session
from ui.components import commit_form, content_editor, preview


def show(ctx: Context, name: str, branch: str, head: VersionInfo | None, key: str) -> None:
    """Draft editor (prefilled from the branch head) with commit on the left, variables and preview on the right."""
    draft_key = f"{key}.draft.{name}.{branch}"  # one draft per prompt and branch, kept for the session
    editor_col, preview_col = st.columns([3, 2], gap="large")
    with editor_col:
        draft = content_editor.show(head, key=draft_key)
        base = content_editor.base_number(draft_key)
        stale = head is not None and base != head.number
        if stale:
            st.warning(f"{plain(branch)} moved to v{head.number} since you loaded v{base}: committing this draft "
                       "will be refused. Reload to start again from the new head.", icon=":material/sync_problem:")
        if stale or content_editor.is_dirty(head, *draft):
            st.button(f"Discard draft and reload v{head.number}" if head else "Discard draft", key=f"{key}.reload",
                      on_click=content_editor.reset, args=(draft_key,), icon=":material/undo:")
        committed = commit_form.show(ctx, name, branch, draft, expected_head=base, key=f"{key}.commit")
        if committed:
            content_editor.mark_committed(draft_key, committed.number)
            session.flash(f"Committed v{committed.number} on {branch}.")
            st.rerun()
    with preview_col:
        preview.show(draft[0], key=f"{key}.preview.{name}")
