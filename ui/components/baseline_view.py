"""A scored run against a baseline run: each column's pass-rate change with its two-proportion test, and each
case that changed, newly failing first."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from promptvault import evaluation, runs
from promptvault.context import Context
from promptvault.evalstats import SIGNIFICANCE
from promptvault.evaluation import ColumnDelta, Comparison, Evaluation
from ui import plain
from ui.components import run_picker
from ui.components.run_scores import percent
from ui.errors import showing_errors

TEST = f"two-proportion z-test, {SIGNIFICANCE:.0%} level".replace("%", " %")
BADGES = {"better": ":green-badge[better beyond noise]", "worse": ":red-badge[worse beyond noise]",
          "no significant change": ":gray-badge[no significant change]"}
STATUS = {"newly failing": "✗ newly failing", "still failing": "✗ still failing",
          "newly passing": "✓ newly passing", "still passing": "✓ still passing"}


def show(ctx: Context, root: Path, run: runs.RunInfo, current: Evaluation, past: list[runs.RunInfo],
         key: str) -> int | None:
    """Pick a baseline among the project's runs `past` (the run spec's by default), then the per-column verdicts
    and per-case changes; its id."""
    st.subheader("Against a baseline run", anchor=False)
    chosen = _pick(ctx, run, past, key)
    if chosen is None:
        st.caption("Pick an earlier finished run to see which pass rates changed beyond noise.")
        return None
    with showing_errors():
        base = evaluation.evaluate_run(ctx, root, chosen)
        if base is None:
            st.info(f"Run {chosen} has no finished scoring, so there are no pass rates to compare with. "
                    "Open it and re-score it with checks first.", icon=":material/info:")
            return chosen
        comparison = evaluation.compare(current, base)
        if not comparison.same_checks:
            st.warning(f"Runs {run.id} and {chosen} were scored with different checks, so their pass rates measure "
                       "different things. Re-score one with the other's checks to compare them.",
                       icon=":material/warning:")
        columns(comparison)
        cases(comparison)
    return chosen


def _pick(ctx: Context, run: runs.RunInfo, past: list[runs.RunInfo], key: str) -> int | None:
    """The baseline selectbox: None and the project's other finished runs; the spec's baseline first chosen."""
    by_id = {r.id: r for r in past if r.finished and r.id != run.id}
    wanted = run.spec.get("baseline")
    if wanted and wanted not in by_id and wanted != run.id:
        with showing_errors():
            by_id[wanted] = runs.get_run(ctx, wanted)  # older than the list's newest runs
    options = [None, *sorted(by_id, reverse=True)]
    return st.selectbox("Baseline run", options, index=options.index(wanted) if wanted in options else 0,
                        key=f"{key}.{run.id}",
                        format_func=lambda i: "None" if i is None else run_picker.label(by_id[i]))


def line(d: ColumnDelta, baseline_id: int) -> str:
    """`pass rate 67 % → 33 % (−33 pts), p = 0.014, worse beyond noise (two-proportion z-test, 5 % level)`."""
    if d.test is None:
        return f"no counterpart in run {baseline_id}" if d.verdict == "no counterpart" else "no outputs to compare"
    points = round(d.delta * 100)
    sign = "−" if points < 0 else ("+" if points > 0 else "±")
    verdict = d.verdict if d.verdict == "no significant change" else f"{d.verdict} beyond noise"
    return (f"pass rate {percent(d.test.rate_a)} → {percent(d.test.rate_b)} ({sign}{abs(points)} pts), "
            f"p = {d.test.p_value:.3f}, {verdict} ({TEST})")


def columns(c: Comparison) -> None:
    """One line per column: its counterpart, the change and the verdict."""
    for d in c.columns:
        against = f" vs {d.baseline_label}" if d.baseline_label and d.baseline_label != d.label else ""
        badge = BADGES.get(d.verdict, "")
        st.markdown(f"{badge} **{plain(d.label)}**{plain(against)}: {plain(line(d, c.baseline_id))}")


def cases(c: Comparison) -> None:
    """Every case in both runs, newly failing first."""
    if not c.cases:
        return
    regressions = len(c.regressions)
    st.caption(plain(f"{regressions} newly failing case{'s' if regressions != 1 else ''} against run {c.baseline_id}; "
                     "a case passes when at least half its repeats pass."))
    st.dataframe([{"Case": f"#{d.case}", "Column": d.label, f"Run {c.baseline_id}": percent(d.baseline_rate),
                   "Now": percent(d.rate), "Status": STATUS[d.status], "Failed checks": ", ".join(d.failed_checks)}
                  for d in c.cases], hide_index=True, width="stretch")
