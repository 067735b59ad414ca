"""The runner over real HTTP to the loopback fake provider, on both backends: every cell exactly once, retries
that honour Retry-After, no retries for 400/401, the breaker, SIGKILL then resume, cancel, cache, budget, keys."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import timedelta

import pytest

from promptvault import audit, datasets, history, library, runner, runs, vault, versioning
from promptvault.background import BackgroundExecutor
from promptvault.errors import ConflictError, ValidationError
from promptvault.run_spec import parse_spec
from promptvault.store.tables import Run
from promptvault.testing.fake_provider import FakeConfig, FakeProvider


@pytest.fixture
def fake():
    with FakeProvider(FakeConfig()) as server:
        yield server


@pytest.fixture
def greet(ctx):
    """Prompt `greet` (v1 at temperature 0.7, so no cache by default) and dataset `people` of 12 cases."""
    library.create_prompt(ctx, "greet")
    versioning.commit(ctx, "greet", "Hello {{ name }}", {"temperature": 0.7}, "v1")
    names = "\n".join(f"person{i}" for i in range(12))
    datasets.import_cases(ctx, "people", f"name\n{names}\n".encode(), "people.csv")
    return ctx


def spec_for(fake, model="fake-model", **changes):
    return parse_spec({"prompt": "greet", "models": [{"model": model, "api_base": fake.base_url}],
                       "dataset": "people", "concurrency": 4, "timeout": 10, **changes})


def execute(ctx, workspace, spec):
    info = runner.start(ctx, spec)
    return runner.run_to_end(ctx, info.id, workspace.settings.data_dir)


def rows_of(workspace, run_id):
    return history.HistoryReader(workspace.settings.data_dir).rows(run_id=run_id).sort("cell_key")


def test_happy_path_writes_every_cell_once_with_usage_and_cost(greet, workspace, fake):
    runs.set_price(greet, "fake-model", 1e-6, 2e-6)
    spec = parse_spec({"prompt": "greet", "dataset": "people", "repeats": 2, "concurrency": 8,
                       "models": ["offline/echo", {"model": "fake-model", "api_base": fake.base_url}]})
    final = execute(greet, workspace, spec)
    rows = rows_of(workspace, final.id)
    assert final.status == "done" and final.done_cells == 48 and final.failed_cells == 0
    assert rows.height == 48 and rows["cell_key"].n_unique() == 48
    assert fake.calls("fake-model") == 24
    answered = rows.filter(rows["provider"] == "custom").row(0, named=True)
    assert answered["output"].startswith("fake-model: Hello person")
    assert answered["attempts"] == 1 and answered["input_tokens"] > 0 and answered["output_tokens"] > 0
    assert answered["cost_usd"] == pytest.approx(answered["input_tokens"] * 1e-6 + answered["output_tokens"] * 2e-6)
    offline = rows.filter(rows["provider"] == "offline")
    assert offline["cost_usd"].sum() == 0 and offline["output"][0].startswith("[offline echo, not a real model]")
    assert final.cost_usd == pytest.approx(rows["cost_usd"].sum())
    assert final.input_tokens == rows["input_tokens"].sum()


def test_a_finished_run_resumes_with_zero_calls(greet, workspace, fake):
    final = execute(greet, workspace, spec_for(fake))
    again = runner.run_to_end(greet, final.id, workspace.settings.data_dir)
    assert again.status == "done" and fake.calls() == 12 and rows_of(workspace, final.id).height == 12


def test_rate_limit_is_retried_after_retry_after(greet, workspace, fake):
    fake.configure(script={"fake-model": ["429", "ok"]}, retry_after=1.2)
    started = time.monotonic()
    final = execute(greet, workspace, spec_for(fake, concurrency=1, versions=[1]))
    rows = rows_of(workspace, final.id)
    assert final.done_cells == 12 and fake.calls() == 13
    assert time.monotonic() - started >= 1.2  # backoff alone would wait at most 0.25 s
    assert sorted(rows["attempts"].to_list())[-1] == 2


@pytest.mark.parametrize("outcome, kind", [("400", "bad_request"), ("401", "auth")])
def test_client_errors_are_not_retried(greet, workspace, fake, outcome, kind):
    fake.configure(script={"fake-model": [outcome] * 3})
    final = execute(greet, workspace, spec_for(fake, concurrency=1))
    failed = rows_of(workspace, final.id)
    failed = failed.filter(failed["error"].is_not_null())
    assert final.status == "done" and final.failed_cells == 3 and fake.calls() == 12
    assert failed["attempts"].to_list() == [1, 1, 1] and set(failed["error_kind"]) == {kind}


def test_server_errors_are_retried_then_recorded_with_their_attempts(greet, workspace, fake):
    fake.configure(script={"fake-model": ["500", "503", "500", "500"]})
    final = execute(greet, workspace, spec_for(fake, dataset=None, cases=[{"name": "solo"}]))
    rows = rows_of(workspace, final.id)
    assert final.failed_cells == 1 and fake.calls() == 4  # MAX_ATTEMPTS, then the fifth answer would be "ok"
    failed = rows.filter(rows["error"].is_not_null()).row(0, named=True)
    assert failed["attempts"] == 4 and failed["error_kind"] == "server"


def test_a_dead_provider_trips_the_breaker_and_fails_the_rest_fast(greet, workspace, fake):
    fake.configure(errors={"503": 1.0})
    started = time.monotonic()
    final = execute(greet, workspace, spec_for(fake, concurrency=2, repeats=4))  # 48 cells
    rows = rows_of(workspace, final.id)
    kinds = rows["error_kind"].value_counts().to_dicts()
    assert final.failed_cells == 48 and rows.height == 48
    assert fake.calls() < 20  # without the breaker: 48 cells × 4 attempts
    assert {k["error_kind"] for k in kinds} <= {"server", "circuit_open"}
    assert "failed repeatedly (server: fake provider error 503)" in rows.filter(rows["error_kind"] == "circuit_open")["error"][0]
    assert time.monotonic() - started < 20


def test_timeouts_count_towards_the_breaker(greet, workspace, fake):
    fake.configure(script={"*": ["timeout"] * 100}, hold=5)
    final = execute(greet, workspace, spec_for(fake, concurrency=6, timeout=0.5))
    rows = rows_of(workspace, final.id)
    assert final.failed_cells == 12 and set(rows["error_kind"]) <= {"timeout", "circuit_open"}
    assert fake.calls() <= 6 + 6  # one wave of timeouts, then at most a few retries before the breaker opens


def test_cancel_stops_a_running_run_and_it_stays_cancelled(greet, workspace, fake):
    fake.configure(latency=0.3)
    info = runner.start(greet, spec_for(fake, concurrency=1, repeats=10))  # 120 cells, ~36 s
    threading.Timer(1.0, runs.request_cancel, (greet, info.id)).start()
    started = time.monotonic()
    final = runner.run_to_end(greet, info.id, workspace.settings.data_dir)
    assert final.status == "cancelled" and time.monotonic() - started < 5
    count = rows_of(workspace, info.id).height
    assert 0 < count < 120 and final.done_cells == count
    calls = fake.calls()
    assert runner.run_to_end(greet, info.id, workspace.settings.data_dir).status == "cancelled"
    assert fake.calls() == calls


def test_the_cache_serves_identical_calls_at_temperature_zero_and_can_be_bypassed(greet, workspace, fake):
    cached_spec = spec_for(fake, params={"temperature": 0})
    first = execute(greet, workspace, cached_spec)
    second = execute(greet, workspace, cached_spec)
    rows = rows_of(workspace, second.id)
    assert fake.calls() == 12 and rows["cache_hit"].all() and rows["cost_usd"].sum() == 0
    assert rows["output"].to_list() == rows_of(workspace, first.id)["output"].to_list()
    execute(greet, workspace, cached_spec.model_copy(update={"cache": False}))
    assert fake.calls() == 24
    execute(greet, workspace, spec_for(fake))  # temperature 0.7: off by default
    assert fake.calls() == 36


def test_the_budget_refuses_a_start_and_stops_a_run_while_it_runs(greet, workspace, fake):
    runs.set_price(greet, "fake-model", 0.001, 0.001)
    spec = spec_for(fake, concurrency=1, repeats=4)  # 48 cells
    estimate = runner.prepare(greet, spec).estimate
    with pytest.raises(ValidationError, match="exceeds the spec's budget"):
        runner.start(greet, spec.model_copy(update={"budget_usd": estimate.known_cost_usd / 10}))
    fake.configure(completion_tokens=2_000)  # answers cost far more than estimated (256 tokens assumed)
    final = execute(greet, workspace, spec.model_copy(update={"budget_usd": estimate.known_cost_usd}))
    assert final.status == "failed" and "budget" in final.error
    assert final.done_cells < 48 and final.cost_usd <= estimate.known_cost_usd * 1.2
    runs.set_budget(greet, final.cost_usd + 0.0001)
    with pytest.raises(ValidationError, match="team's budget"):
        runner.start(greet, spec)


def test_a_missing_variable_is_refused_before_any_call(greet, workspace, fake):
    versioning.commit(greet, "greet", "Hello {{ name }} from {{ city }}", {}, "v2")
    with pytest.raises(ValidationError, match="case 1 .* no variable 'city'"):
        runner.start(greet, spec_for(fake))
    assert fake.calls() == 0


def test_a_named_provider_without_a_key_is_refused_before_any_call(greet, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(ValidationError, match="no 'anthropic' key .*keys add anthropic"):
        runner.start(greet, parse_spec({"prompt": "greet", "dataset": "people", "models": ["anthropic/claude-3-5-haiku-20241022"]}))


def test_a_vault_key_is_sent_audited_once_and_never_recorded(greet, workspace, fake):
    secret = "sk-test-" + "k" * 32
    fake.configure(expected_api_key=secret)
    team_id = runs.team_of_project(greet)
    vault.add_key(greet, team_id, "custom", secret, label="local-llm", api_base=fake.base_url)
    final = execute(greet, workspace, parse_spec({"prompt": "greet", "dataset": "people",
                                                  "models": [{"model": "fake-model", "key": "local-llm"}]}))
    assert final.done_cells == 12 and fake.requests[0].key_last4 == secret[-4:]
    uses = [e for e in audit.list_events(greet, team_id) if e.action == "key.decrypt"]
    assert len(uses) == 1 and uses[0].details["purpose"] == f"run {final.id}"
    rows = rows_of(workspace, final.id)
    assert not any(secret in str(v) for v in rows.to_dicts())


def test_two_processes_never_execute_one_run(greet, workspace, fake):
    info = runner.start(greet, spec_for(fake))
    with runner.run_lock(workspace.settings.data_dir, info.id):
        with pytest.raises(ConflictError, match="another process"):
            runner.run_to_end(greet, info.id, workspace.settings.data_dir)
    assert fake.calls() == 0


def test_estimated_input_tokens_match_the_real_counts_within_15_percent(greet, workspace, fake):
    """The fake counts like a provider would (chars/4); gpt-4o-mini is counted by litellm's tokenizer."""
    versioning.commit(greet, "greet", "Please write a short, friendly greeting for {{ name }}, who is visiting "
                                      "our office today for the very first time.", {"temperature": 0.7}, "v2")
    spec = spec_for(fake, model="gpt-4o-mini")
    estimate = runner.prepare(greet, spec).estimate
    final = execute(greet, workspace, spec)
    assert final.input_tokens == pytest.approx(estimate.input_tokens, rel=0.15)


KILLED_CHILD = textwrap.dedent("""
    import sys
    from pathlib import Path
    from promptvault.config import Settings
    from promptvault.workspace import open_workspace
    from promptvault import runner
    data_dir, url, run_id = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    ws = open_workspace(Settings(data_dir=data_dir, database_url=url, master_key=None))
    runner.run_to_end(ws.local_context(), run_id, data_dir)
""")


def test_sigkill_mid_run_then_resume_finishes_every_cell_exactly_once(greet, workspace, fake):
    fake.configure(latency=0.05)
    spec = spec_for(fake, concurrency=4, repeats=10)  # 120 cells, ~1.5 s
    info = runner.start(greet, spec)
    data_dir = workspace.settings.data_dir
    child = subprocess.Popen([sys.executable, "-c", KILLED_CHILD, str(data_dir), workspace.settings.database_url,
                              str(info.id)], env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"})
    reader = history.HistoryReader(data_dir)
    deadline = time.monotonic() + 60
    while reader.count(run_id=info.id) < 20 and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    before = rows_of(workspace, info.id)
    assert 0 < before.height < 120, "the kill should land mid-run"
    requests_before = len(fake.requests)
    final = runner.run_to_end(greet, info.id, data_dir)
    rows = rows_of(workspace, info.id)
    assert final.status == "done" and rows.height == 120 and rows["cell_key"].n_unique() == 120
    assert final.done_cells == 120 and final.failed_cells == 0
    persisted = set(before["output"].to_list())  # outputs name their case: "fake-model: Hello personN"
    after = {f"fake-model: {r.messages[-1]['content']}" for r in fake.requests[requests_before:]}
    repeated_cases = persisted & after
    # A case has 10 repeat cells; a resumed request for a case is fine only for its unfinished repeats.
    for output in repeated_cases:
        done_repeats = before.filter(before["output"] == output).height
        asked_again = sum(1 for r in fake.requests[requests_before:]
                          if f"fake-model: {r.messages[-1]['content']}" == output)
        assert done_repeats + asked_again == 10


def test_the_background_executor_runs_a_run_and_resumes_an_orphan(greet, workspace, fake):
    executor = BackgroundExecutor(workspace, sweep=False)
    try:
        info = runner.start(greet, spec_for(fake))
        executor.submit(greet, info.id)
        executor.submit(greet, info.id)  # already executing here: not twice
        assert executor.wait(info.id, timeout=60).status == "done"
        assert executor.stats(info.id).done == 12 and fake.calls() == 12
        orphan = runner.start(greet, spec_for(fake))  # as if its process had died right after creating it
        assert executor.resume_orphans() == []  # too fresh: a CLI may be about to lock it
        with workspace.db.write() as session:
            session.get(Run, orphan.id).created_at -= timedelta(minutes=5)
        assert executor.resume_orphans() == [orphan.id]
        assert executor.wait(orphan.id, timeout=60).status == "done" and fake.calls() == 24
    finally:
        executor.stop()
