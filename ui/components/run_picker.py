"""Pick one of the project's past runs; follows the `run` query parameter so a run can be shared by link."""

from __future__ import annotations

import streamlit as st

from promptvault import runs
from promptvault.errors import NotFoundError
from ui import utc_text
from ui.components.run_matrix import usd


def requested(ctx, value: str | None) -> runs.RunInfo | None:
    """The run a link names (None when it names none); NotFoundError `no run N` for one the user may not read."""
    if not value:
        return None
    if not value.strip().isdigit():
        raise NotFoundError(f"no run {value.strip()[:40]}")
    return runs.get_run(ctx, int(value))


def label(run: runs.RunInfo) -> str:
    """`Run 12 · greet · 2026-11-26 06:40 UTC · ada@example.com` (nothing that changes: a browser keeps the labels
    a keyed selectbox was first drawn with)."""
    return f"Run {run.id} · {run.spec.get('prompt', '?')} · {utc_text(run.created_at)[:16]} UTC · {run.created_by}"


def status(run: runs.RunInfo) -> str:
    """`done: 8 of 8 cells (1 failed) · $0.0012 · 120 → 800 tokens`."""
    failed = f" ({run.failed_cells:,} failed)" if run.failed_cells else ""
    return (f"{run.status}: {run.done_cells + run.failed_cells:,} of {run.total_cells:,} cells{failed} · "
            f"{usd(run.cost_usd)} · {run.input_tokens:,} → {run.output_tokens:,} tokens")


def show(past: list[runs.RunInfo], current: runs.RunInfo | None, key: str) -> int | None:
    """A selectbox of runs (the linked one first chosen); the chosen run's id."""
    by_id = {r.id: r for r in past}
    if current is not None:
        by_id.setdefault(current.id, current)
    if not by_id:
        return None
    ids = sorted(by_id, reverse=True)
    seen = f"{key}.linked"
    linked = current.id if current else None
    if st.session_state.get(seen) != linked or st.session_state.get(key) not in ids:  # the link moved: follow it
        st.session_state[seen] = linked
        st.session_state[key] = linked if linked in ids else ids[0]
    return st.selectbox("Run", ids, key=key, format_func=lambda i: label(by_id[i]))
