"""The variables a draft uses, inputs to fill them, and the draft rendered with them."""

from __future__ import annotations

from typing import Any

import streamlit as st

from promptvault import templates
from ui.components import variables_form
from ui.errors import showing_errors


def show(content: Any, key: str) -> dict[str, str] | None:
    """Variables and a live preview of `content`; returns the variable values (None if the template is broken)."""
    st.markdown("**Variables**")
    with showing_errors() as parsed:
        names = templates.extract_variables(content)
    if not parsed.ok:
        return None
    if not names:
        st.caption("No variables. Write `{{ name }}` in the prompt to add one.")
    values = variables_form.show(names, key=f"{key}.vars")
    st.markdown("**Preview**")
    with showing_errors() as rendered_ok:
        rendered = templates.render(content, values)
    if rendered_ok.ok:
        _show_rendered(rendered)
    return values


def _show_rendered(rendered: Any) -> None:
    """Rendered text, or one bubble per chat message; shown as plain text, never markdown."""
    if isinstance(rendered, str):
        st.code(rendered or " ", language=None, wrap_lines=True)
        return
    for message in rendered:
        with st.chat_message(message["role"], avatar={"system": ":material/settings:"}.get(message["role"])):
            st.code(message["content"] or " ", language=None, wrap_lines=True)
