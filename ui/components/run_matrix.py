"""A run's matrix: one row per test case, one column per version × model, a summary row; cell diffs and exports.

Model output is untrusted: every character of it is escaped here before it reaches st.html.
"""

from __future__ import annotations

from html import escape

import streamlit as st

from promptvault import matrix as matrices
from promptvault.context import Context
from promptvault.evaluation import ColumnScore, Evaluation
from promptvault.matrix import Cell, ColumnSummary, Matrix
from promptvault.run_plan import run_cases
from promptvault.runs import RunInfo
from ui.components import diff_view

STYLE = """<style>
.pv-matrix-wrap {overflow-x: auto; max-height: 70vh; overflow-y: auto;}
.pv-matrix {border-collapse: collapse; width: 100%; font-size: 0.88rem; line-height: 1.4;}
.pv-matrix th, .pv-matrix td {border: 1px solid rgba(128, 128, 128, 0.3); padding: 6px 8px; vertical-align: top;
  text-align: left; min-width: 14rem;}
.pv-matrix thead th {position: sticky; top: 0; background: #f0f2f6; color: #31333f; z-index: 1;}
.pv-matrix th.pv-case, .pv-matrix td.pv-case {min-width: 6rem; max-width: 16rem;}
.pv-vars {color: #6b7280; font-size: 0.75rem; white-space: pre-wrap; overflow-wrap: anywhere; max-height: 11em;
  overflow-y: auto; margin-top: 2px;}
.pv-out {white-space: pre-wrap; overflow-wrap: anywhere; max-height: 11em; overflow-y: auto;}
.pv-meta {color: #6b7280; font-size: 0.75rem; margin-top: 4px;}
.pv-matrix td.pv-error {background: rgba(220, 38, 38, 0.08);}
.pv-matrix td.pv-error .pv-out {color: #dc2626;}
.pv-matrix td.pv-empty {color: #9ca3af; font-style: italic;}
.pv-matrix tfoot td {background: rgba(128, 128, 128, 0.08); font-size: 0.8rem;}
.pv-matrix .pv-bad {color: #dc2626; font-weight: 600;}
.pv-verdict {font-size: 0.78rem; font-weight: 600; margin-bottom: 4px; overflow-wrap: anywhere;}
.pv-pass {color: #15803d;}
.pv-fail {color: #dc2626;}
.pv-verdict.pv-sub {font-weight: 400; font-size: 0.75rem;}
.pv-repeats summary {color: #6b7280; font-size: 0.75rem; cursor: pointer; margin-top: 4px;}
.pv-repeat {border-top: 1px dashed rgba(128, 128, 128, 0.3); margin-top: 4px; padding-top: 4px;}
</style>"""


def case_inputs(ctx: Context, run: RunInfo) -> dict[int, dict]:
    """Each case's variables by position: the run's inline cases, or its dataset as it is now ({} if it is gone)."""
    return {position: case.variables for position, case in run_cases(ctx, run.spec).items()}


def show(m: Matrix, run_id: int, key: str, inputs: dict[int, dict] | None = None,
         evaluation: Evaluation | None = None) -> None:
    """The table (with pass/fail badges when the run was scored), the diff of two columns, and the exports."""
    if not m.cells:
        st.info("No cells have finished yet.", icon=":material/hourglass_empty:")
        return
    table(m, inputs, evaluation)
    if len(m.columns) > 1:
        with st.expander("Diff two columns, cell by cell", icon=":material/difference:"):
            show_diff(m, key=f"{key}.diff")
    csv_col, parquet_col, _ = st.columns([1, 1, 3])
    csv_col.download_button("Download CSV", matrices.export_csv(m), f"run-{run_id}.csv", "text/csv",
                            key=f"{key}.csv", icon=":material/download:", width="stretch", on_click="ignore",
                            help="Cells that a spreadsheet would run as a formula are defanged.")
    parquet_col.download_button("Download Parquet", matrices.export_parquet(m), f"run-{run_id}.parquet",
                                "application/vnd.apache.parquet", key=f"{key}.parquet", icon=":material/download:",
                                width="stretch", on_click="ignore")


def table(m: Matrix, inputs: dict[int, dict] | None = None, evaluation: Evaluation | None = None) -> None:
    """The matrix as an escaped HTML table: errors in red, totals in the footer."""
    st.html(STYLE + table_html(m, inputs or {}, evaluation))


def table_html(m: Matrix, inputs: dict[int, dict], evaluation: Evaluation | None = None) -> str:
    """The HTML of the matrix (every text escaped); scored repeats fold into one row per case."""
    head = "".join(f"<th>{escape(c.label)}</th>" for c in m.columns)
    rows = []
    folded = evaluation is not None and m.repeats > 1
    for case in m.cases:
        variables = "\n".join(f"{k}: {v}" for k, v in (inputs.get(case) or {}).items())
        shown = f'<div class="pv-vars">{escape(variables)}</div>' if variables else ""
        if folded:
            cells = "".join(_case_html(m, evaluation, case, c.key) for c in m.columns)
            rows.append(f'<tr><td class="pv-case">#{case} · {m.repeats} repeats{shown}</td>{cells}</tr>')
            continue
        for repeat in range(1, m.repeats + 1):
            name = f"#{case}" + (f" · repeat {repeat}" if m.repeats > 1 else "")
            cells = "".join(_cell_html(m.cells.get((case, repeat, c.key)),
                                       _badge(evaluation, (case, repeat, c.key))) for c in m.columns)
            rows.append(f'<tr><td class="pv-case">{name}{shown}</td>{cells}</tr>')
    scores = {c.column_key: c for c in evaluation.columns} if evaluation else {}
    foot = "".join(f"<td>{_summary_html(s)}{_rate_html(scores.get(s.column_key))}</td>"
                   for s in matrices.summary(m))
    return (f'<div class="pv-matrix-wrap"><table class="pv-matrix"><thead><tr><th class="pv-case">Case</th>{head}'
            f'</tr></thead><tbody>{"".join(rows)}</tbody><tfoot><tr><td class="pv-case">Summary</td>{foot}</tr>'
            f"</tfoot></table></div>")


def _badge(evaluation: Evaluation | None, index: tuple[int, int, str], repeat: bool = False) -> str:
    """`✓ passed` or `✗ failed: names` for one scored output, `repeat 2 · ✓ passed` as one of several ('' when
    unscored)."""
    score = evaluation.outputs.get(index) if evaluation else None
    if score is None:
        return ""
    klass = "pv-verdict pv-sub" if repeat else "pv-verdict"
    which = f"repeat {index[1]} · " if repeat else ""
    if score.passed:
        return f'<div class="{klass} pv-pass">{which}✓ passed</div>'
    return f'<div class="{klass} pv-fail">{which}✗ failed: {escape(", ".join(score.failed_names()))}</div>'


def _case_html(m: Matrix, evaluation: Evaluation, case: int, key: str) -> str:
    """One case × column over its repeats: the verdict, repeat 1's output, and the others folded away."""
    verdict = evaluation.cells.get((case, key))
    if verdict is None:
        return '<td class="pv-empty">not run yet</td>'
    mark, klass = ("✓", "pv-pass") if verdict.case_passed else ("✗", "pv-fail")
    failed = f" · failed: {', '.join(verdict.failed_checks)}" if verdict.failed_checks else ""
    head = (f'<div class="pv-verdict {klass}">{mark} {verdict.passed}/{verdict.outputs} passed · outputs '
            f'{"agree" if verdict.agree else "differ"}{escape(failed)}</div>')
    found = [r for r in range(1, m.repeats + 1) if (case, r, key) in m.cells]
    badges = {r: _badge(evaluation, (case, r, key), repeat=True) for r in found}
    first = _cell_html(m.cells[(case, found[0], key)], badges[found[0]], head)
    rest = "".join(f'<div class="pv-repeat">{_cell_body(m.cells[(case, r, key)], badges[r])}</div>' for r in found[1:])
    if not rest:
        return first
    return first.removesuffix("</td>") + (f'<details class="pv-repeats"><summary>{len(found) - 1} more repeats'
                                          f"</summary>{rest}</details></td>")


def _rate_html(score: ColumnScore | None) -> str:
    """A column's pass rate under its totals ('' when unscored)."""
    if score is None or not score.outputs:
        return ""
    low, high = score.ci_low * 100, score.ci_high * 100
    return (f'<br><span class="pv-verdict">pass rate {score.pass_rate * 100:.0f} % ({low:.0f}–{high:.0f} %) · '
            f"{score.passed:,}/{score.outputs:,} passed</span>")


def _cell_html(cell: Cell | None, badge: str = "", head: str = "") -> str:
    """One cell: its verdict, its output (or error) and its latency, tokens and cost."""
    if cell is None:
        return '<td class="pv-empty">not run yet</td>'
    klass = ' class="pv-error"' if cell.failed else ""
    return f"<td{klass}>{head}{_cell_body(cell, badge)}</td>"


def _cell_body(cell: Cell, badge: str = "") -> str:
    """An output (or error) with its badge and meta line."""
    meta = [f"{cell.latency_ms:,.0f} ms" if cell.latency_ms is not None else None,
            f"{cell.input_tokens or 0:,} → {cell.output_tokens or 0:,} tokens",
            usd(cell.cost_usd or 0.0),
            "cached" if cell.cache_hit else None,
            f"{cell.attempts} attempts" if cell.attempts and cell.attempts > 1 else None]
    return (f'{badge}<div class="pv-out">{escape(matrices.cell_text(cell))}</div>'
            f'<div class="pv-meta">{escape(" · ".join(p for p in meta if p))}</div>')


def _summary_html(s: ColumnSummary) -> str:
    """A column's totals."""
    errors = f'<span class="pv-bad">{s.errors:,} errors</span>' if s.errors else "0 errors"
    latency = (f"mean {s.mean_latency_ms:,.0f} ms · p95 {s.p95_latency_ms:,.0f} ms"
               if s.mean_latency_ms is not None else "no latency (no successful call)")
    return (f"{s.calls:,} calls · {errors}<br>{latency}<br>"
            f"{s.input_tokens:,} → {s.output_tokens:,} tokens · {usd(s.cost_usd)}")


def usd(amount: float) -> str:
    """`$0`, `$0.000123`, `$1.5`: down to a millionth of a dollar, no trailing zeros."""
    return "$" + (f"{amount:,.6f}".rstrip("0").rstrip(".") or "0")


def show_diff(m: Matrix, key: str) -> None:
    """Pick two columns and a case; the diff of their outputs."""
    labels = {c.key: c.label for c in m.columns}
    keys = list(labels)
    a_col, b_col, case_col, repeat_col = st.columns([3, 3, 1, 1])
    a = a_col.selectbox("A (old)", keys, index=0, format_func=labels.__getitem__, key=f"{key}.a")
    b = b_col.selectbox("B (new)", keys, index=1, format_func=labels.__getitem__, key=f"{key}.b")
    case = case_col.selectbox("Case", m.cases, format_func=lambda c: f"#{c}", key=f"{key}.case")
    repeat = repeat_col.number_input("Repeat", 1, m.repeats, 1, key=f"{key}.repeat") if m.repeats > 1 else 1
    diff_view.show(matrices.cell_diff(m, a, b, case, int(repeat)).diff, key=key)
