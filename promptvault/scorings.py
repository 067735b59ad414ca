"""Scoring records: a run's checks and each output's results, stored per scoring (the latest finished one counts).

A run's own checks are scored when its cells are done; a re-score stores a new scoring with new or changed
checks and leaves the outputs, and earlier scorings, as they were.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update

from promptvault import gcpause, runs
from promptvault.checks import check_name, dump_checks, parse_checks
from promptvault.grading import CheckResult, OutputScore
from promptvault.context import Context
from promptvault.errors import NotFoundError, ValidationError
from promptvault.store import Database
from promptvault.store.tables import CellScore, Run, Scoring, User, utcnow

FINISHED = ("done", "failed")
MAX_ERROR_CHARS = 2_000
INSERT_BATCH = 1_000
MEMO_SCORINGS = 8  # decoded finished scorings kept per process (a 20,000-output scoring is about 20 MB)
_memo: OrderedDict[tuple, dict[str, OutputScore]] = OrderedDict()
_memo_lock = threading.Lock()


@dataclass(frozen=True)
class ScoringInfo:
    """One scoring of a run: its checks, status, and the judge calls it made."""

    id: int
    run_id: int
    checks: list[dict[str, Any]]
    status: str
    error: str | None
    judge_calls: int
    cost_usd: float
    created_at: datetime
    finished_at: datetime | None

    @property
    def finished(self) -> bool:
        """Whether the scoring reached done or failed."""
        return self.status in FINISHED


def create(ctx: Context, run_id: int, checks: list[Any]) -> ScoringInfo:
    """Record a pending scoring of a finished (or finishing) run with these checks (editors)."""
    parsed = parse_checks(checks or [])
    if not parsed:
        raise ValidationError("checks: give at least one check to score the run with")
    with ctx.db.write() as session:
        run = runs._load(session, ctx, run_id, "run.start")
        scoring = Scoring(run_id=run.id, checks=dump_checks(parsed), status="pending", created_by=ctx.actor.user_id)
        session.add(scoring)
        session.flush()
        return _info(scoring)


def unfinished(ctx: Context, run_id: int) -> ScoringInfo | None:
    """The run's newest pending or running scoring (left by a killed process), if any."""
    with ctx.db.read() as session:
        runs._load(session, ctx, run_id, "prompt.read")
        row = session.scalar(select(Scoring).where(Scoring.run_id == run_id, Scoring.status.in_(("pending", "running")))
                             .order_by(Scoring.id.desc()).limit(1))
        return _info(row) if row is not None else None


def get(ctx: Context, scoring_id: int) -> ScoringInfo:
    """A scoring of a run the actor may read (NotFoundError otherwise)."""
    with ctx.db.read() as session:
        row = session.get(Scoring, scoring_id)
        if row is None:
            raise NotFoundError(f"no scoring {scoring_id}")
        try:
            runs._load(session, ctx, row.run_id, "prompt.read")
        except NotFoundError:
            raise NotFoundError(f"no scoring {scoring_id}") from None
        return _info(row)


def latest(ctx: Context, run_id: int, statuses: tuple[str, ...] | None = FINISHED) -> ScoringInfo | None:
    """The run's newest scoring with one of these statuses (None: any), or None."""
    with ctx.db.read() as session:
        runs._load(session, ctx, run_id, "prompt.read")
        query = select(Scoring).where(Scoring.run_id == run_id)
        if statuses is not None:
            query = query.where(Scoring.status.in_(statuses))
        row = session.scalar(query.order_by(Scoring.id.desc()).limit(1))
        return _info(row) if row is not None else None


def list_for_run(ctx: Context, run_id: int) -> list[ScoringInfo]:
    """Every scoring of a run, newest first."""
    with ctx.db.read() as session:
        runs._load(session, ctx, run_id, "prompt.read")
        rows = session.scalars(select(Scoring).where(Scoring.run_id == run_id).order_by(Scoring.id.desc()))
        return [_info(row) for row in rows]


def load_scores(ctx: Context, scoring_id: int) -> dict[str, OutputScore]:
    """Each output's results by cell key (shared and read-only: a finished scoring never changes, so its
    decoded results are kept for the next page run)."""
    info = get(ctx, scoring_id)  # the role check, every time
    memo_key = (str(ctx.db.engine.url), scoring_id, info.created_at)  # a reset database reuses ids, not times
    with _memo_lock:
        found = _memo.get(memo_key)
        if found is not None and info.status == "done":
            _memo.move_to_end(memo_key)
            return found
    meta = [(check_name(c), c.type, c.weight) for c in parse_checks(info.checks)]
    with ctx.db.read() as session, gcpause.paused():
        rows = session.execute(select(CellScore.cell_key, CellScore.passed, CellScore.score, CellScore.results)
                               .where(CellScore.scoring_id == scoring_id))
        found = {key: OutputScore(passed, score, _decode(meta, results)) for key, passed, score, results in rows}
    if info.status == "done":
        with _memo_lock:
            _memo[memo_key] = found
            while len(_memo) > MEMO_SCORINGS:
                _memo.popitem(last=False)
    return found


def _encode(result: CheckResult) -> list[Any]:
    """A result as stored: [passed, score, detail, error, reasoning], trailing nulls dropped (its name, type and
    weight are the scoring's checks'); a passing check's detail is not kept."""
    _, _, passed, score, _, detail, error, reasoning = result
    if reasoning is not None:
        return [int(passed), score, detail or None, error, reasoning]
    if error is not None:
        return [int(passed), score, detail or None, error]
    return [int(passed), score, detail] if detail and not passed else [int(passed), score]


def _decode(meta: list[tuple[str, str, float]], stored: list[list[Any]]) -> list[CheckResult]:
    """Results from their stored form, named by the scoring's checks."""
    results = []
    for (name, kind, weight), item in zip(meta, stored):
        size = len(item)
        results.append(CheckResult(name, kind, item[0] == 1, item[1], weight, (item[2] or "") if size > 2 else "",
                                   item[3] if size > 3 else None, item[4] if size > 4 else None))
    return results


def orphans(db: Database, older_than: timedelta) -> list[tuple[int, int, str]]:
    """(scoring id, its run's project, its creator's e-mail) of each unfinished re-score of a finished run created more
    than `older_than` ago: left by a process that died, unless some process holds its lock (see scorer)."""
    cutoff = utcnow() - older_than
    with db.read() as session:
        rows = session.execute(
            select(Scoring.id, Run.project_id, User.email).join(Run, Run.id == Scoring.run_id)
            .join(User, User.id == Scoring.created_by)
            .where(Scoring.status.in_(("pending", "running")), Run.status.in_(runs.FINAL), Scoring.created_at < cutoff)
            .order_by(Scoring.id))
        return [tuple(row) for row in rows]


def mark_running(db: Database, scoring_id: int) -> None:
    """A scoring has started executing."""
    with db.write() as session:
        session.execute(update(Scoring).where(Scoring.id == scoring_id).values(status="running", error=None))


def save(db: Database, scoring_id: int, scores: dict[str, OutputScore], judge_calls: int, cost: float) -> None:
    """Store every output's results and finish the scoring, in one transaction."""
    with db.write() as session:
        session.execute(delete(CellScore).where(CellScore.scoring_id == scoring_id))
        rows = [{"scoring_id": scoring_id, "cell_key": key, "passed": s.passed, "score": s.score,
                 "results": [_encode(r) for r in s.results]} for key, s in scores.items()]
        for start in range(0, len(rows), INSERT_BATCH):
            session.execute(insert(CellScore), rows[start:start + INSERT_BATCH])
        session.execute(update(Scoring).where(Scoring.id == scoring_id).values(
            status="done", judge_calls=judge_calls, cost_usd=cost, finished_at=utcnow()))


def fail(db: Database, scoring_id: int, error: str) -> None:
    """Finish a scoring as failed, saying why."""
    with db.write() as session:
        session.execute(update(Scoring).where(Scoring.id == scoring_id).values(
            status="failed", error=error[:MAX_ERROR_CHARS], finished_at=utcnow()))


def run_of(db: Database, scoring_id: int) -> Run:
    """The run a scoring belongs to (no role check: for the executor, which acts for the scoring's creator)."""
    with db.read() as session:
        row = session.get(Scoring, scoring_id)
        if row is None:
            raise NotFoundError(f"no scoring {scoring_id}")
        run = session.get(Run, row.run_id)
        session.expunge(run)
        return run


def _info(row: Scoring) -> ScoringInfo:
    """A row as ScoringInfo."""
    return ScoringInfo(row.id, row.run_id, list(row.checks or []), row.status, row.error, row.judge_calls or 0,
                       float(row.cost_usd or 0.0), row.created_at, row.finished_at)
