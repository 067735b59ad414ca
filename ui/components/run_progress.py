"""A run's live progress: polled every second while the run is active, with Cancel; the page reruns when it ends.

The run executes on the background executor, never in the script run; this only reads its counters.
"""

from __future__ import annotations

import streamlit as st

from promptvault import matrix as matrices
from promptvault import runs, scorings
from promptvault.background import BackgroundExecutor, Executor
from promptvault.context import Context
from promptvault.runner import RunStats
from ui import plain, session
from ui.components import run_matrix
from ui.errors import showing_errors

POLL_SECONDS = 1.0


def show(ctx: Context, run: runs.RunInfo, executor: Executor, may_cancel: bool, key: str) -> None:
    """Progress of an active run, refreshed every POLL_SECONDS, with the cells so far."""
    inputs = run_matrix.case_inputs(ctx, run)

    @st.fragment(run_every=POLL_SECONDS)
    def live() -> None:
        current = run
        with showing_errors() as read:
            current = runs.get_run(ctx, run.id)
        if not read.ok:
            return
        if current.finished:
            st.rerun()  # the whole page, which now shows the finished run's matrix
        progress(current, executor.stats(run.id))
        failure = executor.error(run.id)
        if failure:
            st.error(plain(f"Run {run.id} stopped: {failure}"), icon=":material/error:")
        if may_cancel and st.button("Cancel run", key=f"{key}.cancel", icon=":material/stop_circle:",
                                    disabled=current.cancel_requested):
            with showing_errors():
                runs.request_cancel(ctx, run.id)
                session.flash(f"Asked run {run.id} to stop: calls in flight finish, no new ones start.")
                st.rerun()
        with showing_errors():
            cells = matrices.load_matrix(ctx, session.workspace().settings.data_dir, run.id)
            if cells.cells:
                run_matrix.table(cells, inputs)

    live()


def progress(run: runs.RunInfo, stats: RunStats | None) -> None:
    """A progress bar and the run's counters (live ones when this process executes it)."""
    total = max(run.total_cells, 1)
    if stats is None:  # executed elsewhere, or not begun: the record's counters
        finished, line = run.done_cells + run.failed_cells, f"{run.done_cells:,} done · {run.failed_cells:,} failed"
        cost = run.cost_usd
        eta = None
    else:
        finished, cost, eta = stats.finished_cells, stats.cost_usd, stats.eta_seconds
        line = (f"{stats.skipped + stats.done:,} done · {stats.failed:,} failed · {stats.retrying:,} retrying · "
                f"{stats.in_flight:,} in flight" + (f" · {stats.cached:,} cached" if stats.cached else ""))
    state = "cancelling" if run.cancel_requested else run.status
    if stats is not None and stats.status == "scoring":
        judges = f" {stats.judged:,}/{stats.to_judge:,} judge calls" if stats.to_judge else ""
        st.progress(stats.judged / stats.to_judge if stats.to_judge else 1.0,
                    text=f"Run {run.id}: all cells finished. Scoring outputs…{judges}")
        st.caption(plain(f"{line} · {run_matrix.usd(cost)} spent"))
        return
    st.progress(min(finished / total, 1.0), text=f"Run {run.id} {state}: {finished:,} of {run.total_cells:,} cells")
    eta_text = f" · ETA {_duration(eta)}" if eta is not None else ""
    st.caption(plain(f"{line} · {run_matrix.usd(cost)} spent{eta_text}"))


def scoring(ctx: Context, pending: scorings.ScoringInfo, executor: BackgroundExecutor) -> None:
    """A re-score's judge calls so far, refreshed every POLL_SECONDS; the page reruns when it ends."""

    @st.fragment(run_every=POLL_SECONDS)
    def live() -> None:
        current = pending
        with showing_errors() as read:
            current = scorings.get(ctx, pending.id)
        if not read.ok:
            return
        if current.finished:
            st.rerun()
        stats = executor.scoring_stats(pending.id)
        done, total = (stats.judge_done, stats.judge_total) if stats else (0, 0)
        line = f"Scoring… {done:,}/{total:,} judge calls" if total else "Scoring…"
        retrying = f" · {stats.retrying:,} retrying" if stats and stats.retrying else ""
        st.progress(done / total if total else 0.0, text=f"{line} (scoring {pending.id} of run {pending.run_id})")
        st.caption(plain(f"{current.status}{retrying} · {run_matrix.usd(stats.cost_usd if stats else 0.0)} spent "
                         "on judges · the new results show when it finishes"))

    live()


def _duration(seconds: float) -> str:
    """Seconds as `42 s` or `3 min 5 s`."""
    seconds = round(seconds)
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60} s"
