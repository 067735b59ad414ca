"""The Analytics page through Streamlit's AppTest, on history rows written as the runner writes them."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from sqlalchemy import select
from streamlit.runtime.media_file_manager import MediaFileManager

from apptest import APP, PASSWORD, checked, open_page, pages, texts
from promptvault import accounts, library, teams, versioning
from promptvault.history import HistoryWriter
from promptvault.store.tables import Project, Run
from ui import session
from ui.components import analytics_charts, analytics_views

PAGE = "pages/analytics.py"
ECHO, GPT = "offline/echo", "openai/gpt-4o-mini"
EVIL = '=HYPERLINK("http://evil")'
TABS = ["Cost over time", "Latency", "Tokens", "Errors", "Versions", "Top spenders", "Budgets"]

pytestmark = pytest.mark.usefixtures("cheap_hashing")


def insert_run(ctx, prompt_id: int) -> tuple[int, int]:
    """A finished run row of the context's project; its (id, team id)."""
    with ctx.db.write() as session_:
        team_id = session_.scalar(select(Project.team_id).where(Project.id == ctx.project_id))
        run = Run(team_id=team_id, project_id=ctx.project_id, prompt_id=prompt_id, status="done",
                  spec={"prompt": "greet", "models": [ECHO, GPT]}, total_cells=10, estimate={},
                  created_by=ctx.actor.user_id)
        session_.add(run)
        session_.flush()
        return run.id, team_id


def history_row(ctx, run_id: int, team_id: int, version_id: int, model: str, n: int, **extra) -> dict:
    """One call of the run: 100 ms, 10 → 20 tokens, free unless `extra` says otherwise."""
    return {"run_id": run_id, "cell_key": f"{version_id}:{model}:{n}:1", "prompt_id": extra.pop("prompt_id"),
            "version_id": version_id, "model": model, "provider": model.split("/")[0], "output": f"out {n}",
            "attempts": 1, "latency_ms": 100.0, "input_tokens": 10, "output_tokens": 20, "cost_usd": 0.0,
            "cache_hit": False, "team_id": team_id, "project_id": ctx.project_id, "user_id": ctx.actor.user_id,
            "finished_at": datetime.now(UTC) - timedelta(minutes=n), **extra}


@pytest.fixture
def history(app_admin):
    """Prompt greet v1, v2 and one run: 4 free echo calls of v1; 6 gpt calls of v2 at $0.002, one a rate limit."""
    prompt = library.create_prompt(app_admin, "greet")
    v1 = versioning.commit(app_admin, "greet", "Hello {{ who }}!", None, "first").id
    v2 = versioning.commit(app_admin, "greet", "Hi {{ who }}.", None, "second").id
    run_id, team_id = insert_run(app_admin, prompt.id)
    common = {"prompt_id": prompt.id}
    rows = [history_row(app_admin, run_id, team_id, v1, ECHO, n, **common) for n in range(4)]
    rows += [history_row(app_admin, run_id, team_id, v2, GPT, n, cost_usd=0.002, latency_ms=300.0 + n,
                         output=EVIL if n == 4 else f"out {n}", **common) for n in range(4, 9)]
    rows.append(history_row(app_admin, run_id, team_id, v2, GPT, 9, error="429 Too Many Requests",
                            error_kind="rate_limit", latency_ms=None, input_tokens=None, output_tokens=None, **common))
    writer = HistoryWriter(session.workspace().settings.data_dir)
    writer.append(rows)
    writer.flush()
    return app_admin


@pytest.fixture
def deferred(monkeypatch):
    """The files the download buttons build on a click: {file name: callable}."""
    offered = {}
    keep = MediaFileManager.add_deferred

    def spy(self, data, mimetype, coordinates, file_name=None, **kwargs):
        offered[file_name] = data
        return keep(self, data, mimetype, coordinates, file_name=file_name, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add_deferred", spy)
    return offered


def metrics(at) -> dict[str, str]:
    """The metric cards: {title: value}."""
    return {m.label: m.value for m in at.metric}


def test_analytics_shows_totals_and_every_view(history):
    at = open_page(PAGE, history)
    shown = metrics(at)
    assert shown["Calls"] == "10" and shown["Errors"] == "1" and shown["Cost"] == "$0.01"
    assert shown["Tokens in"] == "90" and shown["Tokens out"] == "180"
    assert [t.label for t in at.tabs] == TABS
    assert len(at.get("plotly_chart")) >= len(TABS)  # every view draws at least one chart
    tables = {tuple(d.value.columns) for d in at.dataframe}
    assert ("day", "model", "calls", "cost_usd") in tables and ("team", "limit_usd", "spent_usd", "left_usd") in tables
    [errors] = [d.value for d in at.dataframe if "error_kind" in d.value.columns]
    assert list(errors["error_kind"]) == ["rate_limit"] and list(errors["errors"]) == [1]


def test_analytics_model_filter_changes_the_numbers(history):
    at = open_page(PAGE, history)
    checked(at.selectbox(key="analytics.filters.model").set_value(ECHO).run())
    shown = metrics(at)
    assert shown["Calls"] == "4" and shown["Errors"] == "0" and shown["Cost"] == "$0"
    [cost] = [d.value for d in at.dataframe if "cost_usd" in d.value.columns and "day" in d.value.columns]
    assert set(cost["model"]) == {ECHO}
    checked(at.selectbox(key="analytics.filters.status").set_value("Failed").run())
    assert "No calls match these filters" in texts(at) and not at.metric


def test_analytics_exports_views_and_raw_rows_as_csv_defanged_and_parquet(history, deferred):
    open_page(PAGE, history)
    rows = list(csv.reader(io.StringIO(deferred["analytics-cost_over_time.csv"]().decode("utf-8"))))
    assert rows[0] == ["day", "model", "calls", "cost_usd"] and {r[1] for r in rows[1:]} == {ECHO, GPT}
    frame = pl.read_parquet(io.BytesIO(deferred["analytics-tokens.parquet"]()))
    assert dict(zip(frame["model"], frame["calls"])) == {ECHO: 4, GPT: 6}
    raw_csv = deferred["analytics-raw-rows.csv"]().decode("utf-8")
    assert "'" + EVIL.replace('"', '""') in raw_csv  # a spreadsheet shows the cell, never runs it
    assert not any(cell.startswith("=") for row in csv.reader(io.StringIO(raw_csv)) for cell in row)
    raw = pl.read_parquet(io.BytesIO(deferred["analytics-raw-rows.parquet"]()))
    assert raw.height == 10 and EVIL in raw["output"].to_list()  # Parquet keeps the value as written


def test_analytics_member_of_another_team_sees_none_of_this_teams_numbers(history):
    teams.create_team(history, "Other")
    accounts.add_user(history, "out@example.com", PASSWORD)
    teams.add_member(history, "Other", "out@example.com", "owner")
    at = open_page(PAGE, session.workspace().context_for("out@example.com", team="Other"))
    assert "No history yet" in texts(at)
    assert not at.metric and not at.tabs and not at.dataframe and "greet" not in texts(at)


def test_analytics_without_history_points_to_compare_and_the_demo(app_admin):
    at = open_page(PAGE, app_admin)
    shown = texts(at)
    assert "No history yet" in shown and "Compare" in shown and "promptvault demo" in shown
    assert not at.tabs and not at.get("plotly_chart")


def test_analytics_is_in_the_menu_of_a_viewer(history, app_member):
    at = open_page(APP, app_member("viewer@example.com", "viewer"))
    assert "Analytics" in pages(at)


@pytest.mark.parametrize("name, shown", [
    ("offline/echo", "offline/echo"),
    ("<b>bold</b>", "&lt;b&gt;bold&lt;/b&gt;"),
    ('<a href="javascript:alert(1)">x</a>', '&lt;a href="javascript:alert(1)"&gt;x&lt;/a&gt;'),
    ("a & b", "a &amp; b"),
    (None, "(none)"),
])
def test_analytics_chart_labels_are_never_markup(name, shown):
    assert analytics_charts.label(name) == shown


def test_analytics_cost_chart_stacks_one_trace_per_model():
    frame = pl.DataFrame({"day": [datetime(2026, 11, 1).date()] * 2, "model": [ECHO, "<i>x</i>"], "calls": [1, 2],
                          "cost_usd": [0.0, 0.5]})
    figure = analytics_charts.cost_over_time(frame)
    assert figure.layout.barmode == "stack" and [t.name for t in figure.data] == [ECHO, "&lt;i&gt;x&lt;/i&gt;"]


def test_analytics_cost_chart_counts_calls_when_every_call_was_free():
    frame = pl.DataFrame({"day": [datetime(2026, 11, 1).date()], "model": [ECHO], "calls": [3], "cost_usd": [0.0]})
    figure = analytics_charts.cost_over_time(frame)
    assert list(figure.data[0].y) == [3] and figure.layout.yaxis.title.text == "Calls"


@pytest.mark.parametrize("unit, value, shown", [
    ("count", 950, "950"), ("count", 9_500, "9,500"), ("count", 95_321, "95k"), ("count", 1_234_567, "1.23M"),
    ("dollars", 0.0, "$0"), ("dollars", 1e-7, "< $0.0001"),
    ("dollars", 0.00042, "$0.00042"), ("dollars", 0.993727, "$0.994"),
    ("dollars", 12.345, "$12.35"), ("dollars", 12_345.6, "$12,346"),
    ("ms", None, "–"), ("ms", 0.004, "< 1 ms"), ("ms", 4.23, "4.2 ms"), ("ms", 310.4, "310 ms"), ("ms", 2_400, "2.4 s"),
])
def test_analytics_cards_shorten_numbers(unit, value, shown):
    formats = {"count": analytics_views.compact, "dollars": analytics_views.dollars, "ms": analytics_views.ms}
    assert formats[unit](value) == shown
