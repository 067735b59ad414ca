"""Compare: run prompt versions × models on a dataset in the background, watch it, and read the matrix."""

import streamlit as st

from promptvault import matrix, runs
from promptvault.authz import can
from ui import plain, session
from ui.components import (baseline_view, checks_editor, quality_chart, run_form, run_matrix, run_picker,
                           run_progress, run_scores)
from ui.errors import showing_errors

st.title("Compare")
session.show_flash()
ctx = session.context()
may_start = can(session.team(ctx).role, "run.start")

with showing_errors() as found:  # a link to a run of another team says only that there is no such run
    linked = run_picker.requested(ctx, st.query_params.get("run"))
if not found.ok:
    st.stop()

if may_start:
    with st.expander("New run", expanded=linked is None, icon=":material/add:"):
        started = run_form.show(ctx, key="compare.form")
        if started is not None:
            session.executor().submit(ctx, started.id)
            st.query_params["run"] = str(started.id)
            session.flash(f"Started run {started.id}: {started.total_cells:,} calls. It runs in the background.")
            st.rerun()
else:
    st.caption("You can open every run of this project; starting one needs the editor role.")

past = []
with showing_errors():
    past = runs.list_runs(ctx)
chosen = run_picker.show(past, linked, key="compare.run")
if chosen is None:
    st.info("No runs yet." + (" Open **New run** above: pick versions, models and a dataset." if may_start else ""),
            icon=":material/lightbulb:")
    st.stop()
st.query_params["run"] = str(chosen)

run = linked if linked is not None and linked.id == chosen else next(r for r in past if r.id == chosen)
if not run.finished:
    run_progress.show(ctx, run, session.executor(), may_cancel=may_start, key=f"compare.progress.{run.id}")
    st.stop()
st.caption(plain(f"Run {run.id} {run_picker.status(run)}"))
if run.error:
    st.error(plain(f"Run {run.id} {run.status}: {run.error}"), icon=":material/error:")
root = session.workspace().settings.data_dir
with showing_errors() as loaded:
    cells = matrix.load_matrix(ctx, root, run.id)
    scored, newest = run_scores.load(ctx, root, run.id, cells)
if not loaded.ok:
    st.stop()
if newest is not None and not newest.finished:
    run_progress.scoring(ctx, newest, session.executor())
if scored is not None:
    run_scores.show(ctx, scored, key="compare.scores")
    quality_chart.show(scored.columns, key=f"compare.chart.{run.id}")
if may_start and cells.cells:
    checks_editor.show(ctx, run, newest, key="compare.rescore")
with showing_errors():
    run_matrix.show(cells, run.id, key="compare.matrix", inputs=run_matrix.case_inputs(ctx, run), evaluation=scored)
if scored is not None:
    baseline_view.show(ctx, root, run, scored, past, key="compare.baseline")
