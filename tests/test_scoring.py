"""Scoring over real HTTP to the loopback fake: deterministic checks at a run's end, LLM judges and pick-best
through the runner's dispatcher (cache, cost, audit), judges that time out or answer garbage, re-scoring
without calling the models, resume of a killed scoring, and the evaluation numbers."""

from __future__ import annotations

import pytest

from promptvault import audit, evaluation, history, library, runner, runs, scorer, scorings, vault, versioning
from promptvault.errors import NotFoundError, PermissionDeniedError, ValidationError
from promptvault.run_spec import parse_spec
from promptvault.testing.fake_provider import FakeConfig, FakeProvider

CASES = [{"name": "Ada", "expected": "Hello Ada"}, {"name": "Bob", "expected": "Hello Bob"},
         {"name": "Cy", "expected": "Goodbye"}]
JUDGE_REPLY = '{{"reasoning": "polite", "score": 8}}'
PICK_REPLY = '{{"reasoning": "B is warmer", "best": "B"}}'


@pytest.fixture
def fake():
    replies = {"judge": JUDGE_REPLY, "picker": PICK_REPLY, "garbage": "I really liked it!",
               "answerer": "Hello {last_user}"}
    with FakeProvider(FakeConfig(replies=replies)) as server:
        yield server


@pytest.fixture
def hello(ctx):
    """Prompt `hello` v1 = '{{ name }}' (so the offline echo and the fake repeat the name)."""
    library.create_prompt(ctx, "hello")
    versioning.commit(ctx, "hello", "{{ name }}", {"temperature": 0}, "v1")
    return ctx


def model(fake, name):
    return {"model": name, "api_base": fake.base_url}


def run_with(ctx, workspace, fake, checks, models=None, **extra):
    spec = parse_spec({"prompt": "hello", "cases": CASES, "models": models or [model(fake, "answerer")],
                       "checks": checks, "concurrency": 4, "timeout": 5, **extra})
    info = runner.start(ctx, spec)
    return runner.run_to_end(ctx, info.id, workspace.settings.data_dir)


def scores_of(ctx, run_id):
    found = scorings.latest(ctx, run_id)
    return found, scorings.load_scores(ctx, found.id)


def judge_rows(workspace, run_id):
    rows = history.HistoryReader(workspace.settings.data_dir).rows(run_id=run_id)
    return rows.filter(rows["cell_key"].str.starts_with("judge:"))


def test_deterministic_checks_score_every_output_at_the_end_of_a_run(hello, workspace, fake):
    final = run_with(hello, workspace, fake, ["equals", {"contains": "Hello"}, {"type": "latency", "max_ms": 60000}])
    found, scores = scores_of(hello, final.id)
    assert final.status == "done" and found.status == "done" and found.judge_calls == 0
    assert len(scores) == 3
    passed = {key.rsplit(":", 2)[1]: s.passed for key, s in scores.items()}
    assert passed == {"1": True, "2": True, "3": False}
    third = next(s for k, s in scores.items() if k.endswith(":3:1"))
    assert third.failed_names() == ["equals expected"]
    assert final.done_cells == 3 and judge_rows(workspace, final.id).height == 0


def test_llm_judge_goes_through_the_fake_and_is_recorded_costed_and_cached(hello, workspace, fake):
    runs.set_price(hello, "judge", 1e-6, 1e-6)
    checks = [{"type": "llm-judge", "model": model(fake, "judge"), "rubric": "Is it polite?"}]
    final = run_with(hello, workspace, fake, checks)
    found, scores = scores_of(hello, final.id)
    assert fake.calls("judge") == 3 and found.judge_calls == 3
    result = next(iter(scores.values())).results[0]
    assert result.passed and result.score == pytest.approx(0.8) and result.reasoning == "polite"
    rows = judge_rows(workspace, final.id)
    assert rows.height == 3 and rows["version_id"].null_count() == 3 and set(rows["model"]) == {f"judge@{fake.base_url}"}
    assert found.cost_usd == pytest.approx(rows["cost_usd"].sum()) and found.cost_usd > 0
    assert runs.get_run(hello, final.id).cost_usd == pytest.approx(found.cost_usd)  # the run's cost counts its judges
    assert final.done_cells == 3  # judge calls are no cells
    again = scorer.rescore(hello, workspace.settings.data_dir, final.id, checks)
    assert again.status == "done" and fake.calls("judge") == 3  # temperature 0: served from the cache
    assert judge_rows(workspace, final.id).height == 6 and judge_rows(workspace, final.id)["cache_hit"].sum() == 3


def test_a_judge_that_answers_garbage_or_times_out_gives_the_check_an_error_not_a_crash(hello, workspace, fake):
    checks = [{"contains": "Hello"},
              {"type": "llm-judge", "name": "garbage", "model": model(fake, "garbage"), "rubric": "r"},
              {"type": "llm-judge", "name": "slow", "model": model(fake, "judge@outcome=timeout"), "rubric": "r"}]
    fake.configure(hold=30)
    final = run_with(hello, workspace, fake, checks, timeout=1)
    found, scores = scores_of(hello, final.id)
    assert final.status == "done" and found.status == "done"
    for score in scores.values():
        garbage, slow = score.results[1], score.results[2]
        assert not garbage.passed and "gave no score" in garbage.error and "I really liked it" in garbage.error
        assert not slow.passed and "timeout" in slow.error
        assert score.results[0].passed and not score.passed


def test_only_if_passed_skips_the_judge_for_outputs_that_failed_deterministic_checks(hello, workspace, fake):
    checks = ["equals", {"type": "llm-judge", "model": model(fake, "judge"), "rubric": "r", "only_if_passed": True}]
    final = run_with(hello, workspace, fake, checks)
    _, scores = scores_of(hello, final.id)
    assert fake.calls("judge") == 2
    third = next(s for k, s in scores.items() if k.endswith(":3:1"))
    assert "not judged" in third.results[1].detail and not third.results[1].passed


def test_pick_best_picks_one_column_per_case(hello, workspace, fake):
    checks = [{"type": "pick-best", "model": model(fake, "picker")}]
    final = run_with(hello, workspace, fake, checks, models=["offline/echo", model(fake, "answerer")])
    found, scores = scores_of(hello, final.id)
    assert fake.calls("picker") == 3 and found.judge_calls == 3
    winners = sorted((key.rsplit(":", 2)[1], "answerer" in key) for key, s in scores.items() if s.passed)
    # the fake always answers B; the answers' order turns with each row, so B is a different column in turn
    assert winners == [("1", True), ("2", False), ("3", True)]
    assert all(s.results[0].reasoning == "B is warmer" for s in scores.values())


def test_rescore_changes_checks_without_calling_the_models(hello, workspace, fake):
    final = run_with(hello, workspace, fake, [{"contains": "Hello"}])
    calls = fake.calls()
    changed = scorer.rescore(hello, workspace.settings.data_dir, final.id, [{"contains": "Ada"}])
    assert fake.calls() == calls and changed.status == "done"
    assert [s.id for s in scorings.list_for_run(hello, final.id)] == [changed.id, changed.id - 1]
    scored = evaluation.evaluate_run(hello, workspace.settings.data_dir, final.id)
    assert scored.scoring.id == changed.id and scored.columns[0].passed == 1 and scored.columns[0].outputs == 3


def test_rescore_refuses_bad_checks_and_other_teams(hello, workspace, fake, person):
    final = run_with(hello, workspace, fake, [])
    root = workspace.settings.data_dir
    with pytest.raises(ValidationError, match=r"checks.0 \(regex\)"):
        scorer.rescore(hello, root, final.id, [{"regex": "(unclosed"}])
    with pytest.raises(ValidationError, match="at least one check"):
        scorer.rescore(hello, root, final.id, [])
    with pytest.raises(PermissionDeniedError, match="editor"):
        scorer.rescore(person("viewer@example.com"), root, final.id, ["is-json"])
    with pytest.raises(NotFoundError, match=f"no run {final.id}"):
        scorer.rescore(person("stranger@example.com", role=None), root, final.id, ["is-json"])


def test_judge_keys_come_from_the_vault_and_each_decryption_is_audited(hello, workspace, fake):
    fake.configure(expected_api_key="sk-judge-secret-123456")
    team_id = runs.team_of_project(hello)
    key = vault.add_key(hello, team_id, "openai", "sk-judge-secret-123456", label="judge-key")
    checks = [{"type": "llm-judge", "model": {"model": "judge", "api_base": fake.base_url, "key": "judge-key"},
               "rubric": "r"}]
    final = run_with(hello, workspace, fake, checks, models=["offline/echo"])
    found, scores = scores_of(hello, final.id)
    assert all(s.passed for s in scores.values())
    uses = [e for e in audit.list_events(hello, team_id) if e.action == "key.decrypt"]
    assert len(uses) == 1 and f"scoring {found.id} of run {final.id}" in str(uses[0].details)
    rows = history.HistoryReader(workspace.settings.data_dir).rows(run_id=final.id)
    assert "sk-judge-secret" not in str(rows.to_dicts())


def test_evaluation_gives_pass_rates_intervals_and_agreement_over_repeats(hello, workspace, fake):
    final = run_with(hello, workspace, fake, ["equals"], models=["offline/echo", model(fake, "answerer")], repeats=2)
    scored = evaluation.evaluate_run(hello, workspace.settings.data_dir, final.id)
    echo, answerer = scored.columns
    assert (answerer.outputs, answerer.passed) == (6, 4) and answerer.pass_rate == pytest.approx(4 / 6)
    assert answerer.ci_low < 4 / 6 < answerer.ci_high and answerer.agreement == 1.0
    assert echo.passed == 0 and answerer.on_front
    verdict = scored.cells[(3, answerer.column_key)]
    assert verdict.outputs == 2 and verdict.passed == 0 and verdict.failed_checks == ["equals expected"]


def test_compare_with_a_baseline_lists_newly_failing_cases_first(hello, workspace, fake):
    root = workspace.settings.data_dir
    no_bye = [{"type": "contains", "value": "Bye", "negate": True}]
    base = run_with(hello, workspace, fake, no_bye)
    versioning.commit(hello, "hello", "Bye {{ name }}", {"temperature": 0}, "v2")
    now = run_with(hello, workspace, fake, no_bye, baseline=base.id, versions=[2])
    result = evaluation.compare(evaluation.evaluate_run(hello, root, now.id), evaluation.evaluate_run(hello, root, base.id))
    column = result.columns[0]
    assert column.baseline_key is not None and (column.baseline_passed, column.passed) == (3, 0)
    assert column.verdict == "worse" and column.test.p_value < 0.05 and column.delta == pytest.approx(-1.0)
    assert [c.case for c in result.regressions] == [1, 2, 3] and result.cases[0].status == "newly failing"
    same = evaluation.compare(evaluation.evaluate_run(hello, root, base.id), evaluation.evaluate_run(hello, root, base.id))
    assert same.columns[0].verdict == "no significant change" and same.regressions == []


def test_a_missing_baseline_run_is_refused_at_start(hello, workspace, fake):
    with pytest.raises(NotFoundError, match="no run 999"):
        run_with(hello, workspace, fake, [], baseline=999)


def test_analytics_counts_judge_calls_by_their_model_without_a_version(hello, workspace, fake):
    from promptvault import analytics

    runs.set_price(hello, "judge", 1e-6, 1e-6)
    final = run_with(hello, workspace, fake, [{"type": "llm-judge", "model": model(fake, "judge"), "rubric": "r"}])
    root = workspace.settings.data_dir
    filters = analytics.Filters()
    assert analytics.totals(hello, root, filters).calls == 6  # 3 cells and 3 judge calls
    for name in ("cost_over_time", "latency", "tokens", "errors", "versions", "top_users", "top_prompts"):
        analytics.view(hello, root, name, filters)  # rows without a version never break a view
    versions = analytics.view(hello, root, "versions", filters)
    assert versions.height >= 1 and runs.get_run(hello, final.id).cost_usd > 0


def test_a_failed_rescore_says_why_and_keeps_the_last_good_scores(hello, workspace, fake, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    root = workspace.settings.data_dir
    final = run_with(hello, workspace, fake, [{"contains": "Hello"}])
    failed = scorer.rescore(hello, root, final.id, [{"type": "llm-judge", "model": "openai/gpt-4o-mini", "rubric": "r"}])
    assert failed.status == "failed" and "no 'openai' key" in failed.error
    assert scorings.latest(hello, final.id).id == failed.id
    shown = evaluation.evaluate_run(hello, root, final.id)
    assert shown.scoring.id == failed.id - 1 and shown.columns[0].passed == 3


def test_judges_stop_at_the_runs_budget(hello, workspace, fake):
    fake.configure(prompt_tokens=100, completion_tokens=10)
    runs.set_price(hello, "answerer", 0.0, 0.0)
    runs.set_price(hello, "judge", 1e-4, 1e-4)  # 110 tokens: $0.011 a judge call
    checks = [{"type": "llm-judge", "model": model(fake, "judge"), "rubric": "r"}]
    final = run_with(hello, workspace, fake, checks, budget_usd=0.025, concurrency=1)
    found, scores = scores_of(hello, final.id)
    assert fake.calls("judge") == 2 and found.judge_calls == 2
    refused = [s.results[0] for s in scores.values() if s.results[0].error]
    assert len(refused) == 1 and "budget is spent" in refused[0].error
    spent = runs.get_run(hello, final.id).cost_usd
    assert spent == pytest.approx(0.022) and spent <= 0.025


def test_a_rescore_left_by_a_dead_process_is_resumed_once_its_lock_is_free(hello, workspace, fake):
    from datetime import timedelta

    from promptvault.background import BackgroundExecutor
    from promptvault.store.tables import Scoring

    root = workspace.settings.data_dir
    final = run_with(hello, workspace, fake, [])
    left = scorings.create(hello, final.id, [{"contains": "Ada"}])
    scorings.mark_running(workspace.db, left.id)  # as if its process died mid-way
    executor = BackgroundExecutor(workspace, sweep=False)
    try:
        assert executor.resume_orphan_scorings() == []  # too fresh: its process may be about to lock it
        with workspace.db.write() as session:
            session.get(Scoring, left.id).created_at -= timedelta(minutes=5)
        with scorer.scoring_lock(root, left.id):  # a live process holds it
            assert executor.resume_orphan_scorings() == []
        assert executor.resume_orphan_scorings() == [left.id]
        assert executor.wait_scoring(left.id, timeout=60).status == "done"
        assert evaluation.evaluate_run(hello, root, final.id).columns[0].passed == 1
        assert executor.resume_orphan_scorings() == []
    finally:
        executor.stop()


def test_a_run_stopped_at_its_budget_calls_no_judge(hello, workspace, fake):
    fake.configure(prompt_tokens=100, completion_tokens=10)
    runs.set_price(hello, "answerer", 1e-4, 1e-4)  # $0.011 a cell, though the estimate says far less
    runs.set_price(hello, "judge", 1e-6, 1e-6)
    checks = [{"contains": "Hello"}, {"type": "llm-judge", "model": model(fake, "judge"), "rubric": "r"}]
    final = run_with(hello, workspace, fake, checks, budget_usd=0.015, concurrency=1, params={"max_tokens": 10})
    found, scores = scores_of(hello, final.id)
    assert final.status == "failed" and "budget" in final.error and fake.calls("judge") == 0
    assert found.status == "done" and len(scores) == final.done_cells < 3
    assert all("stopped at its budget" in s.results[1].error and s.results[0].passed for s in scores.values())


def test_comparing_runs_scored_with_different_checks_says_so(hello, workspace, fake):
    root = workspace.settings.data_dir
    base = run_with(hello, workspace, fake, [{"contains": "Hello"}])
    now = run_with(hello, workspace, fake, [{"contains": "Ada"}], baseline=base.id)
    assert not evaluation.compare(evaluation.evaluate_run(hello, root, now.id),
                                  evaluation.evaluate_run(hello, root, base.id)).same_checks
    scorer.rescore(hello, root, now.id, [{"contains": "Hello"}])
    assert evaluation.compare(evaluation.evaluate_run(hello, root, now.id),
                              evaluation.evaluate_run(hello, root, base.id)).same_checks
