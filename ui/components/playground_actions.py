"""Notebook actions: create one, and rename, share, copy or delete the open one."""

from __future__ import annotations

import streamlit as st

from promptvault import notebooks
from promptvault.context import Context
from promptvault.notebooks import NotebookInfo
from ui import session
from ui.components import playground_book
from ui.errors import showing_errors


def create(ctx: Context, key: str) -> None:
    """A name and a Create button; opens the new notebook."""
    with st.popover("New notebook", icon=":material/add:"):
        name = st.text_input("Notebook name", key=f"{key}.name", max_chars=100)
        if st.button("Create notebook", key=f"{key}.create", type="primary"):
            with showing_errors():
                _open(notebooks.create(ctx, name), f"Created notebook {name.strip()}.")


def manage(ctx: Context, notebook: NotebookInfo, may_run: bool, key: str) -> None:
    """Rename, share and delete for the owner; save a copy for any editor."""
    if notebook.editable:
        with st.popover("Rename", icon=":material/edit:"):
            name = st.text_input("New name", notebook.name, key=f"{key}.rename.{notebook.id}", max_chars=100)
            if st.button("Rename", key=f"{key}.rename.go"):
                with showing_errors():
                    _open(notebooks.rename(ctx, notebook.id, name), f"Renamed the notebook to {name.strip()}.")
        shared = st.toggle("Shared with the team", notebook.shared, key=f"{key}.share.{notebook.id}",
                           help="Every member of the team can open it read-only from its link.")
        if shared != notebook.shared:
            with showing_errors():
                message = "Shared with the team." if shared else "No longer shared with the team."
                _open(notebooks.share(ctx, notebook.id, shared), message)
    if may_run:
        with st.popover("Save a copy", icon=":material/content_copy:"):
            name = st.text_input("Name of the copy", f"{notebook.name} (copy)", key=f"{key}.copy.{notebook.id}")
            if st.button("Save copy", key=f"{key}.copy.go"):
                with showing_errors():
                    _open(notebooks.copy(ctx, notebook.id, name), f"Saved a copy: {name.strip()}.")
    if notebook.editable:
        with st.popover("Delete", icon=":material/delete:"):
            st.caption("Deletes the notebook; its calls stay in the history and analytics.")
            if st.button("Delete notebook", key=f"{key}.delete", type="primary"):
                with showing_errors():
                    notebooks.delete(ctx, notebook.id)
                    playground_book.forget()
                    st.query_params.pop("notebook", None)
                    session.flash(f"Deleted notebook {notebook.name}.")
                    st.rerun()


def _open(notebook: NotebookInfo, message: str) -> None:
    """Open a notebook just written (its link in the URL) and say what happened."""
    playground_book.forget()
    st.query_params["notebook"] = str(notebook.id)
    session.flash(message)
    st.rerun()
