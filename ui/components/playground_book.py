"""The open notebook as this session holds it: its cells and the revision it was loaded at, saved back on edits."""

from __future__ import annotations

import dataclasses
from concurrent.futures import Future

import streamlit as st

from promptvault import notebooks, playground
from promptvault.context import Context
from promptvault.errors import ConflictError
from promptvault.notebooks import NotebookInfo, PlaygroundCell
from ui import session
from ui.errors import showing_errors

_BOOK = "pg.book"
_OUTPUTS = "pg.outputs"
_RUNNING = "pg.running"


def open_book(ctx: Context, notebook: NotebookInfo) -> NotebookInfo:
    """The held copy of the notebook (loaded, with its last outputs, when another one or none is held)."""
    held = st.session_state.get(_BOOK)
    if held is None or held.id != notebook.id or held.editable != notebook.editable:
        held = notebook
        st.session_state[_BOOK] = held
        st.session_state[_OUTPUTS] = {}
        with showing_errors():
            st.session_state[_OUTPUTS] = playground.last_outputs(ctx, session.workspace().settings.data_dir, held)
    return held


def book() -> NotebookInfo:
    """The notebook held now."""
    return st.session_state[_BOOK]


def held() -> bool:
    """Whether a notebook is held (not after a reload dropped it)."""
    return _BOOK in st.session_state


def forget() -> None:
    """Drop the held notebook and every cell's inputs, so the next run loads it afresh."""
    for name in [k for k in st.session_state if isinstance(k, str) and k.startswith(("pg.cell.", _BOOK))]:
        del st.session_state[name]


def outputs(cell_id: str) -> list[playground.CellOutput]:
    """A cell's outputs from its last run (none when it never ran)."""
    return st.session_state.get(_OUTPUTS, {}).get(cell_id, [])


def running(cell: PlaygroundCell, future: Future) -> None:
    """Remember a run in progress until `ran` takes its result."""
    st.session_state.setdefault(_RUNNING, {})[cell.id] = future


def finish_interrupted() -> None:
    """Take the results of runs whose page run was interrupted (e.g. by another click) and have ended since."""
    pending = st.session_state.get(_RUNNING, {})
    for cell in book().cells:
        future = pending.get(cell.id)
        if future is not None and future.done():
            del pending[cell.id]
            if future.exception() is None:
                ran(cell, future.result())


def ran(cell: PlaygroundCell, done: playground.CellRun) -> PlaygroundCell:
    """Keep a finished run's outputs and point the held cell at it (the store did so without a new revision)."""
    st.session_state.get(_RUNNING, {}).pop(cell.id, None)
    st.session_state[_OUTPUTS][cell.id] = done.outputs
    cell = cell.model_copy(update={"last_run": {"id": done.id, "fingerprint": done.fingerprint}})
    _hold([cell if c.id == cell.id else c for c in book().cells])
    return cell


def save(ctx: Context, cells: list[PlaygroundCell], key: str) -> bool:
    """Store the cells at the held revision; when someone saved in between, say so and offer a reload."""
    with showing_errors() as outcome:
        st.session_state[_BOOK] = notebooks.save(ctx, book().id, cells, book().revision)
    if isinstance(outcome.error, ConflictError):
        st.button("Reload the notebook", key=f"{key}.reload", icon=":material/refresh:", on_click=forget,
                  help="Drops the edits this page has not saved.")
    return outcome.ok


def replace(ctx: Context, cell: PlaygroundCell, key: str) -> bool:
    """Save the notebook with one cell changed."""
    return save(ctx, [cell if c.id == cell.id else c for c in book().cells], key)


def _hold(cells: list[PlaygroundCell]) -> None:
    """Replace the held cells without a new revision."""
    st.session_state[_BOOK] = dataclasses.replace(book(), cells=cells)
