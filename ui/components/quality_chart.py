"""Quality against cost and latency: one point per version × model, the Pareto front drawn as a starred line.

`figure` is a plain function of the column scores, so a test reads the chart without a browser. Column labels are
user-written: escaped on their way into the figure, as in analytics_charts.
"""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from promptvault.evaluation import ColumnScore
from ui.components.analytics_charts import CONFIG, label

HEIGHT = 420
FRONT_COLOR = "#0068c9"
FREE_SPAN = 0.001  # the cost axis when every column was free: $0 to a tenth of a cent
NO_LATENCY = "#9ca3af"  # grey: a column with no successful call has no latency to colour by
COLORBAR = {"title": {"text": "p50 ms"}, "thickness": 12, "tickformat": ",.3~g"}
HOVER = ("%{text}<br>pass rate %{y:.0f} % (%{customdata[0]:.0f}–%{customdata[1]:.0f} %)<br>"
         "$%{x:,.6f} per output<br>latency p50 %{customdata[2]}<extra></extra>")


def figure(columns: list[ColumnScore]) -> go.Figure:
    """Scatter: x = mean cost per output, y = pass rate with its 95 % interval, colour = latency p50; the front
    starred and joined by a line."""
    shown = [c for c in columns if c.outputs]
    fig = go.Figure()
    latencies = [c.latency_p50_ms for c in shown if c.latency_p50_ms is not None]
    scale = {"cmin": min(latencies, default=0), "cmax": max(latencies, default=1), "colorscale": "Viridis"}
    others = [c for c in shown if not c.on_front]
    front = sorted((c for c in shown if c.on_front), key=lambda c: (c.mean_cost_usd, -(c.pass_rate or 0)))
    if others:
        fig.add_trace(_points(others, "Other columns", "circle", "markers+text", scale, colorbar=not front))
    if front:
        trace = _points(front, "Pareto front", "star", "lines+markers+text", scale, colorbar=True)
        trace.update(line={"color": FRONT_COLOR, "dash": "dot", "width": 1.5})
        fig.add_trace(trace)
    return _axes(fig, max((c.mean_cost_usd for c in shown), default=0.0))


def _axes(fig: go.Figure, span: float) -> go.Figure:
    """Titles, the pass-rate axis in percent and the cost axis from $0 to the dearest column's cost."""
    fig.update_layout(title="Quality, cost and latency", height=HEIGHT, hovermode="closest",
                      margin={"l": 10, "r": 10, "t": 50, "b": 10}, xaxis_title="Mean cost per output (USD)",
                      yaxis_title="Pass rate (%)", legend={"orientation": "h", "y": -0.18})
    fig.update_yaxes(range=[-5, 110], ticksuffix=" %")
    if not span:
        span = FREE_SPAN
        fig.update_xaxes(title="Mean cost per output (USD): every column was free")
    fig.update_xaxes(range=[-0.05 * span, 1.05 * span], tickprefix="$", tickformat=",.6~f", zeroline=False)
    for trace in fig.data:  # labels point inwards at the edges, so none is cut off
        trace.textposition = [_text_position(x / span) for x in trace.x]
    return fig


def _text_position(share: float) -> str:
    """Where a point's label goes, by how far right the point is (0 to 1)."""
    return "top right" if share < 0.25 else ("top left" if share > 0.75 else "top center")


def _points(columns: list[ColumnScore], name: str, symbol: str, mode: str, scale: dict, colorbar: bool) -> go.Scatter:
    """One trace of columns: labelled markers with the interval as error bars."""
    rate = [(c.pass_rate or 0) * 100 for c in columns]
    low = [(c.ci_low or 0) * 100 for c in columns]
    high = [(c.ci_high or 0) * 100 for c in columns]
    marker = {"symbol": symbol, "size": 16 if symbol == "star" else 12, "line": {"width": 1, "color": "#31333f"},
              "color": [NO_LATENCY if c.latency_p50_ms is None else c.latency_p50_ms for c in columns], **scale,
              "colorbar": COLORBAR if colorbar else None, "showscale": colorbar}
    return go.Scatter(
        x=[c.mean_cost_usd for c in columns], y=rate, name=name, mode=mode, marker=marker,
        text=[label(c.label) for c in columns], textposition="top center", hovertemplate=HOVER,
        customdata=[[lo, hi, "–" if c.latency_p50_ms is None else f"{c.latency_p50_ms:,.0f} ms"]
                    for c, lo, hi in zip(columns, low, high)],
        error_y={"type": "data", "symmetric": False, "array": [h - r for h, r in zip(high, rate)],
                 "arrayminus": [r - lo for r, lo in zip(rate, low)], "thickness": 1, "width": 4})


def show(columns: list[ColumnScore], key: str) -> None:
    """The chart, when some column has outputs."""
    if any(c.outputs for c in columns):
        st.plotly_chart(figure(columns), key=key, config=CONFIG, width="stretch")
