"""Plan a run before anything is called: resolve versions and cases, render every prompt, expand the cells,
estimate tokens and cost, and refuse a run over the team's budget."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from promptvault.errors import TemplateError, ValidationError
from promptvault.run_spec import ModelSpec, RunSpec

DEFAULT_OUTPUT_TOKENS = 256  # output tokens a call is assumed to use when the params set no max_tokens
Messages = list[dict[str, str]]
Prices = Mapping[str, tuple[float, float]]


@dataclass(frozen=True)
class PlannedVersion:
    """A version the run calls, with the ref it was named by and the params its calls use."""

    id: int
    number: int
    ref: str
    variables: list[str]
    params: dict[str, Any]


@dataclass(frozen=True)
class PlannedCase:
    """A test case by position (from 1): a dataset's position, or the inline case's place in the spec."""

    position: int
    variables: dict[str, Any]
    expected: str | None = None


@dataclass(frozen=True)
class Cell:
    """One call of the run: a version × model × case × repeat (from 1), its stable key and rendered messages."""

    cell_key: str
    version: PlannedVersion
    model: ModelSpec
    case: PlannedCase
    repeat: int
    messages: Messages


@dataclass(frozen=True)
class RunPlan:
    """A resolved run: the versions, models and cases, and every version × case rendered (cells are expanded lazily)."""

    spec: RunSpec
    prompt: str
    prompt_id: int
    versions: list[PlannedVersion]
    cases: list[PlannedCase]
    rendered: dict[tuple[int, int], Messages]  # (version id, case position) -> messages

    @property
    def models(self) -> list[ModelSpec]:
        """The spec's models."""
        return list(self.spec.models)

    @property
    def total_cells(self) -> int:
        """How many calls the run makes."""
        return len(self.versions) * len(self.spec.models) * len(self.cases) * self.spec.repeats

    def cells(self, skip: set[str] | frozenset[str] = frozenset()) -> Iterator[Cell]:
        """Every cell in a stable order (version, model, case, repeat), without those whose key is in `skip`."""
        for version in self.versions:
            for model in self.spec.models:
                for case in self.cases:
                    messages = self.rendered[(version.id, case.position)]
                    for repeat in range(1, self.spec.repeats + 1):
                        key = cell_key(version.id, model.label, case.position, repeat)
                        if key not in skip:
                            yield Cell(key, version, model, case, repeat, messages)


@dataclass(frozen=True)
class ModelEstimate:
    """One model's share of the estimate; cost None when its price is unknown."""

    model: str
    calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    offline: bool = False


@dataclass(frozen=True)
class Estimate:
    """What a run is expected to use before it starts; cost None when some model's price is unknown."""

    calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    known_cost_usd: float
    unknown_price: list[str] = field(default_factory=list)
    models: list[ModelEstimate] = field(default_factory=list)
    run_budget_usd: float | None = None
    versions: list[dict[str, Any]] = field(default_factory=list)  # id, number and the ref each was named by

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, as stored with the run."""
        return asdict(self)


@dataclass(frozen=True)
class BudgetStatus:
    """A team's monthly budget: the limit, what its runs cost so far this month, and what is left."""

    limit_usd: float
    spent_usd: float

    @property
    def left_usd(self) -> float:
        """What may still be spent this month."""
        return max(self.limit_usd - self.spent_usd, 0.0)


def cell_key(version_id: int, model_label: str, case_position: int, repeat: int) -> str:
    """The stable key of a cell: the same spec gives the same keys, so a resumed run skips what is done."""
    return f"{version_id}:{model_label}:{case_position}:{repeat}"


def plan_run(ctx, spec: RunSpec) -> RunPlan:
    """Resolve and render everything a run needs; a missing variable or a render error names its case."""
    from promptvault import versioning

    seen: dict[int, PlannedVersion] = {}
    infos = {}
    for ref in spec.versions:
        info = versioning.show(ctx, spec.prompt, str(ref))
        if info.id not in seen:  # `main` and `3` may name the same version: call it once
            params = {k: v for k, v in info.config.items() if k != "model"} | spec.params
            seen[info.id] = PlannedVersion(info.id, info.number, str(ref), list(info.variables), params)
            infos[info.id] = info
    prompt_id = _prompt_id(ctx, spec.prompt)
    cases = _cases(ctx, spec)
    versions = list(seen.values())
    for version in versions:
        _check_variables(spec, version, cases)
    rendered = {(v.id, c.position): _render(infos[v.id].content, v, c) for v in versions for c in cases}
    return RunPlan(spec, spec.prompt, prompt_id, versions, cases, rendered)


def _prompt_id(ctx, name: str) -> int:
    """The prompt's id (show has already checked the role)."""
    from promptvault.library import load_prompt

    with ctx.db.read() as session:
        return load_prompt(session, ctx, name).id


def _cases(ctx, spec: RunSpec) -> list[PlannedCase]:
    """The dataset's cases, or the inline ones checked like imported cases."""
    from promptvault import dataset_io, datasets

    if spec.dataset is not None:
        found = [PlannedCase(c.position, c.variables, c.expected) for c in datasets.get_cases(ctx, spec.dataset)]
        if not found:
            raise ValidationError(f"dataset '{spec.dataset}' has no test cases")
        return found
    cases = []
    for position, raw in enumerate(spec.cases or [], start=1):
        variables = {k: v for k, v in raw.items() if k != "expected"}
        data = dataset_io.make_case(variables, raw.get("expected"), [], f"cases.{position - 1}")
        cases.append(PlannedCase(position, data.variables, data.expected))
    return cases


def run_cases(ctx, spec: dict[str, Any]) -> dict[int, PlannedCase]:
    """A recorded run's cases by position: its inline cases, or its dataset as it is now ({} when it is gone)."""
    from promptvault.errors import PromptVaultError

    try:
        return {case.position: case for case in _cases(ctx, RunSpec.model_validate(spec))}
    except PromptVaultError:  # deleted, renamed or emptied since
        return {}


def _check_variables(spec: RunSpec, version: PlannedVersion, cases: list[PlannedCase]) -> None:
    """Refuse, before any call, a case that lacks a variable the version needs."""
    for case in cases:
        for name in version.variables:
            if name not in case.variables:
                source = f"dataset '{spec.dataset}'" if spec.dataset else "the spec's inline cases"
                raise ValidationError(
                    f"case {case.position} of {source} has no variable '{name}' that "
                    f"'{spec.prompt}' v{version.number} needs"
                )


def _render(content: Any, version: PlannedVersion, case: PlannedCase) -> Messages:
    """The messages one case renders to; a text prompt becomes one user message."""
    from promptvault.templates import render

    try:
        rendered = render(content, case.variables)
    except TemplateError as error:
        raise TemplateError(f"case {case.position} with v{version.number}: {error}") from None
    return [{"role": "user", "content": rendered}] if isinstance(rendered, str) else rendered


def estimate(plan: RunPlan, overrides: Prices | None = None) -> Estimate:
    """Calls, tokens (litellm's counter per distinct model × messages) and cost (team overrides first)."""
    from promptvault import providers

    per_model, counted = [], {}
    repeats = plan.spec.repeats
    for model in plan.spec.models:
        input_tokens = output_tokens = 0
        for version in plan.versions:
            out = int(version.params.get("max_tokens") or DEFAULT_OUTPUT_TOKENS)
            for case in plan.cases:
                messages = plan.rendered[(version.id, case.position)]
                key = (model.model, json.dumps(messages, sort_keys=True))  # count each distinct prompt once per model
                if key not in counted:
                    counted[key] = providers.count_tokens(model.model, messages)
                input_tokens += counted[key] * repeats
                output_tokens += out * repeats
        calls = len(plan.versions) * len(plan.cases) * repeats
        per_model.append(_priced(model.model, calls, input_tokens, output_tokens, overrides))
    unknown = [m.model for m in per_model if m.cost_usd is None]
    known = sum(m.cost_usd or 0.0 for m in per_model)
    return Estimate(
        calls=sum(m.calls for m in per_model), input_tokens=sum(m.input_tokens for m in per_model),
        output_tokens=sum(m.output_tokens for m in per_model), cost_usd=None if unknown else known,
        known_cost_usd=known, unknown_price=unknown, models=per_model, run_budget_usd=plan.spec.budget_usd,
        versions=[{"id": v.id, "number": v.number, "ref": v.ref} for v in plan.versions],
    )


def _priced(model: str, calls: int, input_tokens: int, output_tokens: int, overrides: Prices | None) -> ModelEstimate:
    """One model's estimate with its cost: free offline, the override, litellm's price, or unknown (None)."""
    from promptvault import providers

    offline = providers.is_offline(model)
    price = (0.0, 0.0) if offline else (overrides or {}).get(model) or providers.price_per_token(model, overrides)
    cost = None if price is None else input_tokens * price[0] + output_tokens * price[1]
    return ModelEstimate(model, calls, input_tokens, output_tokens, cost, offline)


def month_start(now: datetime | None = None) -> datetime:
    """The first instant of the current calendar month in UTC."""
    now = now or datetime.now(timezone.utc)
    return now.astimezone(timezone.utc).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def budget_status(session: Session, team_id: int) -> BudgetStatus | None:
    """The team's budget and this month's spending (the cost of runs created this month), or None without one."""
    from promptvault.store.tables import Run, TeamBudget

    limit = session.scalar(select(TeamBudget.limit_usd).where(TeamBudget.team_id == team_id))
    if limit is None:
        return None
    spent = session.scalar(
        select(func.coalesce(func.sum(Run.cost_usd), 0.0)).where(Run.team_id == team_id, Run.created_at >= month_start())
    )
    return BudgetStatus(limit_usd=float(limit), spent_usd=float(spent or 0.0))


def refuse_over_budget(status: BudgetStatus | None, estimate: Estimate) -> None:
    """ValidationError when the estimate exceeds the run's own cap or what is left of the team's month."""
    cost = estimate.known_cost_usd
    if estimate.run_budget_usd is not None and (estimate.unknown_price or cost > estimate.run_budget_usd):
        raise ValidationError(_over(f"the spec's budget_usd of ${estimate.run_budget_usd:,.2f}", estimate))
    if status is not None and (estimate.unknown_price or cost > status.left_usd):
        raise ValidationError(_over(
            f"the team's budget (${status.left_usd:,.2f} left of ${status.limit_usd:,.2f} this month)", estimate
        ))


def _over(what: str, estimate: Estimate) -> str:
    """Why a run is refused, with what to do about it."""
    if estimate.unknown_price:
        models = ", ".join(estimate.unknown_price)
        return f"run refused: no price is known for {models}, so it cannot be held to {what}; set a price override"
    return f"run refused: its estimated cost ${estimate.known_cost_usd:,.4f} exceeds {what}"


def check_budget(ctx, estimate: Estimate) -> BudgetStatus | None:
    """Refuse (ValidationError) a run whose estimate exceeds the team's budget left this month; the status."""
    from promptvault.authz import require_project

    with ctx.db.read() as session:
        team_id = require_project(session, ctx, "run.start")
        status = budget_status(session, team_id)
    refuse_over_budget(status, estimate)
    return status
