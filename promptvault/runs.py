"""Run records: create, read, list, cancel; the executor's progress, heartbeat and finish; team prices and budgets."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from promptvault import audit
from promptvault.authz import Role, require, require_project, roles_of
from promptvault.context import Context
from promptvault.errors import NoChangeError, NotFoundError, PermissionDeniedError, ValidationError
from promptvault.run_plan import BudgetStatus, Estimate, RunPlan, budget_status, refuse_over_budget
from promptvault.run_spec import RunSpec
from promptvault.store import Database
from promptvault.store.tables import PriceOverride, Run, TeamBudget, User, utcnow

ACTIVE = ("pending", "running")
FINAL = ("done", "failed", "cancelled")
STALE_AFTER = timedelta(seconds=60)  # a running run whose heartbeat is older was left by a dead process
MAX_ERROR_CHARS = 2_000


@dataclass(frozen=True)
class RunInfo:
    """A run as lists and the progress view show it."""

    id: int
    team_id: int
    project_id: int
    prompt_id: int | None
    spec: dict[str, Any]
    status: str
    total_cells: int
    done_cells: int
    failed_cells: int
    cost_usd: float
    input_tokens: int
    output_tokens: int
    estimate: dict[str, Any]
    cancel_requested: bool
    error: str | None
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None

    @property
    def finished(self) -> bool:
        """Whether the run reached a final status."""
        return self.status in FINAL

    @property
    def remaining_cells(self) -> int:
        """Cells neither done nor failed yet."""
        return max(self.total_cells - self.done_cells - self.failed_cells, 0)


@dataclass(frozen=True)
class Progress:
    """The counters after a progress update, and whether someone asked the run to stop."""

    done_cells: int
    failed_cells: int
    cost_usd: float
    cancel_requested: bool


@dataclass(frozen=True)
class PriceInfo:
    """A team's price override for a model, USD per token."""

    model: str
    input_per_token: float
    output_per_token: float


def create_run(ctx: Context, spec: RunSpec, plan: RunPlan, estimate: Estimate) -> RunInfo:
    """Record a pending run (editors); refused if its estimate exceeds the run's cap or the team's budget left."""
    with ctx.db.write() as session:
        team_id = require_project(session, ctx, "run.start")
        session.scalar(select(TeamBudget.team_id).where(TeamBudget.team_id == team_id).with_for_update())  # serialize starts
        refuse_over_budget(budget_status(session, team_id), estimate)  # checked again, under the lock
        run = Run(
            team_id=team_id, project_id=ctx.project_id, prompt_id=plan.prompt_id, spec=spec.model_dump(mode="json"),
            status="pending", total_cells=plan.total_cells, estimate=estimate.to_dict(), created_by=ctx.actor.user_id,
        )
        session.add(run)
        session.flush()
        return _info(session, run)


def get_run(ctx: Context, run_id: int) -> RunInfo:
    """One run of a team the actor belongs to (NotFoundError otherwise)."""
    with ctx.db.read() as session:
        run = _load(session, ctx, run_id, "prompt.read")
        return _info(session, run)


def list_runs(ctx: Context, limit: int = 50) -> list[RunInfo]:
    """The project's runs, newest first."""
    with ctx.db.read() as session:
        require_project(session, ctx, "prompt.read")
        rows = session.scalars(
            select(Run).where(Run.project_id == ctx.project_id, Run.kind == "run")  # not the playground's call records
            .order_by(Run.id.desc()).limit(max(1, min(limit, 1000)))
        )
        emails: dict[int, str] = {}
        return [_info(session, run, emails) for run in rows]


def request_cancel(ctx: Context, run_id: int) -> RunInfo:
    """Ask a run to stop (editors); a run that never started is cancelled at once."""
    with ctx.db.write() as session:
        run = _load(session, ctx, run_id, "run.start", for_update=True)
        if run.status in FINAL:
            raise NoChangeError(f"run {run_id} has already finished ({run.status})")
        run.cancel_requested = True
        if run.status == "pending":
            run.status, run.finished_at = "cancelled", utcnow()
        return _info(session, run)


def mark_started(db: Database, run_id: int) -> bool:
    """Move a run to running (again, on resume) unless it finished or was cancelled; whether it may run."""
    now = utcnow()
    with db.write() as session:
        result = session.execute(
            update(Run).where(Run.id == run_id, Run.status.in_(ACTIVE), Run.cancel_requested.is_(False))
            .values(status="running", started_at=func.coalesce(Run.started_at, now), heartbeat_at=now)
        )
        return result.rowcount == 1


def record_progress(
    db: Database, run_id: int, done: int = 0, failed: int = 0, cost: float = 0.0, tokens: tuple[int, int] = (0, 0)
) -> Progress:
    """Add finished cells, cost and (input, output) tokens atomically (safe from many writers); beats the heartbeat."""
    if min(done, failed, *tokens) < 0 or not math.isfinite(cost) or cost < 0:
        raise ValueError("progress increments must be non-negative")
    with db.write() as session:
        session.execute(
            update(Run).where(Run.id == run_id).values(
                done_cells=Run.done_cells + done, failed_cells=Run.failed_cells + failed, cost_usd=Run.cost_usd + cost,
                input_tokens=Run.input_tokens + tokens[0], output_tokens=Run.output_tokens + tokens[1], heartbeat_at=utcnow(),
            )
        )
        row = session.execute(
            select(Run.done_cells, Run.failed_cells, Run.cost_usd, Run.cancel_requested).where(Run.id == run_id)
        ).one_or_none()
    if row is None:
        raise NotFoundError(f"no run {run_id}")
    return Progress(row.done_cells, row.failed_cells, float(row.cost_usd), bool(row.cancel_requested))


def set_progress(db: Database, run_id: int, done: int, failed: int, cost: float, tokens: tuple[int, int]) -> None:
    """Set the counters outright (a resumed run recounts them from the history it finds)."""
    with db.write() as session:
        session.execute(update(Run).where(Run.id == run_id).values(
            done_cells=done, failed_cells=failed, cost_usd=cost, input_tokens=tokens[0], output_tokens=tokens[1],
            heartbeat_at=utcnow(),
        ))


def heartbeat(db: Database, run_id: int) -> bool:
    """Mark a running run alive; whether a cancel was requested."""
    with db.write() as session:
        session.execute(update(Run).where(Run.id == run_id).values(heartbeat_at=utcnow()))
        return bool(session.scalar(select(Run.cancel_requested).where(Run.id == run_id)))


def finish_run(db: Database, run_id: int, status: str, error: str | None = None) -> bool:
    """Give an active run its final status (done, failed, cancelled); whether this call finished it."""
    if status not in FINAL:
        raise ValueError(f"unknown final status '{status}'")
    with db.write() as session:
        result = session.execute(
            update(Run).where(Run.id == run_id, Run.status.in_(ACTIVE))
            .values(status=status, error=(error or None) and error[:MAX_ERROR_CHARS], finished_at=utcnow())
        )
        return result.rowcount == 1


def resumable_runs(db: Database, stale_after: timedelta = STALE_AFTER) -> list[RunInfo]:
    """Pending or running runs whose process seems gone (no heartbeat for `stale_after`), oldest first."""
    cutoff = utcnow() - stale_after
    with db.read() as session:
        rows = session.scalars(
            select(Run).where(
                Run.status.in_(ACTIVE),
                or_(Run.heartbeat_at < cutoff, and_(Run.heartbeat_at.is_(None), Run.created_at < cutoff)),
            ).order_by(Run.id)
        )
        emails: dict[int, str] = {}
        return [_info(session, run, emails) for run in rows]


def set_price(ctx: Context, model: str, input_per_token: float, output_per_token: float) -> PriceInfo:
    """Set the team's price for a model, USD per token (admins); it takes precedence over litellm's map. Audited."""
    model = (model or "").strip()
    if not model or len(model) > 200:
        raise ValidationError("model: give a model name of 1-200 characters")
    for name, value in (("input price", input_per_token), ("output price", output_per_token)):
        if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ValidationError(f"{name}: must be a non-negative number of USD per token")
    with ctx.db.write() as session:
        team_id = _require_admin(session, ctx)
        row = session.scalar(select(PriceOverride).where(PriceOverride.team_id == team_id, PriceOverride.model == model))
        if row is None:
            row = PriceOverride(team_id=team_id, model=model)
            session.add(row)
        row.input_per_token, row.output_per_token = float(input_per_token), float(output_per_token)
        row.updated_by, row.updated_at = ctx.actor.user_id, utcnow()
        audit.append(session, ctx.keyring, action="price.set", actor=ctx.actor, team_id=team_id, target=model,
                     details={"usd_per_input": row.input_per_token, "usd_per_output": row.output_per_token})
    return PriceInfo(model, row.input_per_token, row.output_per_token)


def price_overrides(ctx: Context) -> dict[str, tuple[float, float]]:
    """The team's price overrides by model: (input, output) USD per token, for `run_plan.estimate`."""
    with ctx.db.read() as session:
        team_id = require_project(session, ctx, "prompt.read")
        rows = session.execute(select(PriceOverride.model, PriceOverride.input_per_token, PriceOverride.output_per_token)
                               .where(PriceOverride.team_id == team_id).order_by(PriceOverride.model))
        return {model: (float(i), float(o)) for model, i, o in rows}


def set_budget(ctx: Context, limit_usd: float | None) -> BudgetStatus | None:
    """Set the team's monthly budget in USD, or remove it with None (admins). Audited."""
    if limit_usd is not None and (not isinstance(limit_usd, (int, float)) or not math.isfinite(limit_usd) or limit_usd < 0):
        raise ValidationError("budget: must be a non-negative number of USD per month")
    with ctx.db.write() as session:
        team_id = _require_admin(session, ctx)
        row = session.get(TeamBudget, team_id)
        if limit_usd is None and row is not None:
            session.delete(row)
        elif limit_usd is not None:
            row = row or TeamBudget(team_id=team_id)
            row.limit_usd, row.updated_by, row.updated_at = float(limit_usd), ctx.actor.user_id, utcnow()
            session.add(row)
        audit.append(session, ctx.keyring, action="budget.set", actor=ctx.actor, team_id=team_id,
                     target=f"team:{team_id}", details={"limit_usd": limit_usd})
        session.flush()
        return budget_status(session, team_id)


def get_budget(ctx: Context) -> BudgetStatus | None:
    """The team's budget and this month's spending, or None without a budget."""
    with ctx.db.read() as session:
        return budget_status(session, require_project(session, ctx, "prompt.read"))


def team_of_project(ctx: Context) -> int:
    """The team of the context's project, if the actor may start runs there."""
    with ctx.db.read() as session:
        return require_project(session, ctx, "run.start")


def _require_admin(session: Session, ctx: Context) -> int:
    """The project's team if the actor is an admin or owner there (NotFound for non-members)."""
    team_id = require_project(session, ctx, "prompt.read")
    role = roles_of(session, ctx.actor.user_id)[team_id]
    if role < Role.ADMIN:
        raise PermissionDeniedError(f"prices and budgets need the admin role or higher; you are {role}")
    return team_id


def _load(session: Session, ctx: Context, run_id: int, action: str, for_update: bool = False) -> Run:
    """A run the actor may act on; a run of another team is reported as missing."""
    query = select(Run).where(Run.id == run_id)
    run = session.scalar(query.with_for_update() if for_update else query)
    if run is None:
        raise NotFoundError(f"no run {run_id}")
    try:
        require(session, ctx, run.team_id, action)
    except NotFoundError:
        raise NotFoundError(f"no run {run_id}") from None
    return run


def _info(session: Session, run: Run, emails: dict[int, str] | None = None) -> RunInfo:
    """A row as RunInfo (creators' e-mails cached in `emails` across a list)."""
    emails = {} if emails is None else emails
    if run.created_by not in emails:
        emails[run.created_by] = session.scalar(select(User.email).where(User.id == run.created_by)) or ""
    return RunInfo(
        id=run.id, team_id=run.team_id, project_id=run.project_id, prompt_id=run.prompt_id, spec=run.spec,
        status=run.status, total_cells=run.total_cells, done_cells=run.done_cells, failed_cells=run.failed_cells,
        cost_usd=float(run.cost_usd or 0.0), input_tokens=run.input_tokens, output_tokens=run.output_tokens,
        estimate=run.estimate, cancel_requested=run.cancel_requested, error=run.error, created_by=emails[run.created_by],
        created_at=run.created_at, started_at=run.started_at, finished_at=run.finished_at, heartbeat_at=run.heartbeat_at,
    )
