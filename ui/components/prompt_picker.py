"""Pick a prompt of the project by name; follows a default (e.g. the `prompt` query parameter) when it changes."""

from __future__ import annotations

import streamlit as st

from promptvault import library
from promptvault.context import Context


def show(ctx: Context, key: str, default: str | None = None) -> str | None:
    """A selectbox of every prompt (archived ones marked); None when the project has none."""
    prompts = library.list_prompts(ctx, include_archived=True)
    names = sorted((p.name for p in prompts), key=str.lower)
    if not names:
        return None
    archived = {p.name for p in prompts if p.archived}
    current, seen = st.session_state.get(key), f"{key}.default"
    if st.session_state.get(seen) != default:  # the default moved (e.g. opened from the library): follow it
        st.session_state[seen] = default
        current = default if default in names else current
    st.session_state[key] = current if current in names else default if default in names else names[0]
    return st.selectbox("Prompt", names, key=key, format_func=lambda n: f"{n} (archived)" if n in archived else n)
