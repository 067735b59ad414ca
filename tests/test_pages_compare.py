"""The Compare page through Streamlit's AppTest: runs execute on the real background executor."""

from __future__ import annotations

import csv
import io

import polars as pl
import pytest
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

from apptest import PASSWORD, checked, errors, open_page, texts
from promptvault import accounts, datasets, library, runner, runs, teams, versioning
from promptvault.run_spec import parse_spec
from promptvault.testing.fake_provider import FakeConfig, FakeProvider
from ui import session
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
