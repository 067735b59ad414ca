"""Editor: edit a prompt on a branch and commit; its history, diffs between any two versions, branches and labels."""

import streamlit as st

from promptvault import library, refs, versioning
from ui import plain, session
from ui.components import diff_panel, edit_panel, history_view, prompt_picker, prompt_table, refs_panel, version_picker
from ui.errors import showing_errors

st.title("Editor")
session.show_flash()
ctx = session.context()

prompt_col, branch_col = st.columns([3, 1])
with prompt_col:
    name = prompt_picker.show(ctx, key="editor.prompt", default=st.query_params.get("prompt"))
if name is None:
    st.info("No prompts yet: create one in the library first.", icon=":material/lightbulb:")
    st.page_link("pages/library.py", label="Go to the library", icon=":material/arrow_back:")
    st.stop()
st.query_params["prompt"] = name

with showing_errors() as loaded:
    info = library.get_prompt_info(ctx, name)
    prompt_refs = refs.list_refs(ctx, name)
if not loaded.ok:
    st.stop()
branches = sorted((r.name for r in prompt_refs if r.kind == "branch"), key=lambda b: (b != "main", b)) or ["main"]
branch = branch_col.selectbox("Branch", branches, key=f"editor.branch.{name}")
head = None
with showing_errors():
    head = versioning.show(ctx, name, branch) if info.versions else None
st.caption(plain(" · ".join(filter(None, [info.description, prompt_table.refs_text(info.refs) or "no versions yet"]))))
options = version_picker.choices(prompt_refs, info.versions)

# Keyed and bound to ?tab=, the open tab survives reruns and can be linked to; only the open tab's code runs.
tabs = st.tabs(["Edit", "History", "Diff", "Branches & labels"], key="tab", bind="query-params")
panels = [
    lambda: edit_panel.show(ctx, name, branch, head, key="editor"),
    lambda: history_view.show(ctx, name, branch, options, key="editor.history"),
    lambda: diff_panel.show(ctx, name, branch, head, options, key="editor.diff"),
    lambda: refs_panel.show(ctx, name, prompt_refs, options, key="editor.refs"),
]
for index, (tab, panel) in enumerate(zip(tabs, panels)):
    if tab.open:
        with tab:
            if index == 0 or info.versions:
                panel()
            else:
                st.info("No versions yet: write the first one in **Edit** and commit it.", icon=":material/lightbulb:")
