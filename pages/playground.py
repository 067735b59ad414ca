"""Playground: try drafts on several models side by side in a notebook of cells, then commit or compare them."""

import streamlit as st

from promptvault.authz import can
from ui import plain, session
from ui.components import (playground_actions, playground_book, playground_cell, playground_diff, playground_picker,
                           playground_run, playground_structure)
from ui.errors import showing_errors

st.title("Playground")
session.show_flash()
ctx = session.context()
may_run = can(session.team(ctx).role, "run.start")
playground_run.warm_up()  # litellm is imported in the background while the user reads the page

with showing_errors() as found:  # a link to a notebook the user may not open says only that there is none
    linked = playground_picker.requested(ctx, st.query_params.get("notebook"))
if not found.ok:
    st.stop()

pick_col, new_col = st.columns([4, 1], vertical_alignment="bottom")
with pick_col:
    chosen = playground_picker.show(ctx, linked, key="pg.pick")
if may_run:
    with new_col:
        playground_actions.create(ctx, key="pg.new")
if chosen is None:
    st.info("No notebooks yet." + (" Create one with **New notebook**." if may_run else ""),
            icon=":material/lightbulb:")
    st.stop()
st.query_params["notebook"] = str(chosen.id)  # the URL opens this notebook: share it with the team

book = playground_book.open_book(ctx, chosen)
editable = book.editable and may_run
with st.container(horizontal=True, vertical_alignment="center"):
    playground_actions.manage(ctx, book, may_run, key="pg.manage")
if not editable:
    st.caption(plain(f"Read-only: {book.owner}'s notebook." + (" Save a copy to change it." if may_run else "")))

for cell in book.cells:
    playground_cell.show(ctx, cell.id, editable, key=f"pg.cell.{book.id}.{cell.id}")
if not book.cells:
    st.caption("No cells." + (" Add one below." if editable else ""))
if editable:
    playground_structure.add(ctx, key=f"pg.add.{book.id}")
if book.cells:
    playground_diff.button(key=f"pg.diff.{book.id}")
