"""One notebook cell as its own fragment: editing or running it reruns only the cell."""

from __future__ import annotations

from typing import Any

import streamlit as st

from promptvault import notebooks, playground, templates
from promptvault.content import normalize_content
from promptvault.context import Context
from promptvault.errors import ValidationError
from promptvault.notebooks import PlaygroundCell
from ui import plain
from ui.components import (playground_book, playground_commit, playground_draft, playground_run, playground_settings,
                           playground_source, playground_structure, variables_form)
from ui.errors import showing_errors

STALE = "stale — edited since this run"


@st.fragment
def show(ctx: Context, cell_id: str, editable: bool, key: str) -> None:
    """A cell: its inputs (or, read-only, its draft), Run, and its models' outputs side by side."""
    if not playground_book.held():  # a reload dropped the notebook: the page loads it again
        st.rerun(scope="app")
    playground_book.finish_interrupted()
    cells = playground_book.book().cells
    index = next((i for i, c in enumerate(cells) if c.id == cell_id), None)
    if index is None:
        return
    with st.container(border=True, key=f"{key}.box"):
        if editable:
            _editable(ctx, cells[index], index, key)
        else:
            _read_only(cells[index], index)


def _editable(ctx: Context, cell: PlaygroundCell, index: int, key: str) -> None:
    """The editing cell: header, draft, variables, settings, Run, outputs, commit and compare."""
    tools, origin = _header(cell, index, key)
    with st.popover("Load a prompt version", icon=":material/download:"):
        version = playground_source.show(ctx, "Load into this cell", key=f"{key}.source")
    if version is not None:
        cell = _load(ctx, cell, playground_source.cell_fields(version), key)
    built = _inputs(cell, index, key)
    saved = built is not None and (_fields(built) == _fields(cell) or playground_book.replace(ctx, built, key))
    cell = built if saved else cell
    with tools:
        playground_structure.tools(ctx, cell, key=f"{key}.tools")  # drawn last: a copy includes this run's edits
    runnable = saved and cell.content != ""
    run = st.button("Run", key=f"{key}.run", type="primary", icon=":material/play_arrow:", disabled=not runnable)
    _outputs(ctx, cell, run, key)
    with st.expander("Commit or compare", icon=":material/commit:"):
        committed = playground_commit.commit(ctx, cell, key=f"{key}.commit")
        if committed is not None and playground_book.replace(ctx, committed, key):
            cell = committed
        playground_commit.to_compare(ctx, cell, key=f"{key}.compare")
    origin.caption(plain(_origin(cell)))  # drawn last: a commit in this run moves it


def _header(cell: PlaygroundCell, index: int, key: str):
    """The title, and empty slots for the cell's tools (duplicate, move, delete) and where its draft started."""
    title_col, tools_col = st.columns([1, 1], vertical_alignment="bottom")
    st.session_state.setdefault(f"{key}.title", cell.title)
    title_col.text_input(f"Cell {index + 1} title", key=f"{key}.title", max_chars=100,
                         placeholder="What this cell tries")
    return tools_col.container(), st.empty()


def _origin(cell: PlaygroundCell) -> str:
    """Where a draft started: a prompt version, or scratch."""
    return f"from {cell.prompt} v{cell.base_version}" if cell.prompt and cell.base_version else "a new draft"


def _load(ctx: Context, cell: PlaygroundCell, fields: dict[str, Any], key: str) -> PlaygroundCell:
    """Start the cell's draft over from a version: its inputs are refilled (not its title) and the cell saved."""
    loaded = cell.model_copy(update={k: v for k, v in fields.items() if k != "title"})
    if not playground_book.replace(ctx, loaded, key):
        return cell
    playground_draft.seed(loaded.content, f"{key}.draft")
    playground_settings.seed(loaded, f"{key}.settings")
    return loaded


def _inputs(cell: PlaygroundCell, index: int, key: str) -> PlaygroundCell | None:
    """Draft, variables and settings as drawn; the cell they make (None, with the reason shown, if invalid)."""
    with showing_errors() as drafted:
        content = playground_draft.show(cell.content, key=f"{key}.draft")
        content = normalize_content(content) if content != "" else ""  # before its variables are looked for
    variables = _variables(cell, content, key) if drafted.ok else {}
    with showing_errors() as set_up:
        settings = playground_settings.show(cell, key=f"{key}.settings")
    if not (drafted.ok and set_up.ok and variables is not None):
        return None
    data = {**cell.model_dump(mode="json"), "title": st.session_state[f"{key}.title"], "content": content,
            "variables": variables, **settings}
    with showing_errors():
        return _build(data, index)
    return None


def _variables(cell: PlaygroundCell, content: Any, key: str) -> dict[str, str] | None:
    """One input per variable the draft uses (filled from the cell at first); None for a broken template."""
    with showing_errors() as parsed:
        names = templates.extract_variables(content) if content else []
    if not parsed.ok:
        return None
    for name in names:
        st.session_state.setdefault(f"{key}.vars.{name}", cell.variables.get(name, ""))
    if names:
        st.markdown("**Variables**")
    columns = st.columns(min(len(names), 3) or 1)
    values: dict[str, str] = {}
    for position, name in enumerate(names):
        with columns[position % len(columns)]:
            values |= variables_form.show([name], key=f"{key}.vars")
    return values


def _build(data: dict[str, Any], index: int) -> PlaygroundCell:
    """A cell from its fields; ValidationError naming this cell's position."""
    try:
        return notebooks.parse_cells([data])[0]
    except ValidationError as exc:
        raise ValidationError(str(exc).replace("cell 1:", f"cell {index + 1}:", 1)) from None


def _fields(cell: PlaygroundCell) -> dict[str, Any]:
    """What an edit can change (not where the outputs are)."""
    return cell.model_dump(mode="json", exclude={"last_run"})


def _outputs(ctx: Context, cell: PlaygroundCell, run: bool, key: str) -> None:
    """Run the cell now (streamed), or show its last outputs, marked stale when edited since."""
    if run:
        slots = playground_run.columns(cell)
        with showing_errors():
            future, events = playground_run.start(ctx, playground_book.book().id, cell)
            playground_book.running(cell, future)  # kept, should the user interrupt the page before it ends
            playground_book.ran(cell, playground_run.stream(future, events, slots))
        return
    _last_outputs(cell)


def _last_outputs(cell: PlaygroundCell) -> None:
    """The outputs of the cell's last run, side by side; a stale mark when the cell changed since."""
    outputs = playground_book.outputs(cell.id)
    if not outputs:
        st.caption("Not run yet." if cell.last_run is None else "No outputs found for its last run.")
        return
    if playground.is_stale(cell):
        st.warning(STALE, icon=":material/history:")
    for column, output in zip(st.columns(len(outputs)), outputs):
        with column:
            playground_run.heading(output.model)
            playground_run.show_output(output)


def _read_only(cell: PlaygroundCell, index: int) -> None:
    """A cell as others see it: title, draft, variables, models and outputs, with no controls."""
    st.markdown(f"**Cell {index + 1}{plain(': ' + cell.title) if cell.title else ''}**")
    if isinstance(cell.content, list):
        for message in cell.content:
            with st.chat_message(message["role"], avatar={"system": ":material/settings:"}.get(message["role"])):
                st.text(message["content"])
    else:
        st.code(cell.content or " ", language=None, wrap_lines=True)
    details = [f"{k} = {v}" for k, v in cell.variables.items()] + [f"models: {', '.join(m.label for m in cell.models)}"]
    st.caption(plain(" · ".join(details)))
    _last_outputs(cell)
