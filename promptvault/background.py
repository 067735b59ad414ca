"""The app's executor: one asyncio loop on its own thread per server process; pages only submit runs and poll.

Runs outlive the Streamlit script run that started them (and the browser tab). Live counters are kept in
memory for the progress view; the run's record in the store is the truth. A run left active by a process
that died (its lock is free and its heartbeat old) is picked up again when the executor starts, and by a
periodic sweep. `Executor` is the interface a distributed executor (e.g. Celery workers) would implement.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from datetime import timedelta
from pathlib import Path
from typing import Protocol

from promptvault import accounts, runner, runs, scorer, scorings
from promptvault.context import Context
from promptvault.workspace import Workspace

SWEEP_SECONDS = 30.0
ORPHAN_AFTER = timedelta(seconds=15)  # longer than a CLI needs between creating a run and locking it
_log = logging.getLogger(__name__)
_executors: dict[str, BackgroundExecutor] = {}
_executors_lock = threading.Lock()


class Executor(Protocol):
    """Where the app's runs execute."""

    def submit(self, ctx: Context, run_id: int) -> None:
        """Start executing a recorded run."""

    def stats(self, run_id: int) -> runner.RunStats | None:
        """Live counters of a run executing here, if any."""

    def error(self, run_id: int) -> str | None:
        """Why an execution here ended with an exception, if it did."""

    def submit_scoring(self, ctx: Context, scoring_id: int) -> None:
        """Start executing a recorded scoring (a re-score)."""

    def scoring_stats(self, scoring_id: int) -> scorer.ScoringStats | None:
        """Live judge counters of a scoring executing here, if any."""


class BackgroundExecutor:
    """An event loop on a daemon thread that executes runs and resumes orphaned ones."""

    def __init__(self, workspace: Workspace, sweep: bool = True):
        self.workspace = workspace
        self.data_dir: Path = workspace.settings.data_dir
        self.loop = asyncio.new_event_loop()
        self._live: dict[int, runner.RunStats] = {}
        self._futures: dict[int, concurrent.futures.Future] = {}
        self._scorings: dict[int, concurrent.futures.Future] = {}
        self._live_scorings: dict[int, scorer.ScoringStats] = {}
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self.loop.run_forever, name="promptvault-runs", daemon=True)
        self._thread.start()
        if sweep:
            asyncio.run_coroutine_threadsafe(self._sweep_forever(), self.loop)

    def submit(self, ctx: Context, run_id: int) -> None:
        """Execute a run on the loop unless it is already executing here."""
        with self._lock:
            running = self._futures.get(run_id)
            if running is not None and not running.done():
                return
            coroutine = runner.execute(ctx, run_id, self.data_dir, on_progress=self._track(run_id))
            future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
            self._futures[run_id] = future

    def submit_scoring(self, ctx: Context, scoring_id: int) -> None:
        """Execute a recorded scoring (a re-score) on the loop unless it is already executing here."""
        with self._lock:
            running = self._scorings.get(scoring_id)
            if running is not None and not running.done():
                return
            coroutine = scorer.execute(ctx, self.data_dir, scoring_id, on_progress=self._track_scoring(scoring_id))
            self._scorings[scoring_id] = asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def scoring_stats(self, scoring_id: int) -> scorer.ScoringStats | None:
        """The latest judge counters of a scoring executed here."""
        return self._live_scorings.get(scoring_id)

    def wait_scoring(self, scoring_id: int, timeout: float | None = None):
        """Block until a scoring submitted here ends; its final record, or None if not here."""
        future = self._scorings.get(scoring_id)
        return None if future is None else future.result(timeout)

    def _track_scoring(self, scoring_id: int):
        """A progress callback that keeps the scoring's latest counters."""
        def keep(stats: scorer.ScoringStats) -> None:
            self._live_scorings[scoring_id] = stats
        return keep

    def _track(self, run_id: int):
        """A progress callback that keeps the run's latest counters."""
        def keep(stats: runner.RunStats) -> None:
            self._live[run_id] = stats
        return keep

    def stats(self, run_id: int) -> runner.RunStats | None:
        """The latest counters of a run executed here."""
        return self._live.get(run_id)

    def error(self, run_id: int) -> str | None:
        """The exception an execution ended with, as text."""
        future = self._futures.get(run_id)
        if future is None or not future.done() or future.cancelled() or future.exception() is None:
            return None
        return str(future.exception())

    def wait(self, run_id: int, timeout: float | None = None) -> runs.RunInfo | None:
        """Block until a run submitted here ends (tests, shutdown); its final record, or None if not here."""
        future = self._futures.get(run_id)
        return None if future is None else future.result(timeout)

    def resume_orphans(self) -> list[int]:
        """Submit every active run no live process holds (e.g. after a restart); their ids."""
        resumed = []
        for info in runs.resumable_runs(self.workspace.db, ORPHAN_AFTER):
            if runner.is_locked(self.data_dir, info.id):
                continue
            try:
                actor = accounts.actor_for_email(self.workspace.db, info.created_by)
            except Exception:  # noqa: BLE001 - the creator is gone: the run cannot act for anyone
                runs.finish_run(self.workspace.db, info.id, "failed", "its creator's account no longer exists")
                continue
            ctx = Context(self.workspace.db, actor, info.project_id, self.workspace.keyring)
            self.submit(ctx, info.id)
            resumed.append(info.id)
        return resumed

    def resume_orphan_scorings(self) -> list[int]:
        """Submit every unfinished re-score no live process holds (its own run's scoring resumes with the run)."""
        resumed = []
        for scoring_id, project_id, email in scorings.orphans(self.workspace.db, ORPHAN_AFTER):
            if scorer.is_locked(self.data_dir, scoring_id):
                continue
            try:
                actor = accounts.actor_for_email(self.workspace.db, email)
            except Exception:  # noqa: BLE001 - the creator is gone: nobody may spend on their behalf
                scorings.fail(self.workspace.db, scoring_id, "its creator's account no longer exists")
                continue
            self.submit_scoring(Context(self.workspace.db, actor, project_id, self.workspace.keyring), scoring_id)
            resumed.append(scoring_id)
        return resumed

    async def _sweep_forever(self) -> None:
        """Resume orphans now and every SWEEP_SECONDS."""
        while True:
            try:
                await asyncio.to_thread(self.resume_orphans)
                await asyncio.to_thread(self.resume_orphan_scorings)
            except Exception:  # noqa: BLE001 - a sweep must not stop the loop; the next one tries again
                _log.exception("resuming interrupted runs failed")
            await asyncio.sleep(SWEEP_SECONDS)

    def stop(self) -> None:
        """Cancel what runs on the loop and stop it (unfinished runs stay active and resume on the next start)."""
        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            asyncio.run_coroutine_threadsafe(cancel_all(), self.loop).result(timeout=10)
        except (concurrent.futures.TimeoutError, RuntimeError):
            pass  # a loop already stopped, or a task slow to let go: the daemon thread ends with the process
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)


def executor_for(workspace: Workspace) -> BackgroundExecutor:
    """The process's executor for a workspace, created on first use."""
    key = str(workspace.settings.data_dir)
    with _executors_lock:
        if key not in _executors:
            _executors[key] = BackgroundExecutor(workspace)
        return _executors[key]


def stop_all() -> None:
    """Stop every executor of this process (tests; a clean shutdown)."""
    with _executors_lock:
        executors = list(_executors.values())
        _executors.clear()
    for executor in executors:
        executor.stop()
