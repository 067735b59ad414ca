"""A notebook's shape: add cells (empty or from a version), duplicate, move and delete them."""

from __future__ import annotations

import streamlit as st

from promptvault.context import Context
from promptvault.notebooks import MAX_CELLS, PlaygroundCell, new_cell_id
from ui.components import playground_book, playground_source


def tools(ctx: Context, cell: PlaygroundCell, key: str) -> None:
    """Duplicate, move up, move down and delete buttons for a cell; any of them reruns the whole page."""
    cells = playground_book.book().cells
    index = next(i for i, c in enumerate(cells) if c.id == cell.id)
    bar = st.container(horizontal=True, horizontal_alignment="right")
    if bar.button("Duplicate", key=f"{key}.copy", icon=":material/content_copy:", disabled=len(cells) >= MAX_CELLS):
        copy = cell.model_copy(update={"id": new_cell_id(), "last_run": None})
        _apply(ctx, key, cells[:index + 1] + [copy] + cells[index + 1:])
    if bar.button("Up", key=f"{key}.up", icon=":material/arrow_upward:", disabled=index == 0):
        _apply(ctx, key, _swap([cell if c.id == cell.id else c for c in cells], index - 1))
    if bar.button("Down", key=f"{key}.down", icon=":material/arrow_downward:", disabled=index == len(cells) - 1):
        _apply(ctx, key, _swap([cell if c.id == cell.id else c for c in cells], index))
    if bar.button("Delete", key=f"{key}.delete", icon=":material/delete:"):
        _apply(ctx, key, [c for c in cells if c.id != cell.id])


def add(ctx: Context, key: str) -> None:
    """Add an empty cell, or one started from a prompt version, at the end."""
    cells = playground_book.book().cells
    bar = st.container(horizontal=True)
    if bar.button("Add cell", key=f"{key}.empty", icon=":material/add:", disabled=len(cells) >= MAX_CELLS):
        _apply(ctx, key, cells + [PlaygroundCell()])
    with bar.popover("Add a cell from a prompt version", icon=":material/library_add:"):
        version = playground_source.show(ctx, "Add cell", key=f"{key}.source")
    if version is not None:
        _apply(ctx, key, cells + [PlaygroundCell(**playground_source.cell_fields(version))])


def _swap(cells: list[PlaygroundCell], index: int) -> list[PlaygroundCell]:
    """The cells with positions `index` and `index + 1` exchanged."""
    cells = list(cells)
    cells[index], cells[index + 1] = cells[index + 1], cells[index]
    return cells


def _apply(ctx: Context, key: str, cells: list[PlaygroundCell]) -> None:
    """Save a new shape of the notebook and redraw the page."""
    if playground_book.save(ctx, cells, key):
        st.rerun(scope="app")
