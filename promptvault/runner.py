"""The runner: start a run (plan, estimate, budget, record) and execute it, concurrently, resumably, exactly once.

`start` records a pending run with its versions pinned to numbers, so a resume calls the same versions even
if a branch moved. `execute` runs it: it takes the run's lock (a `flock` the kernel drops when the process
dies, so two processes never execute one run), skips the cells the history already holds, opens the
run's keys (one audited decryption per key per execution), and calls the rest through a `dispatch.Dispatcher`
with the limits, retries, breaker and cache of `resilience` and `response_cache`. Rows are buffered and
written as Parquet parts every `FLUSH_SECONDS` or `FLUSH_ROWS`, and the run's counters move only after
their rows are durable: a SIGKILL loses at most the unflushed answers, whose cells are called again on
resume, and never writes a cell twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from promptvault import filelock, history, response_cache, runs
from promptvault.context import Context
from promptvault.dispatch import Dispatcher, Outcome, Route, outcome_row, route
from promptvault.run_plan import BudgetStatus, Cell, Estimate, RunPlan, check_budget, estimate, plan_run
from promptvault.run_spec import RunSpec

FLUSH_SECONDS = 0.5
FLUSH_ROWS = 500
TICK_SECONDS = 0.25
HEARTBEAT_SECONDS = 5.0
BUDGET = "budget"
ProgressCallback = Callable[["RunStats"], None]


@dataclass
class RunStats:
    """Live counters of one execution, for progress bars; `skipped` cells were finished before it began."""

    run_id: int
    total: int
    skipped: int = 0
    done: int = 0
    failed: int = 0
    retrying: int = 0
    in_flight: int = 0
    cached: int = 0
    calls: int = 0  # requests actually sent (attempts), not counting cache hits
    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    started: float = field(default_factory=time.monotonic)
    status: str = "running"  # or "scoring" once every cell is done and the checks are scored
    judged: int = 0  # judge jobs finished while scoring
    to_judge: int = 0

    @property
    def finished_cells(self) -> int:
        """Cells with a final row, including those from before a resume."""
        return self.skipped + self.done + self.failed

    @property
    def eta_seconds(self) -> float | None:
        """Seconds left at this execution's pace so far; None before the first cell finishes."""
        new = self.done + self.failed
        if new == 0:
            return None
        elapsed = time.monotonic() - self.started
        return elapsed / new * max(self.total - self.finished_cells, 0)


@dataclass(frozen=True)
class Prepared:
    """A planned run before it is recorded: the plan, the estimate and the team's budget (if any)."""

    plan: RunPlan
    estimate: Estimate
    budget: BudgetStatus | None


def prepare(ctx: Context, spec: RunSpec) -> Prepared:
    """Plan and estimate a run and check its budget (not its keys); nothing is recorded or called."""
    plan = plan_run(ctx, spec)
    found = estimate(plan, runs.price_overrides(ctx))
    return Prepared(plan, found, check_budget(ctx, found))


def start(ctx: Context, spec: RunSpec) -> runs.RunInfo:
    """Record a pending run of the spec, its versions pinned to numbers; refused over budget or without keys."""
    prepared = prepare(ctx, spec)
    team_id = runs.team_of_project(ctx)
    for model in [*spec.models, *judge_models(spec)]:
        route(ctx, team_id, model)  # a missing key is reported now, not as a failed cell per call
    if spec.baseline is not None:
        runs.get_run(ctx, spec.baseline)  # "no run N" now, not on the Compare page later
    pinned = spec.model_copy(update={"versions": [v.number for v in prepared.plan.versions]})
    return runs.create_run(ctx, pinned, prepared.plan, prepared.estimate)


def judge_models(spec: RunSpec) -> list:
    """The models the spec's model-graded checks call."""
    from promptvault.checks import is_model_graded
    from promptvault.judging import judge_model

    return [judge_model(check.model) for check in spec.checks if is_model_graded(check)]


def run_lock(data_dir: Path, run_id: int) -> contextlib.AbstractContextManager[None]:
    """Hold the run's execution lock; ConflictError if another live process holds it."""
    return filelock.execution(_lock_path(data_dir, run_id), f"run {run_id}")


def is_locked(data_dir: Path, run_id: int) -> bool:
    """Whether some live process is executing the run."""
    return filelock.is_executing(_lock_path(data_dir, run_id))


def _lock_path(data_dir: Path, run_id: int) -> Path:
    """Where a run's execution lock lives."""
    return Path(data_dir) / "runs" / f"run-{run_id}.lock"


def run_to_end(ctx: Context, run_id: int, data_dir: Path, on_progress: ProgressCallback | None = None) -> runs.RunInfo:
    """Execute a run in a fresh event loop (the CLI's way); the run's final record."""
    return asyncio.run(execute(ctx, run_id, data_dir, on_progress))


async def execute(ctx: Context, run_id: int, data_dir: Path,
                  on_progress: ProgressCallback | None = None) -> runs.RunInfo:
    """Execute (or resume) a run to a final status; a finished run returns at once with zero calls."""
    await asyncio.to_thread(runs.get_run, ctx, run_id)  # no such run, or not the actor's: say so before locking
    with run_lock(data_dir, run_id):
        info = await asyncio.to_thread(runs.get_run, ctx, run_id)  # what the lock's previous holder left
        if info.finished:
            return info
        execution = _Execution(ctx, info, Path(data_dir), on_progress)
        await execution.run()
        return await asyncio.to_thread(runs.get_run, ctx, run_id)


class _Execution:
    """One execution of a run: its state from start to final status."""

    def __init__(self, ctx: Context, info: runs.RunInfo, data_dir: Path, on_progress: ProgressCallback | None):
        self.ctx, self.info, self.root, self.on_progress = ctx, info, data_dir, on_progress
        self.spec = RunSpec.model_validate(info.spec)
        self.stats = RunStats(info.id, info.total_cells)
        self.writer = history.HistoryWriter(data_dir)
        self.buffer: list[dict] = []
        self.uncounted: list[dict] = []  # rows handed to the writer whose part is not yet written and counted
        self.prior_cost = 0.0
        self.flush_soon = asyncio.Event()
        self.closing = False
        self.stop_reason: str | None = None  # "cancelled" or a budget message
        self.stop_event = asyncio.Event()
        self.inputs: dict[int, str] = {}
        self.per_call_estimate = 0.0
        self.budget_left: float | None = None

    async def run(self) -> None:
        """Plan, recount, open keys, call every remaining cell, flush, and give the run its final status."""
        db = self.ctx.db
        try:
            plan = await asyncio.to_thread(plan_run, self.ctx, self.spec)
            prices = await asyncio.to_thread(runs.price_overrides, self.ctx)
            done_keys = await asyncio.to_thread(self._recount)
        except Exception as exc:  # the run cannot go on (a deleted prompt, a broken dataset): say so on the run
            await asyncio.to_thread(runs.finish_run, db, self.info.id, "failed", str(exc))
            raise
        if not await asyncio.to_thread(runs.mark_started, db, self.info.id):
            return
        await asyncio.to_thread(self._set_budget)
        self.dispatcher = Dispatcher(self.ctx, self.info.team_id, self.spec.concurrency, self.spec.timeout, prices,
                                     counters=self.stats)
        with contextlib.ExitStack() as keys:
            try:  # audited decryptions are store writes: off the loop
                await asyncio.to_thread(self.dispatcher.open_keys, keys, self.spec.models, f"run {self.info.id}")
            except Exception as exc:
                await asyncio.to_thread(runs.finish_run, db, self.info.id, "failed", str(exc))
                raise
            try:
                await self._call_all(plan, done_keys)
            finally:
                self.dispatcher.release_keys()
        if self.spec.checks and self.stop_reason != "cancelled":
            await self._score()
        await self._finish()

    async def _score(self) -> None:
        """Score the outputs with the spec's checks (resuming a scoring a killed process left), under the run lock."""
        from promptvault import scorer, scorings

        found = await asyncio.to_thread(scorings.unfinished, self.ctx, self.info.id)
        if found is None:
            found = await asyncio.to_thread(scorings.create, self.ctx, self.info.id, self.spec.checks)
        self.stats.status = "scoring"
        self._report()

        def judging(progress: scorer.ScoringStats) -> None:
            self.stats.judged, self.stats.to_judge = progress.judge_done, progress.judge_total
            self._report()

        await scorer.execute(self.ctx, self.root, found.id, judges=self.stop_reason != BUDGET, on_progress=judging)

    def _recount(self) -> set[str]:
        """Read what the history already holds for the run; set the counters from it; the finished keys."""
        frame = history.HistoryReader(self.root).rows(
            columns=["cell_key", "error", "cost_usd", "input_tokens", "output_tokens"],
            run_id=self.info.id, team_id=self.info.team_id)
        cells = frame.filter(~frame["cell_key"].str.starts_with(history.JUDGE_PREFIX))  # judge calls cost, but are no cells
        failed = cells.filter(cells["error"].is_not_null()).height
        cost = float(frame["cost_usd"].fill_null(0).sum() or 0.0)
        tokens = (int(frame["input_tokens"].fill_null(0).sum() or 0), int(frame["output_tokens"].fill_null(0).sum() or 0))
        runs.set_progress(self.ctx.db, self.info.id, cells.height - failed, failed, cost, tokens)
        self.stats.skipped, self.prior_cost = cells.height, cost
        return set(cells["cell_key"].to_list())

    def _set_budget(self) -> None:
        """The most this execution may spend: the spec's cap and the team's month, less what the run spent."""
        est = self.info.estimate or {}
        calls = max(int(est.get("calls") or 0), 1)
        self.per_call_estimate = float(est.get("known_cost_usd") or 0.0) / calls
        limits = []
        if self.spec.budget_usd is not None:
            limits.append(self.spec.budget_usd - self.prior_cost)
        status = runs.get_budget(self.ctx)
        if status is not None:
            limits.append(status.limit_usd - status.spent_usd)  # this run's prior cost is already in `spent`
        self.budget_left = min(limits) if limits else None

    async def _call_all(self, plan: RunPlan, done_keys: set[str]) -> None:
        """Run the workers, the flusher and the ticker until the cells run out or the run is stopped."""
        cells = plan.cells(skip=done_keys)
        # Twice the concurrency: a cell waiting out a backoff keeps its worker but not its call slot.
        count = min(self.spec.concurrency * 2, max(plan.total_cells - len(done_keys), 1))
        workers = [asyncio.create_task(self._worker(cells)) for _ in range(count)]
        flusher, ticker = asyncio.create_task(self._flusher()), asyncio.create_task(self._ticker())
        all_workers = asyncio.gather(*workers)
        stopper = asyncio.create_task(self.stop_event.wait())
        try:
            await asyncio.wait([all_workers, stopper], return_when=asyncio.FIRST_COMPLETED)
            if self.stop_reason is not None and self.stop_reason != BUDGET:  # cancelled or broken: drop in-flight calls
                for task in workers:
                    task.cancel()
            outcomes = await asyncio.gather(*workers, return_exceptions=True)
            failure = next((o for o in outcomes if isinstance(o, Exception)), None)
            if failure is not None:
                raise failure
        finally:
            for task in (ticker, stopper):
                task.cancel()
            self.closing = True  # the flusher ends after one last flush; never cancelled mid-write
            self.flush_soon.set()
            await asyncio.gather(all_workers, ticker, stopper, return_exceptions=True)
            await flusher
            await self._flush(final=True)

    async def _worker(self, cells: Iterator[Cell]) -> None:
        """Take the next cell until none are left or the run stops; one row per cell."""
        for cell in cells:
            if self.stop_reason is not None or self._over_budget():
                return
            self.stats.in_flight += 1
            try:
                row = await self._run_cell(cell)
            finally:
                self.stats.in_flight -= 1
            self._collect(row)

    def _over_budget(self) -> bool:
        """Stop dispatching when what is spent plus what is in flight would pass the budget, each call priced at
        the estimate or at the mean of the calls answered so far, whichever is higher."""
        if self.budget_left is None:
            return False
        answered = self.stats.done + self.stats.failed
        per_call = max(self.per_call_estimate, self.stats.cost_usd / answered if answered else 0.0)
        expected = self.stats.cost_usd + (self.stats.in_flight + 1) * per_call
        if expected <= self.budget_left + 1e-12:
            return False
        self.stop_reason = self.stop_reason or BUDGET
        self.stop_event.set()
        return True

    async def _run_cell(self, cell: Cell) -> dict:
        """One cell's final outcome as a history row: cached, answered, or failed after its attempts."""
        started_at = datetime.now(timezone.utc)
        use_cache = self.spec.cache_for(cell.version.params)
        outcome = await self.dispatcher.call(cell.model, cell.messages, cell.version.params, use_cache)
        return self._row(cell, self.dispatcher.routes[cell.model.label], started_at, outcome)

    def _row(self, cell: Cell, found: Route, started_at: datetime, outcome: Outcome) -> dict:
        """The history row of a cell's final outcome."""
        return outcome_row(outcome, found, started_at, self._input_json(cell), run_id=self.info.id,
                           cell_key=cell.cell_key, prompt_id=self.info.prompt_id, version_id=cell.version.id,
                           team_id=self.info.team_id, project_id=self.info.project_id, user_id=self.ctx.actor.user_id)

    def _input_json(self, cell: Cell) -> str:
        """The rendered messages as JSON, serialised once per version × case."""
        key = id(cell.messages)
        if key not in self.inputs:
            self.inputs[key] = json.dumps(cell.messages, ensure_ascii=False)
        return self.inputs[key]

    def _collect(self, row: dict) -> None:
        """Buffer a finished cell's row and count it."""
        self.buffer.append(row)
        stats = self.stats
        if row.get("error") is None:
            stats.done += 1
        else:
            stats.failed += 1
        stats.cached += bool(row["cache_hit"])
        stats.cost_usd += row["cost_usd"]
        stats.input_tokens += row.get("input_tokens") or 0
        stats.output_tokens += row.get("output_tokens") or 0
        if len(self.buffer) >= FLUSH_ROWS:
            self.flush_soon.set()

    async def _flusher(self) -> None:
        """Flush every FLUSH_SECONDS (or sooner when the buffer fills), and watch for a cancel request."""
        beat = time.monotonic()
        while not self.closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.flush_soon.wait(), FLUSH_SECONDS)
            self.flush_soon.clear()
            try:
                cancel = await self._flush()
            except Exception as exc:  # noqa: BLE001 - the history cannot be written: stop calling (rows are kept)
                self.stop_reason = f"stopped: the history could not be written ({exc})"
                self.stop_event.set()
                return
            if cancel is None and time.monotonic() - beat > HEARTBEAT_SECONDS:
                cancel = await asyncio.to_thread(runs.heartbeat, self.ctx.db, self.info.id)
            if cancel is not None:
                beat = time.monotonic()
            if cancel:
                self.stop_reason = "cancelled"
                self.stop_event.set()

    async def _flush(self, final: bool = False) -> bool | None:
        """Write buffered rows as a part, then count them on the run; whether a cancel was asked (None: nothing)."""
        if not self.buffer and not final:
            return None
        rows, self.buffer = self.buffer, []
        answers = self.dispatcher.take_cache_writes()
        progress = await asyncio.to_thread(self._persist, rows, answers)
        return progress.cancel_requested

    def _persist(self, rows: list[dict], answers: list) -> runs.Progress:
        """Durable rows first, then the run's counters and the cache (a crash between leaves a recount)."""
        if rows:
            self.writer.append(rows)
            self.uncounted.extend(rows)
        self.writer.flush()  # on failure the writer keeps the rows for the next flush, and they stay uncounted
        rows, self.uncounted = self.uncounted, []
        failed = sum(1 for r in rows if r.get("error") is not None)
        cost = math.fsum(r["cost_usd"] for r in rows)
        tokens = (sum(r.get("input_tokens") or 0 for r in rows), sum(r.get("output_tokens") or 0 for r in rows))
        progress = runs.record_progress(self.ctx.db, self.info.id, len(rows) - failed, failed, cost, tokens)
        if answers:
            response_cache.store(self.ctx.db, self.info.team_id, answers)
        return progress

    async def _ticker(self) -> None:
        """Report progress to the callback a few times a second."""
        while True:
            self._report()
            await asyncio.sleep(TICK_SECONDS)

    def _report(self) -> None:
        """Call the progress callback, if any."""
        if self.on_progress is not None:
            self.on_progress(self.stats)

    async def _finish(self) -> None:
        """Give the run its final status and report the last progress."""
        left = self.info.total_cells - self.stats.finished_cells
        if self.stop_reason == "cancelled":
            status, error = "cancelled", None
        elif self.stop_reason == BUDGET:
            spent = self.prior_cost + self.stats.cost_usd
            status, error = "failed", f"stopped before exceeding the budget: ${spent:,.4f} spent, {left} cells not run"
        elif self.stop_reason is not None:
            status, error = "failed", self.stop_reason
        else:
            status, error = "done", None
        await asyncio.to_thread(runs.finish_run, self.ctx.db, self.info.id, status, error)
        self.stats.status = status
        self._report()
