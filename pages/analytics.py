"""Analytics: cost, latency, tokens, errors and budgets over the run history, charted, tabled and exported."""

import streamlit as st

from promptvault import analytics
from ui import session
from ui.components import analytics_export, analytics_filters, analytics_views
from ui.errors import showing_errors

st.title("Analytics")
ctx = session.context()
root = session.workspace().settings.data_dir

with showing_errors() as found:
    anything = analytics.totals(ctx, root, analytics.Filters()).calls > 0  # in any team of the user
if not found.ok:
    st.stop()
if not anything:
    st.info("**No history yet.** Every call a run makes is counted here: its cost, latency, tokens and errors. "
            "Run a comparison on the **Compare** page, or fill an empty project with examples from a terminal: "
            "`promptvault demo`.", icon=":material/lightbulb:")
    st.stop()

filters = analytics_filters.show(ctx, root, key="analytics.filters")
with showing_errors() as found:
    totals = analytics.totals(ctx, root, filters)
if not found.ok:
    st.stop()
if not totals.calls:
    st.info("No calls match these filters. Widen the period or set a filter back to its first choice.",
            icon=":material/filter_alt_off:")
    st.stop()

analytics_views.totals(totals)
analytics_views.show(ctx, root, filters, key="analytics.views")
with st.expander("Export the raw rows", icon=":material/download:"):
    analytics_export.raw(ctx, root, filters, key="analytics.raw")
