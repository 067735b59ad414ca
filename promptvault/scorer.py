"""Scoring a run's outputs: deterministic checks for free, model-graded checks through a `Dispatcher`.

Judge calls have the run's retries, limits, cache, cost accounting and audit. Each is written to the run's
history under a key `judge:<scoring>:<check>:<target>` (target: the cell key, or `case:repeat` for pick-best),
with no version, so analytics counts judge spend by the judge's model and a resumed scoring reuses every
judge answer already written. A judge that fails, times out or answers garbage gives that check an error on
that output; it never stops the scoring.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from promptvault import filelock, gcpause, history, judging, response_cache, runs, scorings
from promptvault.history import JUDGE_PREFIX
from promptvault.checks import is_model_graded, parse_checks
from promptvault.grading import CheckResult, Observed, combine, evaluate, judged
from promptvault.context import Context
from promptvault.dispatch import Dispatcher, Outcome, outcome_row
from promptvault.errors import PromptVaultError
from promptvault.matrix import column_key, parse_cell_key
from promptvault.run_plan import run_cases
from promptvault.run_spec import ModelSpec

FLUSH_ROWS = 100
_READ = ["cell_key", "output", "error", "latency_ms", "cost_usd", "output_tokens"]


@dataclass(frozen=True)
class Target:
    """One output of the run, as scoring sees it."""

    cell_key: str
    column: str
    case: int
    repeat: int
    observed: Observed
    prompt: list[dict[str, Any]] | None


@dataclass
class ScoringStats:
    """Live counters of a scoring's judge calls."""

    scoring_id: int
    judge_total: int = 0
    judge_done: int = 0
    calls: int = 0
    retrying: int = 0
    cost_usd: float = 0.0


def is_judge_key(cell_key: str) -> bool:
    """Whether a history row is a judge call rather than a cell of the run."""
    return cell_key.startswith(JUDGE_PREFIX)


def rescore(ctx: Context, root: Path | str, run_id: int, checks: list[Any]) -> scorings.ScoringInfo:
    """Score a finished run again with these checks, without calling its models (judges are called)."""
    info = runs.get_run(ctx, run_id)
    if not info.finished:
        raise PromptVaultError(f"run {run_id} is still {info.status}; score it when it has finished")
    created = scorings.create(ctx, run_id, checks)
    return asyncio.run(execute(ctx, root, created.id))


async def execute(ctx: Context, root: Path | str, scoring_id: int, judges: bool = True,
                  on_progress: Callable[[ScoringStats], None] | None = None) -> scorings.ScoringInfo:
    """Score every output of the scoring's run and store the results (under the scoring's lock: one process
    at a time, ConflictError otherwise); the scoring's final record. A finished scoring returns at once."""
    info = await asyncio.to_thread(scorings.get, ctx, scoring_id)
    run = await asyncio.to_thread(runs.get_run, ctx, info.run_id)
    with scoring_lock(Path(root), scoring_id):
        info = await asyncio.to_thread(scorings.get, ctx, scoring_id)  # what the lock's last holder left
        if info.finished:
            return info
        job = _Scoring(ctx, Path(root), info, run, judges, ScoringStats(scoring_id), on_progress)
        try:
            await asyncio.to_thread(scorings.mark_running, ctx.db, scoring_id)
            await job.run()
        except asyncio.CancelledError:
            raise  # left running: a resume finishes it
        except Exception as exc:  # noqa: BLE001 - a broken scoring is reported on the scoring, never on the run
            await asyncio.to_thread(scorings.fail, ctx.db, scoring_id, str(exc) or type(exc).__name__)
    return await asyncio.to_thread(scorings.get, ctx, scoring_id)


def scoring_lock(root: Path, scoring_id: int) -> contextlib.AbstractContextManager[None]:
    """Hold a scoring's execution lock (the kernel drops it when the process dies); ConflictError if held."""
    return filelock.execution(_lock_path(root, scoring_id), f"scoring {scoring_id}")


def is_locked(root: Path, scoring_id: int) -> bool:
    """Whether some live process is executing the scoring."""
    return filelock.is_executing(_lock_path(root, scoring_id))


def _lock_path(root: Path, scoring_id: int) -> Path:
    """Where a scoring's execution lock lives."""
    return Path(root) / "runs" / f"scoring-{scoring_id}.lock"


class _Scoring:
    """One execution of a scoring."""

    def __init__(self, ctx: Context, root: Path, info: scorings.ScoringInfo, run: runs.RunInfo, judges: bool,
                 stats: ScoringStats, on_progress: Callable[[ScoringStats], None] | None):
        self.ctx, self.root, self.info, self.run_info, self.judges = ctx, root, info, run, judges
        self.checks = parse_checks(info.checks)
        self.stats, self.on_progress = stats, on_progress
        self.writer = history.HistoryWriter(root)
        self.buffer: list[dict] = []
        self.write_lock = asyncio.Lock()
        self.spec = run.spec
        self.answers = 0  # judge answers this scoring holds: called now, or written by an earlier execution
        self.budget_left: float | None = None  # what new judge calls may still spend (the spec's and the team's)
        self.new_cost, self.new_calls, self.in_flight = 0.0, 0, 0

    async def run(self) -> None:
        """Evaluate, judge, store."""
        expected = await asyncio.to_thread(self._expected)
        self.budget_left = await asyncio.to_thread(budget_left, self.ctx, self.run_info)
        targets, answered, results = await asyncio.to_thread(self._grade, expected)
        graded = [(i, c) for i, c in enumerate(self.checks) if is_model_graded(c)]
        if graded:
            await self._judge_all(graded, targets, results, answered)
        await asyncio.to_thread(self._store, results)

    def _grade(self, expected: dict[int, str | None]) -> tuple[list[Target], dict[str, dict], dict]:
        """Read the outputs and grade them with the deterministic checks (the collector paused: see gcpause)."""
        with gcpause.paused():
            targets, answered = self._read(expected)
            return targets, answered, {t.cell_key: self._deterministic(t) for t in targets}

    def _store(self, results: dict[str, list[CheckResult | None]]) -> None:
        """Combine each output's results and store them all."""
        with gcpause.paused():
            scores = {key: combine([r for r in found if r is not None]) for key, found in results.items()}
            scorings.save(self.ctx.db, self.info.id, scores, self.answers, self.stats.cost_usd)

    def _read(self, expected: dict[int, str | None]) -> tuple[list[Target], dict[str, dict]]:
        """The run's outputs (with their cases' expected outputs), and the judge answers this scoring already
        wrote (by key)."""
        judged = any(is_model_graded(c) for c in self.checks)  # only judges are shown the prompt
        columns = _READ + (["rendered_input"] if judged else [])
        frame = history.HistoryReader(self.root).rows(columns=columns, order_by="finished_at",
                                                        team_id=self.run_info.team_id, run_id=self.run_info.id)
        targets: dict[str, Target] = {}
        answered: dict[str, dict] = {}
        mine = f"{JUDGE_PREFIX}{self.info.id}:"
        for row in frame.iter_rows(named=True):
            key = row["cell_key"]
            if is_judge_key(key):
                if key.startswith(mine):
                    answered[key] = row
                continue
            version_id, model, case, repeat = parse_cell_key(key)
            observed = Observed(row["output"], row["error"], expected.get(case), row["latency_ms"], row["cost_usd"],
                                row["output_tokens"])
            targets[key] = Target(key, column_key(version_id, model), case, repeat, observed,
                                  _messages(row["rendered_input"]) if judged else None)
        return list(targets.values()), answered

    def _expected(self) -> dict[int, str | None]:
        """Each case's expected output: the run's inline cases, or its dataset as it is now."""
        return {position: case.expected for position, case in run_cases(self.ctx, self.spec).items()}

    def _deterministic(self, target: Target) -> list[CheckResult | None]:
        """The deterministic checks' results, with a placeholder for each model-graded one."""
        return [None if is_model_graded(c) else evaluate(c, target.observed) for c in self.checks]

    async def _judge_all(self, graded: list, targets: list[Target], results: dict, answered: dict) -> None:
        """Run every model-graded check, through one dispatcher whose keys are opened (and audited) once."""
        if not self.judges:
            for index, check in graded:
                for t in targets:
                    results[t.cell_key][index] = judged(check, None, None, "not judged: the run stopped at its budget")
            return
        self.judge_models = {index: judging.judge_model(check.model) for index, check in graded}
        jobs = []
        for index, check in graded:
            if check.type == "llm-judge":
                jobs += [self._judge_one(index, check, t, results, answered) for t in targets]
            else:
                rows: dict[tuple[int, int], list[Target]] = defaultdict(list)
                for t in targets:
                    rows[(t.case, t.repeat)].append(t)
                jobs += [self._pick_best(index, check, row, results, answered) for row in rows.values()]
        self.stats.judge_total = len(jobs)
        models = list({m.label: m for m in self.judge_models.values()}.values())
        prices = await asyncio.to_thread(runs.price_overrides, self.ctx)
        spec_concurrency = int(self.spec.get("concurrency") or 8)
        self.judge_slots, self.first_cost = asyncio.Semaphore(spec_concurrency), asyncio.Event()
        self.dispatcher = Dispatcher(self.ctx, self.run_info.team_id, spec_concurrency,
                                     float(self.spec.get("timeout") or 60), prices, counters=self.stats)
        with contextlib.ExitStack() as keys:
            purpose = f"scoring {self.info.id} of run {self.run_info.id}"
            await asyncio.to_thread(self.dispatcher.open_keys, keys, models, purpose)
            try:
                await asyncio.gather(*jobs)
            finally:
                self.dispatcher.release_keys()
                await self._flush()

    async def _judge_one(self, index: int, check, target: Target, results: dict, answered: dict) -> None:
        """Grade one output against the check's rubric."""
        own = results[target.cell_key]
        if target.observed.error is not None:
            own[index] = judged(check, None, None, "no output: the call failed")
        elif check.only_if_passed and not combine([r for r in own if r is not None]).passed:
            own[index] = judged(check, 0.0, None)._replace(detail="not judged: deterministic checks failed")
        else:
            messages = judging.judge_messages(check.rubric, target.prompt, target.observed.output or "")
            key = f"{JUDGE_PREFIX}{self.info.id}:{index}:{target.cell_key}"
            text, error = await self._ask(key, index, messages, answered)
            own[index] = _graded(check, text, error)
        self._tick()

    async def _pick_best(self, index: int, check, row: list[Target], results: dict, answered: dict) -> None:
        """Ask which answer of one case and repeat is best; the winner passes, the others fail."""
        candidates = [t for t in row if t.observed.error is None and (
            not check.only_if_passed or combine([r for r in results[t.cell_key] if r is not None]).passed)]
        if candidates:  # rotate the order per row, so a judge's bias for a position is spread over the columns
            turn = (row[0].case + row[0].repeat) % len(candidates)
            candidates = candidates[turn:] + candidates[:turn]
        for t in row:
            results[t.cell_key][index] = judged(check, 0.0, None)._replace(detail="not a candidate (failed call or checks)")
        if len(candidates) == 1:
            results[candidates[0].cell_key][index] = judged(check, 1.0, None)._replace(detail="the only answer")
        elif candidates:
            messages = judging.pick_messages(check.criteria, candidates[0].prompt,
                                             [t.observed.output or "" for t in candidates])
            key = f"{JUDGE_PREFIX}{self.info.id}:{index}:{row[0].case}:{row[0].repeat}"
            text, error = await self._ask(key, index, messages, answered)
            try:
                if error is not None:
                    raise judging.JudgeAnswerError(error)
                best, reasoning = judging.parse_pick(text, len(candidates))
            except judging.JudgeAnswerError as exc:
                for t in candidates:
                    results[t.cell_key][index] = judged(check, None, None, str(exc))
            else:
                for i, t in enumerate(candidates):
                    results[t.cell_key][index] = judged(check, 1.0 if i == best else 0.0, reasoning)
        self._tick()

    async def _ask(self, key: str, index: int, messages: list[dict], answered: dict) -> tuple[str | None, str | None]:
        """A judge's answer text (or why there is none): from this scoring's history, else a call."""
        if key in answered:
            self.answers += 1
            row = answered[key]
            self.stats.cost_usd += row.get("cost_usd") or 0.0
            return row.get("output"), row.get("error") and f"judge call failed: {row['error']}"
        async with self.judge_slots:
            if self.budget_left is not None and self.new_calls == 0 and self.in_flight > 0:
                await self.first_cost.wait()  # under a budget, one call prices the rest before they go out
            if self._over_budget():
                return None, "not judged: the budget is spent (the spec's budget_usd or the team's month)"
            self.answers += 1
            outcome, row = await self._call_judge(key, self.judge_models[index], messages)
        if outcome.error is not None:
            return None, f"judge call failed ({outcome.error.kind}): {outcome.error.message}"
        return row.get("output"), None

    async def _call_judge(self, key: str, model: ModelSpec, messages: list[dict]) -> tuple[Outcome, dict]:
        """One judge call through the dispatcher, counted and buffered as a history row."""
        started_at = datetime.now(timezone.utc)
        self.in_flight += 1
        try:
            outcome: Outcome = await self.dispatcher.call(model, messages, judging.JUDGE_PARAMS, use_cache=True)
        finally:
            self.in_flight -= 1
        row = outcome_row(outcome, self.dispatcher.routes[model.label], started_at,
                          json.dumps(messages, ensure_ascii=False), run_id=self.run_info.id, cell_key=key,
                          prompt_id=self.run_info.prompt_id, version_id=None, team_id=self.run_info.team_id,
                          project_id=self.run_info.project_id, user_id=self.ctx.actor.user_id)
        self.stats.cost_usd += row["cost_usd"]
        self.new_cost, self.new_calls = self.new_cost + row["cost_usd"], self.new_calls + 1
        self.first_cost.set()
        await self._keep(row)
        return outcome, row

    def _over_budget(self) -> bool:
        """Whether one more judge call, with those in flight, would pass the budget at the mean cost so far."""
        if self.budget_left is None:
            return False
        mean = self.new_cost / self.new_calls if self.new_calls else 0.0
        return self.new_cost + (self.in_flight + 1) * mean > self.budget_left + 1e-12

    async def _keep(self, row: dict) -> None:
        """Buffer a judge call's row; write a part every FLUSH_ROWS."""
        self.buffer.append(row)
        if len(self.buffer) >= FLUSH_ROWS:
            await self._flush()

    async def _flush(self) -> None:
        """Write buffered judge rows, cache their answers, and add their cost and tokens to the run."""
        async with self.write_lock:
            rows, self.buffer = self.buffer, []
            answers = self.dispatcher.take_cache_writes()
            if rows or answers:
                await asyncio.to_thread(self._persist, rows, answers)

    def _persist(self, rows: list[dict], answers: list) -> None:
        """Durable judge rows, then the run's cost and the cache."""
        if rows:
            self.writer.append(rows)
            self.writer.flush()
            cost = math.fsum(r["cost_usd"] for r in rows)
            tokens = (sum(r.get("input_tokens") or 0 for r in rows), sum(r.get("output_tokens") or 0 for r in rows))
            runs.record_progress(self.ctx.db, self.run_info.id, 0, 0, cost, tokens)
        if answers:
            response_cache.store(self.ctx.db, self.run_info.team_id, answers)

    def _tick(self) -> None:
        """Count a finished judge job and report progress."""
        self.stats.judge_done += 1
        if self.on_progress is not None:
            self.on_progress(self.stats)


def budget_left(ctx: Context, run: runs.RunInfo) -> float | None:
    """What a run's judges may still spend: its spec's budget_usd and its team's month, less what is spent."""
    from promptvault.run_plan import budget_status

    limits = []
    if run.spec.get("budget_usd") is not None:
        limits.append(float(run.spec["budget_usd"]) - run.cost_usd)
    with ctx.db.read() as session:
        status = budget_status(session, run.team_id)
    if status is not None:
        limits.append(status.limit_usd - status.spent_usd)  # the run's cost is in this month's spending
    return min(limits) if limits else None


def _graded(check, text: str | None, error: str | None) -> CheckResult:
    """A llm-judge result from the judge's answer, or the error that stands for it."""
    if error is not None:
        return judged(check, None, None, error)
    try:
        score, reasoning = judging.parse_judgement(text)
    except judging.JudgeAnswerError as exc:
        return judged(check, None, None, str(exc))
    return judged(check, score, reasoning)


def _messages(rendered: str | None) -> list[dict[str, Any]] | None:
    """The rendered messages a cell sent, or None when they cannot be read."""
    try:
        value = json.loads(rendered) if rendered else None
    except ValueError:
        return None
    return value if isinstance(value, list) else None
