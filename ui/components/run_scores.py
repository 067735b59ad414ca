"""A scored run's numbers: the checks it was scored with and one row per version × model (pass rate with its
95 % interval, score, latency, tokens, cost, errors, agreement and each check's pass rate)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from promptvault import evaluation, scorings
from promptvault.context import Context
from promptvault.evaluation import ColumnScore, Evaluation
from promptvault.matrix import Matrix
from ui import plain, utc_text
from ui.components.run_matrix import usd

FRONT = "★"
LONG = 120  # characters of a check's settings shown in its line


def load(ctx: Context, root: Path, run_id: int, m: Matrix) -> tuple[Evaluation | None, scorings.ScoringInfo | None]:
    """The run's evaluation (None when its latest scoring did not finish well) and its newest scoring of any status;
    a failed latest scoring is shown with its error."""
    newest = scorings.latest(ctx, run_id, statuses=None)
    finished = newest if newest is None or newest.finished else scorings.latest(ctx, run_id)
    if finished is not None and finished.status == "failed":
        st.error(plain(f"Scoring {finished.id} of run {run_id} failed: {finished.error or 'no reason recorded'}"),
                 icon=":material/error:")
    return evaluation.evaluate_run(ctx, root, run_id, matrix=m), newest


def percent(rate: float | None) -> str:
    """`83 %`; `–` for none."""
    return "–" if rate is None else f"{rate * 100:.0f} %"


def rate_with_interval(c: ColumnScore) -> str:
    """`83 % (64–93 %)`: the pass rate and its 95 % Wilson interval."""
    if c.pass_rate is None:
        return "no outputs"
    return f"{percent(c.pass_rate)} ({c.ci_low * 100:.0f}–{c.ci_high * 100:.0f} %)"


def ms(value: float | None) -> str:
    """`1,234 ms`; `–` for none."""
    return "–" if value is None else f"{value:,.0f} ms"


def rows(e: Evaluation) -> list[dict[str, Any]]:
    """One table row per column (the keys are the table's headers)."""
    repeats = e.matrix.repeats > 1
    table = []
    for c in e.columns:
        row = {"Column": c.label, "Pareto front": FRONT if c.on_front else "", "Pass rate (95 % CI)":
               rate_with_interval(c), "Passed": f"{c.passed:,}/{c.outputs:,}",
               "Mean score": "–" if c.mean_score is None else f"{c.mean_score:.2f}",
               "Latency p50": ms(c.latency_p50_ms), "Latency p95": ms(c.latency_p95_ms),
               "Tokens in → out": f"{c.input_tokens:,} → {c.output_tokens:,}", "Cost": usd(c.cost_usd),
               "Cost per output": usd(c.mean_cost_usd), "Errors": c.errors}
        if repeats:
            row["Outputs agree"] = percent(c.agreement)
        table.append(row | {f"✓ {name}": percent(c.check_pass_rates.get(name)) for name in e.check_names})
    return table


def show(ctx: Context, e: Evaluation, key: str) -> None:
    """The checks, one line each, and the per-column table; front columns starred."""
    s = e.scoring
    judges = f" · {s.judge_calls:,} judge calls, {usd(s.cost_usd)}" if s.judge_calls else ""
    st.subheader("Checks and pass rates", anchor=False)
    count = f"{len(s.checks)} check" + ("s" if len(s.checks) != 1 else "")
    st.caption(plain(f"Scoring {s.id} · {utc_text(s.created_at)[:16]} UTC · {count}{judges}"))
    st.markdown("\n".join(f"- **{plain(name)}** · {plain(_describe(check))}"
                          for name, check in zip(e.check_names, s.checks)))
    st.dataframe(rows(e), hide_index=True, width="stretch", key=f"{key}.table")
    st.caption(f"{FRONT} Pareto front: no other column is at least as good on pass rate, cost per output and latency "
               "p50 and better on one. An output passes when all its checks with weight > 0 pass.")


def _describe(check: dict[str, Any]) -> str:
    """A check's type and its settings, e.g. `regex · pattern: ^A`."""
    settings = ", ".join(f"{k}: {v}" for k, v in check.items() if k not in ("name", "type"))
    settings = settings if len(settings) <= LONG else settings[:LONG - 1] + "…"
    return check.get("type", "?") + (f" · {settings}" if settings else "")
