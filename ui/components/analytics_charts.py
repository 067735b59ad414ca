"""Plotly figures of the analytics frames: plain functions of a frame, so a test can read a chart without a browser.

Model, prompt and user names are user-written, and plotly reads `<b>`, `<a href>` and `<br>` in labels as markup:
every name is escaped on its way into a figure (plotly turns the entities back into the typed characters).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from html import escape

import plotly.graph_objects as go
import polars as pl

HEIGHT = 380
DAY_MS = 86_400_000
LIGHT, MID, DARK = "#83c9ff", "#0068c9", "#1c3a5e"  # one hue for p50 → p99, light to dark
CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": ["sendDataToCloud"]}  # nothing in a chart leaves the page


def label(value: object) -> str:
    """A name as plotly shows it literally; `(none)` for a missing one."""
    return "(none)" if value is None else escape(str(value), quote=False)


def labels(series: pl.Series) -> list[str]:
    """Every name of a column, escaped."""
    return [label(v) for v in series.to_list()]


def _layout(fig: go.Figure, title: str, y_title: str, x_title: str | None = None, horizontal: bool = False,
            **extra) -> go.Figure:
    """The layout every analytics chart shares; the value axis starts at 0 (an all-zero chart is not drawn -1..1)."""
    extra.setdefault("height", HEIGHT)
    fig.update_layout(title=title, margin={"l": 10, "r": 10, "t": 50, "b": 10}, yaxis_title=y_title,
                      xaxis_title=x_title, legend_title_text="", hovermode="closest", **extra)
    (fig.update_xaxes if horizontal else fig.update_yaxes)(rangemode="tozero")
    return fig


def cost_over_time(frame: pl.DataFrame) -> go.Figure:
    """Stacked bars: each day's cost, one colour per model (calls instead when every call was free)."""
    free = not frame["cost_usd"].sum()
    hover = "%{y:,} calls, free" if free else "$%{y:,.6f} · %{customdata:,} calls"
    fig = go.Figure()
    for part in frame.sort("day").partition_by("model", maintain_order=True):
        fig.add_bar(x=part["day"].to_list(), y=part["calls" if free else "cost_usd"].to_list(),
                    name=label(part["model"][0]), customdata=part["calls"].to_list(), width=DAY_MS * 0.7,
                    hovertemplate="%{x|%Y-%m-%d}: " + hover + "<extra>%{fullData.name}</extra>")
    fig.update_xaxes(type="date", tickformat="%b %d")
    days = frame["day"].unique().sort().to_list()
    if days and (days[-1] - days[0]).days < 14:  # else plotly ticks every few hours and one day fills the chart
        first, last = min(days[0], days[-1] - timedelta(days=6)), days[-1]
        half = timedelta(hours=12)
        fig.update_xaxes(dtick=DAY_MS, range=[datetime.combine(first, time()) - half,
                                              datetime.combine(last, time()) + half])
    title, axis = ("Calls per day, by model (all free)", "Calls") if free else ("Cost per day, by model", "Cost (USD)")
    return _layout(fig, title, axis, barmode="stack", showlegend=True)


def latency_distribution(histogram: pl.DataFrame) -> go.Figure:
    """Grouped bars: how many successful calls fell in each latency bucket, per model (buckets grow by a ratio, so
    each is a category named by where it starts rather than a stretch of a linear axis)."""
    starts = sorted(set(histogram["bucket_ms"].to_list()))
    fig = go.Figure()
    for part in histogram.sort("bucket_ms").partition_by("model", maintain_order=True):
        fig.add_bar(x=[bucket_name(b) for b in part["bucket_ms"].to_list()], y=part["calls"].to_list(),
                    name=label(part["model"][0]), hovertemplate="%{x}: %{y:,} calls<extra>%{fullData.name}</extra>")
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=[bucket_name(b) for b in starts])
    return _layout(fig, "Latency distribution", "Calls", "Latency bucket", barmode="group", showlegend=True)


def bucket_name(start_ms: float) -> str:
    """`< 1 ms` for the first bucket, else where the bucket starts: `≥ 244 ms`, `≥ 1.53 s`."""
    if start_ms < 1:
        return "< 1 ms"
    return f"≥ {start_ms:,.3g} ms" if start_ms < 1000 else f"≥ {start_ms / 1000:,.3g} s"


def latency_percentiles(frame: pl.DataFrame) -> go.Figure:
    """Grouped bars: p50, p95 and p99 latency of each model."""
    fig = go.Figure()
    for column, name, colour in (("p50_ms", "p50", LIGHT), ("p95_ms", "p95", MID), ("p99_ms", "p99", DARK)):
        fig.add_bar(x=labels(frame["model"]), y=frame[column].to_list(), name=name, marker_color=colour,
                    hovertemplate="%{x}: %{y:,.0f} ms<extra>%{fullData.name}</extra>")
    return _layout(fig, "Latency percentiles", "Latency (ms)", barmode="group")


def tokens(frame: pl.DataFrame) -> go.Figure:
    """Grouped bars: input and output tokens of each model."""
    fig = go.Figure()
    for column, name in (("input_tokens", "Input"), ("output_tokens", "Output")):
        fig.add_bar(x=labels(frame["model"]), y=frame[column].to_list(), name=name,
                    hovertemplate="%{x}: %{y:,} tokens<extra>%{fullData.name}</extra>")
    return _layout(fig, "Tokens in and out", "Tokens", barmode="group")


def error_rate(frame: pl.DataFrame) -> go.Figure:
    """Bars: the share of failed calls of each provider."""
    rates = frame.group_by("provider", maintain_order=True).agg(pl.col("error_rate").max(), pl.col("calls").max())
    fig = go.Figure(go.Bar(x=labels(rates["provider"]), y=rates["error_rate"].to_list(),
                           customdata=rates["calls"].to_list(),
                           hovertemplate="%{x}: %{y:.1%} of %{customdata:,} calls<extra></extra>"))
    fig.update_yaxes(tickformat=".0%", rangemode="tozero")
    return _layout(fig, "Error rate per provider", "Failed calls")


def error_kinds(frame: pl.DataFrame) -> go.Figure:
    """Stacked bars: failed calls of each provider, one colour per kind of error."""
    fig = go.Figure()
    for part in frame.partition_by("error_kind", maintain_order=True):
        fig.add_bar(x=labels(part["provider"]), y=part["errors"].to_list(), name=label(part["error_kind"][0]),
                    hovertemplate="%{x}: %{y:,} errors<extra>%{fullData.name}</extra>")
    return _layout(fig, "Errors by kind", "Errors", barmode="stack", showlegend=True)


def _version_names(frame: pl.DataFrame) -> list[str]:
    """`greet v7` for each row."""
    return [f"{label(p)} v{v}" for p, v in zip(frame["prompt"].to_list(), frame["version"].to_list())]


def version_cost(frame: pl.DataFrame) -> go.Figure:
    """Bars: the mean cost of one call of each prompt version (did v7 get cheaper?)."""
    frame = frame.sort("prompt", "version")
    fig = go.Figure(go.Bar(x=_version_names(frame), y=frame["mean_cost_usd"].to_list(),
                           customdata=frame["calls"].to_list(),
                           hovertemplate="%{x}: $%{y:,.6f} per call · %{customdata:,} calls<extra></extra>"))
    return _layout(fig, "Mean cost per call, by version", "Cost per call (USD)")


def version_latency(frame: pl.DataFrame) -> go.Figure:
    """Grouped bars: p50 and p95 latency of each prompt version."""
    frame = frame.sort("prompt", "version")
    fig = go.Figure()
    for column, name, colour in (("p50_ms", "p50", LIGHT), ("p95_ms", "p95", MID)):
        fig.add_bar(x=_version_names(frame), y=frame[column].to_list(), name=name, marker_color=colour,
                    hovertemplate="%{x}: %{y:,.0f} ms<extra>%{fullData.name}</extra>")
    return _layout(fig, "Latency by version", "Latency (ms)", barmode="group")


def top_spenders(frame: pl.DataFrame, who: str, title: str) -> go.Figure:
    """Horizontal bars: the biggest spenders on top."""
    frame = frame.sort("cost_usd")
    fig = go.Figure(go.Bar(x=frame["cost_usd"].to_list(), y=labels(frame[who]), orientation="h",
                           customdata=frame["calls"].to_list(),
                           hovertemplate="%{y}: $%{x:,.6f} · %{customdata:,} calls<extra></extra>"))
    fig.update_yaxes(type="category")
    return _layout(fig, title, "", "Cost (USD)", horizontal=True, height=_rows_height(frame.height))


def budgets(frame: pl.DataFrame) -> go.Figure:
    """Bullet bars: each team's budget as a wide grey bar, what it spent this month as a narrow bar inside it."""
    fig = go.Figure()
    teams = labels(frame["team"])
    fig.add_bar(x=frame["limit_usd"].to_list(), y=teams, name="Budget", orientation="h", width=0.7,
                marker_color="rgba(128, 128, 128, 0.25)", hovertemplate="%{y}: budget $%{x:,.2f}<extra></extra>")
    fig.add_bar(x=frame["spent_usd"].to_list(), y=teams, name="Spent this month", orientation="h", width=0.3,
                marker_color=MID, hovertemplate="%{y}: spent $%{x:,.2f}<extra></extra>")
    fig.update_yaxes(type="category")
    return _layout(fig, "Budget used versus set, this month", "", "USD", horizontal=True, barmode="overlay",
                   showlegend=True, height=_rows_height(frame.height))


def _rows_height(rows: int) -> int:
    """A horizontal bar chart's height: about 40 px a bar, so one bar is not a slab."""
    return min(HEIGHT * 2, 140 + 40 * max(rows, 1))
