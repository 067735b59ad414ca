"""Datasets: named lists of test cases (variables, expected output, tags) to import, edit and export."""

import streamlit as st

from promptvault import datasets
from promptvault.authz import can
from ui import plain, session
from ui.components import dataset_cases, dataset_export, dataset_import, dataset_table
from ui.errors import showing_errors

st.title("Datasets")
session.show_flash()
ctx = session.context()
writable = can(session.team(ctx).role, "dataset.write")

found = []
with showing_errors():
    found = datasets.list_datasets(ctx)
names = [d.name for d in found]

if found:
    dataset_table.show(found, key="datasets.table")
elif writable:
    st.info("**No datasets yet.** A dataset is a list of test cases for a prompt: values for its `{{ variables }}`, "
            "and optionally the expected output. Open **Import test cases** below and upload a CSV or JSONL file, "
            "or paste rows copied from a spreadsheet (first row: variable names). From a terminal: "
            "`promptvault dataset import NAME FILE`.", icon=":material/lightbulb:")
else:
    st.info("**No datasets yet.** Editors of this team import them here; you will see them once they do.",
            icon=":material/lightbulb:")

if writable:
    with st.expander("Import test cases", expanded=not found, icon=":material/upload_file:"):
        imported = dataset_import.show(ctx, names, key="datasets.import")
        if imported:
            session.flash(dataset_import.summary(imported))
            st.session_state["datasets.open"] = imported.name
            st.rerun()

if not found:
    st.stop()
if st.session_state.get("datasets.open") not in names:
    st.session_state["datasets.open"] = names[0]
name = st.selectbox("Open a dataset", names, key="datasets.open")
info, cases = next(d for d in found if d.name == name), []
with showing_errors():
    cases = datasets.get_cases(ctx, name)
st.caption(plain(" · ".join(filter(None, [info.description, f"{info.cases:,} case{'s' if info.cases != 1 else ''}", f"created by {info.created_by}"]))))
dataset_table.show_cases(cases, key=f"datasets.cases.{name}")
dataset_export.show(ctx, name, key=f"datasets.export.{name}")
if not writable:
    st.caption("Viewers see datasets; editors and above change them.")
    st.stop()

revision = info.updated_at.isoformat()
done = None
if cases:
    with st.expander("Edit or delete a case", icon=":material/edit:"):
        done = dataset_cases.edit(ctx, name, cases, revision, key=f"datasets.edit.{name}")
with st.expander("Add a case", icon=":material/add:"):
    done = dataset_cases.add(ctx, name, dataset_table.variables_of(cases), key=f"datasets.add.{name}.{revision}") or done
if done:
    session.flash(done)
    st.rerun()
