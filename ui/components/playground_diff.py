"""Diff two things of the notebook, cells' drafts or models' outputs, in a dialog with the editor's diff view."""

from __future__ import annotations

from typing import Any

import streamlit as st

from promptvault.diffing import diff_versions
from ui.components import diff_view, playground_book
from ui.errors import showing_errors


def sources() -> dict[str, tuple[str, Any]]:
    """{id: (label, text or messages)} for every cell's draft and every output of its last run."""
    found: dict[str, tuple[str, Any]] = {}
    for number, cell in enumerate(playground_book.book().cells, start=1):
        name = f"Cell {number}" + (f" ({cell.title})" if cell.title else "")
        found[f"draft:{cell.id}"] = (f"{name}: draft", cell.content)
        for index, output in enumerate(playground_book.outputs(cell.id)):
            text = output.output if output.error is None else f"[{output.error_kind}] {output.error}"
            found[f"output:{cell.id}:{index}"] = (f"{name} × {output.model}", text or "")
    return found


def button(key: str) -> None:
    """A Diff button that opens the diff dialog on the notebook as it is now (cells run since included)."""
    if st.button("Diff drafts or outputs", key=key, icon=":material/difference:"):
        _dialog(key=f"{key}.dialog")


@st.dialog("Diff", width="large")
def _dialog(key: str) -> None:
    """Two pickers and the diff between what they name (the dialog reruns alone)."""
    found = sources()
    ids = list(found)
    left, right = st.columns(2)
    old = left.selectbox("Diff from", ids, key=f"{key}.old", format_func=lambda i: found[i][0])
    new = right.selectbox("to", ids, key=f"{key}.new", index=min(1, len(ids) - 1), format_func=lambda i: found[i][0])
    if old is None or new is None:
        return
    with showing_errors():
        diff_view.show(diff_versions({"content": found[old][1]}, {"content": found[new][1]}), key=f"{key}.view")
