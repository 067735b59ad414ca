"""The Compare page through Streamlit's AppTest: runs execute on the real background executor."""

from __future__ import annotations

import csv
import io
import time

import polars as pl
import pytest
import yaml
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

from apptest import PASSWORD, checked, errors, open_page, texts
from promptvault import accounts, datasets, library, runner, runs, scorings, teams, versioning
from promptvault.evaluation import ColumnScore
from promptvault.run_spec import parse_spec
from promptvault.testing.fake_provider import FakeConfig, FakeProvider
from ui import session
from ui.components import quality_chart
from ui.components.run_form import parse_models

PAGE = "pages/compare.py"
WAIT = 60

pytestmark = pytest.mark.usefixtures("cheap_hashing")


@pytest.fixture
def seeded(app_ctx):
    """Prompt 'greet' (v1, v2 on main) and dataset 'people' with two cases, in the page workspace."""
    library.create_prompt(app_ctx, "greet")
    versioning.commit(app_ctx, "greet", "Hello {{ who }}!", None, "first")
    versioning.commit(app_ctx, "greet", "Hi {{ who }}, welcome.", None, "friendlier")
    datasets.create_dataset(app_ctx, "people")
    datasets.add_case(app_ctx, "people", {"who": "Ada"})
    datasets.add_case(app_ctx, "people", {"who": "<b>Bob</b>"})
    return app_ctx


@pytest.fixture
def downloads(monkeypatch):
    """What the page offered for download: {filename: bytes}."""
    offered: dict[str, bytes] = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def keep(self, data, mimetype, kind, filename=None):
        offered[filename] = data
        return original(self, data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", keep)
    return offered


def finished(ctx, run_id: int) -> runs.RunInfo:
    """Wait for a run on the page's executor to end; its record."""
    session.executor().wait(run_id, timeout=WAIT)
    return runs.get_run(ctx, run_id)


def started_run(ctx, spec: dict) -> runs.RunInfo:
    """A run started as the page starts one, executed to its end."""
    info = runner.start(ctx, parse_spec(spec))
    session.executor().submit(ctx, info.id)
    return finished(ctx, info.id)


def matrix_html(at) -> str:
    """The HTML of the matrix table."""
    return next(h.proto.body for h in at.get("html") if "pv-matrix" in h.proto.body)


@pytest.mark.parametrize("text, base, key, expected", [
    ("offline/echo", "", "", ["offline/echo"]),
    ("offline/echo\n\n# a note\n openai/gpt-4o-mini ", "", "", ["offline/echo", "openai/gpt-4o-mini"]),
    ("offline/echo\nllama3", "http://h:8000/v1", "", ["offline/echo", {"model": "llama3", "api_base": "http://h:8000/v1"}]),
    ("llama3", "", "local", [{"model": "llama3", "key": "local"}]),
    ("a@http://one/v1\nb", "http://two/v1", "", [{"model": "a", "api_base": "http://one/v1"},
                                                  {"model": "b", "api_base": "http://two/v1"}]),
    ("gpt-x@latency=0.3", "", "", ["gpt-x@latency=0.3"]),  # not a URL: part of the name
    ("m1@latency=1@http://h/v1", "", "", [{"model": "m1@latency=1", "api_base": "http://h/v1"}]),
])
def test_compare_parse_models_lines(text, base, key, expected):
    assert parse_models(text, base, key) == expected


def test_compare_form_estimates_then_starts_a_run_that_executes_in_the_background(seeded):
    at = open_page(PAGE, seeded)
    assert at.text_area(key="compare.form.models").value == "offline/echo"
    at.multiselect(key="compare.form.versions.greet").set_value(["main", "v1"])
    checked(at.button(key="compare.form.estimate").click().run())
    [estimate] = at.dataframe
    assert list(estimate.value["Model"]) == ["offline/echo (not a real model)"]
    assert list(estimate.value["Calls"]) == [4] and list(estimate.value["Cost (USD)"]) == ["$0.0000"]
    assert "Estimate: 4 calls" in texts(at)
    assert runs.list_runs(seeded) == []  # an estimate records nothing

    checked(at.button(key="compare.form.start").click().run())
    [run] = runs.list_runs(seeded)
    assert at.query_params["run"] == str(run.id)
    assert f"Started run {run.id}: 4 calls" in texts(at)
    assert finished(seeded, run.id).status == "done"
    checked(at.run())
    html = matrix_html(at)
    assert "v2 (main) × offline/echo (not a real model)" in html and "v1 × offline/echo (not a real model)" in html
    assert "Hi Ada, welcome." in html and "Hello Ada!" in html
    assert "&lt;b&gt;Bob&lt;/b&gt;" in html and "<b>Bob</b>" not in html  # model output is escaped
    assert html.count("2 calls · 0 errors") == 2 and "mean " in html and "p95 " in html  # the summary row


def test_compare_diffs_two_columns_cell_by_cell(seeded):
    run = started_run(seeded, {"prompt": "greet", "versions": [1, 2], "models": ["offline/echo"], "dataset": "people"})
    at = open_page(PAGE, seeded, run=str(run.id))
    [diff] = [h.proto.body for h in at.get("html") if "pv-diff" in h.proto.body]
    assert "ello Ada!" in diff and "i Ada, welcome." in diff and "pv-diff-word-ins" in diff
    at.selectbox(key="compare.matrix.diff.case").set_value(2).run()
    [diff] = [h.proto.body for h in at.get("html") if "pv-diff" in h.proto.body]
    assert "&lt;b&gt;Bob&lt;/b&gt;" in diff and "<b>Bob</b>" not in diff


def test_compare_exports_csv_defanged_and_parquet(seeded, downloads):
    with FakeProvider(FakeConfig(reply="=HYPERLINK(\"http://evil\") {last_user}")) as fake:
        run = started_run(seeded, {"prompt": "greet", "models": [{"model": "fake-model", "api_base": fake.base_url}],
                                   "dataset": "people"})
    assert run.status == "done"
    at = open_page(PAGE, seeded, run=str(run.id))
    assert "=HYPERLINK(&quot;http://evil&quot;) Hi Ada, welcome." in matrix_html(at)
    rows = list(csv.reader(io.StringIO(downloads[f"run-{run.id}.csv"].decode("utf-8"))))
    assert rows[1][1] == "'=HYPERLINK(\"http://evil\") Hi Ada, welcome."  # a spreadsheet shows it, never runs it
    frame = pl.read_parquet(io.BytesIO(downloads[f"run-{run.id}.parquet"]))
    assert frame["case"].to_list() == ["1", "2", "summary"]


def test_compare_shows_live_progress_of_an_active_run_and_cancels_it(seeded):
    with FakeProvider(FakeConfig(latency=1.0)) as fake:
        spec = {"prompt": "greet", "models": [{"model": "fake-model", "api_base": fake.base_url}], "dataset": "people",
                "concurrency": 1}
        run = runner.start(seeded, parse_spec(spec))
        session.executor().submit(seeded, run.id)
        at = open_page(PAGE, seeded, run=str(run.id))
        [bar] = at.get("progress")
        assert f"Run {run.id} " in bar.proto.text and "of 2 cells" in bar.proto.text
        checked(at.button(key=f"compare.progress.{run.id}.cancel").click().run())
        assert f"Asked run {run.id} to stop" in texts(at)
        assert finished(seeded, run.id).status == "cancelled"
    checked(at.run())
    assert f"Run {run.id} cancelled" in texts(at) and not at.get("progress")


def test_compare_viewer_sees_runs_but_no_start(seeded, app_member):
    run = started_run(seeded, {"prompt": "greet", "models": ["offline/echo"], "dataset": "people"})
    viewer = app_member("viewer@example.com", "viewer")
    at = open_page(PAGE, viewer, run=str(run.id))
    assert "New run" not in [e.label for e in at.expander] and not at.button  # neither the form nor Cancel
    assert "starting one needs the editor role" in texts(at)
    assert "Hi Ada, welcome." in matrix_html(at)


def test_compare_link_to_another_teams_run_says_only_no_run(seeded, app_admin):
    run = started_run(seeded, {"prompt": "greet", "models": ["offline/echo"], "dataset": "people"})
    teams.create_team(app_admin, "Other")
    accounts.add_user(app_admin, "out@example.com", PASSWORD)
    teams.add_member(app_admin, "Other", "out@example.com", "editor")
    outsider = session.workspace().context_for("out@example.com")
    at = open_page(PAGE, outsider, run=str(run.id))
    assert errors(at) == [f"no run {run.id}"]
    assert not at.get("html") and not at.selectbox and "Ada" not in texts(at)


def test_compare_start_over_the_team_budget_is_refused_with_the_reason(seeded):
    runs.set_budget(seeded, 0.0)
    runs.set_price(seeded, "fake-model", 0.001, 0.002)
    at = open_page(PAGE, seeded)
    at.text_area(key="compare.form.models").input("fake-model")
    at.text_input(key="compare.form.api_base").input("http://127.0.0.1:9/v1")
    checked(at.button(key="compare.form.start").click().run())
    assert any("run refused: its estimated cost" in e and "exceeds the team's budget" in e for e in errors(at))
    assert runs.list_runs(seeded) == []


CHECKS = '- {contains: "Hi"}\n- {type: length, max: 200}'


@pytest.fixture
def crowd(seeded):
    """Dataset 'crowd': Ada, Bob and ten more, enough cases for a change in pass rate to be beyond noise."""
    datasets.create_dataset(seeded, "crowd")
    for who in ["Ada", "Bob", *(f"X{i}" for i in range(1, 11))]:
        datasets.add_case(seeded, "crowd", {"who": who})
    return seeded


def score_table(at) -> dict[str, dict]:
    """The per-column pass-rate table, by column label."""
    frame = next(d.value for d in at.dataframe if "Pass rate (95 % CI)" in d.value.columns)
    return {row["Column"]: row for row in frame.to_dict("records")}


def column_score(label: str, rate: float, cost: float, latency: float | None, front: bool) -> ColumnScore:
    """A column's score with ten outputs."""
    return ColumnScore(label, label, 10, round(rate * 10), max(rate - 0.2, 0), min(rate + 0.1, 1), None, latency,
                       latency, 0, 0, cost * 10, 0, None, {}, front)


def test_compare_form_run_with_checks_shows_pass_rates_badges_and_the_chart(seeded):
    at = open_page(PAGE, seeded)
    at.multiselect(key="compare.form.versions.greet").set_value(["main", "v1"])
    at.text_area(key="compare.form.checks").input(CHECKS)
    checked(at.button(key="compare.form.start").click().run())
    [run] = runs.list_runs(seeded)
    assert [c["type"] for c in run.spec["checks"]] == ["contains", "length"]
    assert finished(seeded, run.id).status == "done"
    checked(at.run())
    table = score_table(at)
    main, first = table["v2 (main) × offline/echo (not a real model)"], table["v1 × offline/echo (not a real model)"]
    assert main["Pass rate (95 % CI)"] == "100 % (34–100 %)" and main["Passed"] == "2/2"
    assert first["Pass rate (95 % CI)"] == "0 % (0–66 %)" and first['✓ contains "Hi"'] == "0 %"
    assert first["✓ length ≤ 200 chars"] == "100 %"
    assert "contains" in texts(at) and "Scoring " in texts(at)
    [chart] = at.get("plotly_chart")
    assert "Pareto front" in chart.proto.spec and "Pass rate" in chart.proto.spec
    html = matrix_html(at)
    assert "✓ passed" in html and '✗ failed: contains &quot;Hi&quot;' in html
    assert "pass rate 100 % (34–100 %)" in html


@pytest.mark.parametrize("checks, problem", [
    ('- {type: regex, pattern: "(["}', "run: checks.0 (regex): bad pattern"),
    ('- {contains: "x"\n- equals', "checks: not valid YAML at line"),
    ("- {containz: x}", "checks.0: unknown check type 'containz'"),
    ("contains: x", "checks: expected a YAML list"),
])
def test_compare_form_invalid_checks_show_the_problem_and_start_nothing(seeded, checks, problem):
    at = open_page(PAGE, seeded)
    at.text_area(key="compare.form.checks").input(checks)
    checked(at.button(key="compare.form.start").click().run())
    assert any(problem in e for e in errors(at)), errors(at)
    assert runs.list_runs(seeded) == []


def test_compare_repeats_fold_into_one_row_per_case_with_agreement(seeded):
    run = started_run(seeded, {"prompt": "greet", "models": ["offline/echo"], "dataset": "people", "repeats": 3,
                               "checks": [{"contains": "Ada"}]})
    at = open_page(PAGE, seeded, run=str(run.id))
    html = matrix_html(at)
    assert "3/3 passed · outputs agree" in html and "0/3 passed · outputs agree · failed: contains" in html
    assert html.count("<details") == 2 and "repeat 2" in html and "· repeat 1" not in html
    assert score_table(at)["v2 (main) × offline/echo (not a real model)"]["Outputs agree"] == "100 %"


def test_compare_without_checks_shows_the_matrix_as_before(seeded):
    run = started_run(seeded, {"prompt": "greet", "models": ["offline/echo"], "dataset": "people", "repeats": 2})
    at = open_page(PAGE, seeded, run=str(run.id))
    html = matrix_html(at).split("</style>")[1]
    assert "#1 · repeat 2" in html and "passed" not in html and "pv-verdict" not in html
    assert not at.get("plotly_chart") and "Checks and pass rates" not in texts(at)


def test_compare_baseline_shows_newly_failing_cases_first_and_the_test_verdict(crowd):
    spec = {"prompt": "greet", "versions": [1], "models": ["offline/echo"], "dataset": "crowd"}
    baseline = started_run(crowd, {**spec, "checks": [{"contains": "Hello"}]})
    run = started_run(crowd, {**spec, "checks": [{"type": "regex", "pattern": "Hello (Ada|Bob)!"}],
                              "baseline": baseline.id})
    at = open_page(PAGE, crowd, run=str(run.id))
    assert at.selectbox(key=f"compare.baseline.{run.id}").value == baseline.id
    shown = texts(at)
    assert "pass rate 100 % → 17 % (−83 pts), p = 0.000, worse beyond noise (two-proportion z-test, 5 % level)" in shown
    assert "10 newly failing cases" in shown
    frame = next(d.value for d in at.dataframe if "Status" in d.value.columns)
    statuses = list(frame["Status"])
    assert statuses[:10] == ["✗ newly failing"] * 10 and statuses[10:] == ["✓ still passing"] * 2
    assert list(frame[f"Run {baseline.id}"])[0] == "100 %" and list(frame["Now"])[0] == "0 %"
    assert "regex" in list(frame["Failed checks"])[0]

    at.selectbox(key=f"compare.baseline.{run.id}").select_index(0).run()
    assert "worse beyond noise" not in texts(at)


def test_compare_baseline_without_a_scoring_says_so(seeded):
    spec = {"prompt": "greet", "models": ["offline/echo"], "dataset": "people"}
    unscored = started_run(seeded, spec)
    run = started_run(seeded, {**spec, "checks": ["is-json"], "baseline": unscored.id})
    at = open_page(PAGE, seeded, run=str(run.id))
    assert f"Run {unscored.id} has no finished scoring" in texts(at)


def test_compare_rescore_changes_pass_rates_without_calling_the_model(seeded):
    with FakeProvider(FakeConfig(reply="Hi {last_user}")) as fake:
        run = started_run(seeded, {"prompt": "greet", "models": [{"model": "fake-model", "api_base": fake.base_url}],
                                   "dataset": "people", "checks": [{"contains": "Hi"}]})
        calls = fake.calls()
        at = open_page(PAGE, seeded, run=str(run.id))
        [label] = score_table(at)
        assert score_table(at)[label]["Passed"] == "2/2"
        first = scorings.latest(seeded, run.id)
        area = at.text_area(key=f"compare.rescore.text.{run.id}.{first.id}")
        assert "contains" in area.value and "Hi" in area.value  # the latest scoring's checks, as YAML
        area.input('- {contains: "Ada"}')
        checked(at.button(key=f"compare.rescore.go.{run.id}").click().run())
        assert "Re-scoring run" in texts(at)
        assert score_table(at)[label]["Passed"] == "1/2" and score_table(at)[label]['✓ contains "Ada"'] == "50 %"
        assert fake.calls() == calls
    assert len(scorings.list_for_run(seeded, run.id)) == 2


def test_compare_rescore_with_bad_checks_shows_the_problem(seeded):
    run = started_run(seeded, {"prompt": "greet", "models": ["offline/echo"], "dataset": "people"})
    at = open_page(PAGE, seeded, run=str(run.id))
    at.text_area(key=f"compare.rescore.text.{run.id}.0").input("")
    checked(at.button(key=f"compare.rescore.go.{run.id}").click().run())
    assert any("give at least one check" in e for e in errors(at))
    assert scorings.list_for_run(seeded, run.id) == []


def test_compare_failed_scoring_shows_its_error(seeded):
    run = started_run(seeded, {"prompt": "greet", "models": ["offline/echo"], "dataset": "people"})
    found = scorings.create(seeded, run.id, ["is-json"])
    scorings.fail(seeded.db, found.id, "judge model unreachable")
    at = open_page(PAGE, seeded, run=str(run.id))
    assert errors(at) == [f"Scoring {found.id} of run {run.id} failed: judge model unreachable"]


def test_compare_viewer_sees_pass_rates_but_no_rescore_or_new_run(seeded, app_member):
    run = started_run(seeded, {"prompt": "greet", "models": ["offline/echo"], "dataset": "people",
                               "checks": [{"contains": "Hi"}]})
    viewer = app_member("viewer@example.com", "viewer")
    at = open_page(PAGE, viewer, run=str(run.id))
    assert list(score_table(at).values())[0]["Passed"] == "2/2" and at.get("plotly_chart")
    labels = [e.label for e in at.expander]
    assert "New run" not in labels and "Re-score with other checks" not in labels and not at.button
    assert not [t for t in at.text_area]


def test_quality_chart_marks_the_front_and_escapes_labels():
    cheap = column_score("<b>cheap</b>", 0.6, 0.001, 300, True)
    best = column_score("best", 0.9, 0.01, 900, True)
    worse = column_score("dominated", 0.5, 0.02, 1000, False)
    fig = quality_chart.figure([best, worse, cheap])
    traces = {t.name: t for t in fig.data}
    assert set(traces) == {"Pareto front", "Other columns"}
    front = traces["Pareto front"]
    assert list(front.text) == ["&lt;b&gt;cheap&lt;/b&gt;", "best"] and front.marker.symbol == "star"
    assert "lines" in front.mode and list(front.y) == [60, 90] and list(front.x) == [0.001, 0.01]
    assert list(front.error_y.arrayminus) == pytest.approx([20, 20]) and list(front.marker.color) == [300, 900]
    assert list(traces["Other columns"].text) == ["dominated"] and traces["Other columns"].marker.symbol == "circle"


def test_quality_chart_leaves_out_columns_without_outputs():
    empty = ColumnScore("e", "empty", 0, 0, None, None, None, None, None, 0, 0, 0.0, 0, None)
    fig = quality_chart.figure([empty, column_score("one", 1.0, 0.0, None, True)])
    assert [list(t.text) for t in fig.data] == [["one"]]


def judge_check(fake) -> dict:
    """An llm-judge check asking the fake's 'judge' model."""
    return {"type": "llm-judge", "model": {"model": "judge", "api_base": fake.base_url}, "rubric": "Is it polite?"}


def test_compare_rescore_with_a_judge_shows_progress_then_the_scores(seeded):
    run = started_run(seeded, {"prompt": "greet", "models": ["offline/echo"], "dataset": "people"})
    with FakeProvider(FakeConfig(replies={"judge": '{{"reasoning": "polite", "score": 8}}'}, latency=1.0)) as fake:
        at = open_page(PAGE, seeded, run=str(run.id))
        at.text_area(key=f"compare.rescore.text.{run.id}.0").input(yaml.safe_dump([judge_check(fake)]))
        checked(at.button(key=f"compare.rescore.go.{run.id}").click().run())
        [bar] = at.get("progress")
        assert bar.proto.text.startswith("Scoring…") and f"of run {run.id}" in bar.proto.text
        [pending] = scorings.list_for_run(seeded, run.id)
        session.executor().wait_scoring(pending.id, timeout=WAIT)
        assert fake.calls("judge") == 2
    checked(at.run())
    assert not at.get("progress")
    [row] = score_table(at).values()
    assert row["Passed"] == "2/2" and row["Mean score"] == "0.80"
    assert "2 judge calls" in texts(at)


def test_compare_says_scoring_outputs_while_a_run_is_scored(seeded):
    with FakeProvider(FakeConfig(replies={"judge": '{{"reasoning": "polite", "score": 8}}'}, latency=1.5)) as fake:
        spec = {"prompt": "greet", "models": ["offline/echo"], "dataset": "people", "checks": [judge_check(fake)]}
        run = runner.start(seeded, parse_spec(spec))
        session.executor().submit(seeded, run.id)
        deadline = time.monotonic() + WAIT
        while getattr(session.executor().stats(run.id), "status", None) != "scoring" and time.monotonic() < deadline:
            time.sleep(0.05)
        at = open_page(PAGE, seeded, run=str(run.id))
        [bar] = at.get("progress")
        assert "Scoring outputs…" in bar.proto.text
        assert finished(seeded, run.id).status == "done"
    checked(at.run())
    assert list(score_table(at).values())[0]["Passed"] == "2/2"


def test_compare_form_baseline_goes_into_the_spec_and_the_results_compare_with_it(seeded):
    earlier = started_run(seeded, {"prompt": "greet", "models": ["offline/echo"], "dataset": "people",
                                   "checks": [{"contains": "Hi"}]})
    at = open_page(PAGE, seeded)
    assert at.selectbox(key="compare.form.baseline").options[0] == "None"
    at.selectbox(key="compare.form.baseline").set_value(earlier.id)
    at.text_area(key="compare.form.checks").input("- {contains: Hi}")
    checked(at.button(key="compare.form.start").click().run())
    run = runs.list_runs(seeded)[0]
    assert run.id != earlier.id and run.spec["baseline"] == earlier.id
    assert finished(seeded, run.id).status == "done"
    checked(at.run())
    assert at.selectbox(key=f"compare.baseline.{run.id}").value == earlier.id
    assert "pass rate 100 % → 100 % (±0 pts), p = 1.000, no significant change" in texts(at)


def test_compare_check_names_are_escaped_in_the_matrix(seeded):
    evil = "<img src=x onerror=alert(1)>"
    for repeats in (1, 2):
        run = started_run(seeded, {"prompt": "greet", "models": ["offline/echo"], "dataset": "people",
                                   "repeats": repeats, "checks": [{"contains": "nope", "name": evil}]})
        html = matrix_html(open_page(PAGE, seeded, run=str(run.id)))
        assert "failed: &lt;img src=x onerror=alert(1)&gt;" in html and evil not in html
