"""Run records on both backends: lifecycle, cancel, atomic progress under concurrent writers, resume, roles;
team prices and budgets (admins)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import update

from promptvault import audit, library, runs, versioning
from promptvault.errors import NoChangeError, NotFoundError, PermissionDeniedError, ValidationError
from promptvault.run_plan import estimate, plan_run
from promptvault.run_spec import parse_spec
from promptvault.store.tables import Project, Run, utcnow

SPEC = {"prompt": "p", "models": ["offline/echo"], "cases": [{"x": "1"}, {"x": "2"}], "repeats": 2}


@pytest.fixture
def planned(ctx):
    """A prompt `p`, and the plan and estimate of SPEC (4 cells on offline/echo)."""
    library.create_prompt(ctx, "p")
    versioning.commit(ctx, "p", "say {{ x }}", {}, "v1")
    spec = parse_spec(SPEC)
    plan = plan_run(ctx, spec)
    return spec, plan, estimate(plan)


def new_run(ctx, planned):
    spec, plan, est = planned
    return runs.create_run(ctx, spec, plan, est)


def test_run_lifecycle(ctx, planned):
    run = new_run(ctx, planned)
    assert (run.status, run.total_cells, run.done_cells, run.created_by) == ("pending", 4, 0, ctx.actor.email)
    assert run.spec["prompt"] == "p" and run.estimate["calls"] == 4 and run.estimate["cost_usd"] == 0.0
    assert runs.mark_started(ctx.db, run.id)
    progress = runs.record_progress(ctx.db, run.id, done=3, failed=1, cost=0.5, tokens=(10, 20))
    assert (progress.done_cells, progress.failed_cells, progress.cost_usd, progress.cancel_requested) == (3, 1, 0.5, False)
    assert runs.finish_run(ctx.db, run.id, "done")
    got = runs.get_run(ctx, run.id)
    assert (got.status, got.input_tokens, got.output_tokens, got.remaining_cells) == ("done", 10, 20, 0)
    assert got.started_at <= got.finished_at and got.finished
    assert not runs.finish_run(ctx.db, run.id, "failed")  # a final status is final
    assert not runs.mark_started(ctx.db, run.id)


def test_finish_run_records_the_error(ctx, planned):
    run = new_run(ctx, planned)
    runs.finish_run(ctx.db, run.id, "failed", "provider down " + "x" * 5000)
    got = runs.get_run(ctx, run.id)
    assert got.status == "failed" and got.error.startswith("provider down") and len(got.error) == runs.MAX_ERROR_CHARS
    with pytest.raises(ValueError):
        runs.finish_run(ctx.db, run.id, "running")


def test_list_runs_newest_first(ctx, planned):
    ids = [new_run(ctx, planned).id for _ in range(3)]
    assert [r.id for r in runs.list_runs(ctx)] == ids[::-1]
    assert len(runs.list_runs(ctx, limit=2)) == 2


def test_cancel_a_running_run_sets_the_flag(ctx, planned):
    run = new_run(ctx, planned)
    runs.mark_started(ctx.db, run.id)
    assert runs.request_cancel(ctx, run.id).cancel_requested
    assert runs.record_progress(ctx.db, run.id, done=1).cancel_requested
    assert runs.heartbeat(ctx.db, run.id)
    assert runs.finish_run(ctx.db, run.id, "cancelled")
    with pytest.raises(NoChangeError, match="already finished"):
        runs.request_cancel(ctx, run.id)


def test_cancel_a_pending_run_ends_it_and_it_never_starts(ctx, planned):
    run = new_run(ctx, planned)
    assert runs.request_cancel(ctx, run.id).status == "cancelled"
    assert not runs.mark_started(ctx.db, run.id)


def test_progress_increments_are_atomic_under_concurrency(ctx, planned):
    run = new_run(ctx, planned)
    runs.mark_started(ctx.db, run.id)

    def bump(_):
        runs.record_progress(ctx.db, run.id, done=1, failed=1, cost=0.25, tokens=(3, 5))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(bump, range(40)))
    got = runs.get_run(ctx, run.id)
    assert (got.done_cells, got.failed_cells, got.input_tokens, got.output_tokens) == (40, 40, 120, 200)
    assert got.cost_usd == pytest.approx(10.0)


def test_progress_refuses_negative_increments(ctx, planned):
    run = new_run(ctx, planned)
    with pytest.raises(ValueError):
        runs.record_progress(ctx.db, run.id, done=-1)
    with pytest.raises(NotFoundError):
        runs.record_progress(ctx.db, 999_999, done=1)


def test_set_progress_recounts_on_resume(ctx, planned):
    run = new_run(ctx, planned)
    runs.record_progress(ctx.db, run.id, done=4)
    runs.set_progress(ctx.db, run.id, 2, 1, 0.1, (5, 6))
    got = runs.get_run(ctx, run.id)
    assert (got.done_cells, got.failed_cells, got.cost_usd, got.input_tokens) == (2, 1, 0.1, 5)


def test_resumable_runs_are_active_with_a_stale_heartbeat(ctx, planned):
    fresh, stale, old_pending, finished = (new_run(ctx, planned) for _ in range(4))
    for run in (fresh, stale):
        runs.mark_started(ctx.db, run.id)
    runs.finish_run(ctx.db, finished.id, "done")
    long_ago = utcnow() - timedelta(minutes=10)
    with ctx.db.write() as session:
        session.execute(update(Run).where(Run.id == stale.id).values(heartbeat_at=long_ago))
        session.execute(update(Run).where(Run.id.in_([old_pending.id, finished.id])).values(created_at=long_ago))
    assert [r.id for r in runs.resumable_runs(ctx.db)] == [stale.id, old_pending.id]
    assert {r.id for r in runs.resumable_runs(ctx.db, stale_after=timedelta(0))} == {fresh.id, stale.id, old_pending.id}


def test_runs_roles(ctx, planned, person):
    run = new_run(ctx, planned)
    viewer, editor = person("viewer@example.com", "viewer"), person("editor@example.com", "editor")
    spec, plan, est = planned
    assert runs.get_run(viewer, run.id).id == run.id
    assert [r.id for r in runs.list_runs(viewer)] == [run.id]
    with pytest.raises(PermissionDeniedError, match="run.start needs the editor role"):
        runs.create_run(viewer, spec, plan, est)
    with pytest.raises(PermissionDeniedError):
        runs.request_cancel(viewer, run.id)
    assert runs.create_run(editor, spec, plan, est).created_by == "editor@example.com"
    assert runs.request_cancel(editor, run.id).status == "cancelled"


def test_a_non_member_sees_no_run(ctx, planned, person):
    run = new_run(ctx, planned)
    outsider = person("out@example.com", None)
    outsider_in_project = replace(outsider, project_id=ctx.project_id)  # even naming the project shows nothing
    for call in (lambda: runs.get_run(outsider_in_project, run.id), lambda: runs.request_cancel(outsider_in_project, run.id)):
        with pytest.raises(NotFoundError, match=f"no run {run.id}"):
            call()
    with pytest.raises(NotFoundError):
        runs.list_runs(outsider_in_project)
    with pytest.raises(NotFoundError):
        runs.get_run(ctx, 999_999)


def test_prices_and_budgets_are_for_admins(ctx, person):
    editor, admin = person("editor@example.com", "editor"), person("admin@example.com", "admin")
    with pytest.raises(PermissionDeniedError, match="admin role"):
        runs.set_price(editor, "m/x", 1e-6, 1e-6)
    with pytest.raises(PermissionDeniedError, match="admin role"):
        runs.set_budget(editor, 10)
    runs.set_price(admin, "m/x", 1e-6, 2e-6)
    runs.set_price(admin, "m/x", 3e-6, 4e-6)  # updates in place
    assert runs.price_overrides(editor) == {"m/x": (3e-6, 4e-6)}
    status = runs.set_budget(admin, 25)
    assert (status.limit_usd, status.spent_usd, status.left_usd) == (25, 0, 25)
    assert runs.get_budget(editor).limit_usd == 25
    assert runs.set_budget(admin, None) is None and runs.get_budget(editor) is None
    with ctx.db.read() as session:
        team_id = session.get(Project, ctx.project_id).team_id
    actions = [e.action for e in audit.list_events(admin, team_id)]
    assert actions.count("price.set") == 2 and actions.count("budget.set") == 2


@pytest.mark.parametrize("model, price_in, price_out, message", [
    ("", 1, 1, "model:"), ("m", -1, 0, "input price"), ("m", 0, float("nan"), "output price"),
])
def test_set_price_validates(ctx, model, price_in, price_out, message):
    with pytest.raises(ValidationError, match=message):
        runs.set_price(ctx, model, price_in, price_out)


def test_set_budget_validates(ctx):
    with pytest.raises(ValidationError, match="budget"):
        runs.set_budget(ctx, -5)
