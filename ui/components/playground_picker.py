"""Pick the notebook to open (the actor's own, then the team's shared ones), following `?notebook=N`."""

from __future__ import annotations

import streamlit as st

from promptvault import notebooks
from promptvault.context import Context
from promptvault.errors import NotFoundError
from promptvault.notebooks import NotebookInfo
from ui.errors import showing_errors


def requested(ctx: Context, value: str | None) -> NotebookInfo | None:
    """The notebook a link names; NotFoundError ("no notebook N") for one the actor may not open."""
    if not value:
        return None
    if not value.isdigit():
        raise NotFoundError(f"no notebook {value}")
    return notebooks.get(ctx, int(value))


def show(ctx: Context, linked: NotebookInfo | None, key: str) -> NotebookInfo | None:
    """A selectbox of the notebooks the actor can open; the chosen one (None when there are none)."""
    visible = []
    with showing_errors():
        visible = notebooks.list_visible(ctx)
    if linked is not None and all(n.id != linked.id for n in visible):
        visible.append(linked)  # shared from another project of the team
    by_id = {n.id: n for n in visible}
    if not by_id:
        return None
    seen = f"{key}.linked"
    if linked is not None and st.session_state.get(seen) != linked.id:  # a new link: open what it names
        st.session_state[seen] = linked.id
        st.session_state[key] = linked.id
    if st.session_state.get(key) not in by_id:
        st.session_state[key] = next(iter(by_id))
    chosen = st.selectbox("Notebook", list(by_id), key=key, format_func=lambda i: label(by_id[i]))
    st.session_state[seen] = chosen
    return by_id[chosen]


def label(notebook: NotebookInfo) -> str:
    """How the picker names a notebook: its name, and whose it is when it is not the actor's."""
    shared = " · shared" if notebook.shared else ""
    return f"{notebook.name}{shared}" if notebook.editable else f"{notebook.name} (by {notebook.owner}, read-only)"
