"""Commit a cell's draft as a new version, or send its committed version to a Compare run on a dataset."""

from __future__ import annotations

import streamlit as st

from promptvault import datasets, playground, runner
from promptvault.context import Context
from promptvault.notebooks import PlaygroundCell
from promptvault.run_spec import parse_spec
from ui import plain, session
from ui.errors import showing_errors


def commit(ctx: Context, cell: PlaygroundCell, key: str) -> PlaygroundCell | None:
    """Prompt name, branch and message, and Commit; the cell pointing at its new version once committed."""
    name_col, branch_col = st.columns([2, 1])
    name = name_col.text_input("Prompt", cell.prompt or "", key=f"{key}.prompt", max_chars=100,
                               help="An existing prompt gets a new version; a new name creates the prompt.")
    branch = branch_col.text_input("Branch", "main", key=f"{key}.branch", max_chars=100)
    message = st.text_input("Commit message", key=f"{key}.message", max_chars=500)
    if not st.button("Commit draft", key=f"{key}.go", icon=":material/commit:", type="primary"):
        return None
    with showing_errors():
        version = playground.commit_cell(ctx, cell, name.strip(), branch.strip() or "main", message)
        st.success(plain(f"committed {version.prompt} v{version.number} on branch {branch.strip() or 'main'}"),
                   icon=":material/check_circle:")
        return cell.model_copy(update={"prompt": version.prompt, "base_version": version.number})
    return None


def to_compare(ctx: Context, cell: PlaygroundCell, key: str) -> None:
    """Pick a dataset and start a Compare run of the cell's committed version × its models, then open it."""
    names = []
    with showing_errors():
        names = [d.name for d in datasets.list_datasets(ctx)]
    if not names:
        st.caption("No datasets yet: import test cases on the Datasets page to compare on them.")
        return
    dataset = st.selectbox("Dataset", names, key=f"{key}.dataset")
    if not st.button("Send to Compare", key=f"{key}.go", icon=":material/compare:"):
        return
    with showing_errors():
        info = runner.start(ctx, parse_spec(playground.compare_spec(ctx, cell, dataset)))
        session.executor().submit(ctx, info.id)
        session.flash(f"Started run {info.id} of {cell.prompt} v{cell.base_version} on {dataset}.")
        st.switch_page("pages/compare.py", query_params={"run": str(info.id)})
