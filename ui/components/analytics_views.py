"""The analytics views, one tab each: plotly charts, and under them the same numbers as a table to download."""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from promptvault import analytics
from promptvault.analytics import Filters, Totals
from promptvault.context import Context
from ui.components import analytics_charts as charts
from ui.components import analytics_export
from ui.components.run_matrix import usd
from ui.errors import showing_errors

TABS = ("Cost over time", "Latency", "Tokens", "Errors", "Versions", "Top spenders", "Budgets")
EMPTY = "Nothing to show for these filters."
LATENCY_HELP = "Successful calls, estimated from the daily histograms (within about 12 %)"
NUMBERS = {"latency_histogram": "Distribution numbers", "latency": "Percentile numbers",
           "top_users": "Numbers per user", "top_prompts": "Numbers per prompt"}


def totals(t: Totals) -> None:
    """The headline numbers as metric cards (large counts shortened; the exact figure in the card's tooltip)."""
    rate = f"{t.errors / t.calls:.1%} of calls" if t.errors else None
    cards = [("Calls", compact(t.calls), f"{t.calls:,} calls", None),
             ("Errors", compact(t.errors), f"{t.errors:,} failed calls", rate),
             ("Cost", dollars(t.cost_usd), f"{usd(t.cost_usd)} in all", None),
             ("Tokens in", compact(t.input_tokens), f"{t.input_tokens:,} input tokens", None),
             ("Tokens out", compact(t.output_tokens), f"{t.output_tokens:,} output tokens", None),
             ("Latency p50", ms(t.p50_latency_ms), LATENCY_HELP, None),
             ("Latency p95", ms(t.p95_latency_ms), LATENCY_HELP, None)]
    with st.container(horizontal=True):  # cards wrap onto a second row on a narrow screen instead of cutting values
        for title, value, note, delta in cards:
            st.metric(title, value, delta, "off", help=note, border=True, delta_arrow="off")


def compact(n: int) -> str:
    """`950`, `9,500`, `95k`, `1.23M`: short enough for a card."""
    if abs(n) >= 1_000_000:
        return f"{n / 1_000_000:,.2f}".rstrip("0").rstrip(".") + "M"
    return f"{n / 1000:,.0f}k" if abs(n) >= 10_000 else f"{n:,}"


def dollars(amount: float) -> str:
    """`$0`, `< $0.0001`, `$0.00042`, `$0.994`, `$12.35`, `$1,234`: short enough for a card."""
    if not amount:
        return "$0"
    if amount < 0.0001:
        return "< $0.0001"
    if amount < 1:
        return f"${amount:.3g}"
    return f"${amount:,.2f}" if amount < 100 else f"${amount:,.0f}"


def ms(value: float | None) -> str:
    """`–` (no successful call), `< 1 ms`, `4.2 ms`, `310 ms`, `2.4 s`."""
    if value is None:
        return "–"
    if value >= 1000:
        return f"{value / 1000:,.1f} s"
    return f"{value:,.0f} ms" if value >= 10 else "< 1 ms" if value < 1 else f"{value:.1f} ms"


def show(ctx: Context, root: Path, filters: Filters, key: str) -> None:
    """Every view in its own tab."""

    def load(name: str) -> pl.DataFrame:
        """A view of the history under the filters."""
        return getattr(analytics, name)(ctx, root, filters)

    tabs = dict(zip(TABS, st.tabs(list(TABS))))
    with tabs["Cost over time"], showing_errors():
        frame = load("cost_over_time")
        if not frame.is_empty() and not frame["cost_usd"].sum():
            st.caption("Every call here cost nothing (the offline model is free), so the chart counts calls; "
                       "a priced model's spend shows in dollars.")
        view(frame, "cost_over_time", [charts.cost_over_time], key)
    with tabs["Latency"], showing_errors():
        st.caption("Successful calls only: a failed call has no meaningful latency.")
        view(load("latency_histogram"), "latency_histogram", [charts.latency_distribution], key)
        view(load("latency"), "latency", [charts.latency_percentiles], key)
    with tabs["Tokens"], showing_errors():
        view(load("tokens"), "tokens", [charts.tokens], key)
    with tabs["Errors"], showing_errors():
        view(load("errors"), "errors", [charts.error_rate, charts.error_kinds], key,
             empty="No errors under these filters.")
    with tabs["Versions"], showing_errors():
        st.caption("Pick a prompt in the filters to compare its versions, e.g. whether v7 got cheaper than v6.")
        view(load("versions"), "versions", [charts.version_cost, charts.version_latency], key)
    with tabs["Top spenders"], showing_errors():
        users, prompts = st.columns(2)
        with users:
            view(load("top_users"), "top_users", [lambda f: charts.top_spenders(f, "user", "Top users")], key)
        with prompts:
            view(load("top_prompts"), "top_prompts", [lambda f: charts.top_spenders(f, "prompt", "Top prompts")], key)
    with tabs["Budgets"], showing_errors():
        st.caption("This calendar month (UTC) across each team's projects; admins set a budget on the Team page.")
        view(load("budgets"), "budgets", [charts.budgets], key)


def view(frame: pl.DataFrame, name: str, figures: list, key: str, empty: str = EMPTY) -> None:
    """Charts of a frame side by side, then the frame itself (a click away) with its downloads."""
    if frame.is_empty():
        st.info(empty, icon=":material/info:")
        return
    for i, (column, figure) in enumerate(zip(st.columns(len(figures)), figures)):
        chart(column, figure(frame), f"{key}.{name}.chart{i}")
    with st.expander(NUMBERS.get(name, "Numbers"), icon=":material/table:"):
        st.dataframe(frame, hide_index=True, width="stretch", key=f"{key}.{name}.table")
        analytics_export.buttons(frame, name, f"{key}.{name}.export")


def chart(where, figure: go.Figure, key: str) -> None:
    """One plotly chart, drawn by the plotly.js Streamlit ships (nothing is fetched)."""
    where.plotly_chart(figure, key=key, config=charts.CONFIG, width="stretch")
