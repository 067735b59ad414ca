"""Library: every prompt of the project, searchable by name, description, tags and content."""

import streamlit as st

from promptvault import library
from ui import session
from ui.components import new_prompt_form, prompt_table
from ui.errors import showing_errors

st.title("Library")
session.show_flash()
ctx = session.context()

with showing_errors():
    tags = library.list_tags(ctx)
search_col, tag_col, archived_col = st.columns([3, 1, 1], vertical_alignment="bottom")
search = search_col.text_input("Search", key="library.search", placeholder="Name, description, tag or text")
tag = tag_col.selectbox("Tag", ["All tags", *tags], key="library.tag")
archived = archived_col.toggle("Show archived", key="library.archived")

prompts = []
with showing_errors():
    prompts = library.list_prompts(ctx, search=search, tag=None if tag == "All tags" else tag, include_archived=archived)
filtered = bool(search.strip()) or tag != "All tags"

with st.expander("New prompt", expanded=not prompts and not filtered, icon=":material/add:"):
    created = new_prompt_form.show(ctx, key="library.new")
    if created:
        versions = f" with v{created.versions} on main" if created.versions else " (no versions yet)"
        session.flash(f"Created prompt {created.name}{versions}.")
        st.session_state["library.open"] = created.name
        st.rerun()

if prompts:
    st.caption(f"{len(prompts)} prompt{'s' if len(prompts) != 1 else ''}")
    prompt_table.show(prompts, key="library.table")
    names = [p.name for p in prompts]
    if st.session_state.get("library.open") not in names:
        st.session_state["library.open"] = names[0]
    pick_col, open_col = st.columns([3, 1], vertical_alignment="bottom")
    chosen = pick_col.selectbox("Open a prompt", names, key="library.open")
    if open_col.button("Open in editor", key="library.open_button", type="primary", icon=":material/edit:"):
        st.switch_page("pages/editor.py", query_params={"prompt": chosen})
elif filtered:
    st.info("No prompt matches this search. Clear the search box or pick **All tags**.", icon=":material/search_off:")
else:
    st.info(
        "**No prompts yet.** Open **New prompt** above: give it a name, and optionally a first text with "
        "`{{ variables }}` — it becomes v1 on the `main` branch. From a terminal: `promptvault prompt create NAME`.",
        icon=":material/lightbulb:",
    )
