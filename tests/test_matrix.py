"""The comparison matrix on real Parquet history and a real metadata store."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import select

from promptvault import library, matrix, teams, versioning
from promptvault.diffing import INSERT
from promptvault.errors import NotFoundError, ValidationError
from promptvault.history import HistoryWriter
from promptvault.store.tables import Project, Run

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
ECHO = "offline/echo"
LLAMA = "openai/llama@http://127.0.0.1:8000/v1"  # a label with ':' in it
SPEC_MODELS = [{"model": ECHO, "api_base": None, "key": None},
               {"model": "openai/llama", "api_base": "http://127.0.0.1:8000/v1", "key": None}]


@dataclass(frozen=True)
class Setup:
    """A run of prompt `p` (versions v1, v2) and the history folder its rows go to."""

    ctx: object
    root: Path
    run_id: int
    team_id: int
    v1: int
    v2: int


def insert_run(ctx, prompt_id: int, estimate: dict) -> tuple[int, int]:
    """A run row inserted directly (its spec names ECHO then LLAMA); its (id, team id)."""
    with ctx.db.write() as session:
        team_id = session.scalar(select(Project.team_id).where(Project.id == ctx.project_id))
        run = Run(team_id=team_id, project_id=ctx.project_id, prompt_id=prompt_id, status="done",
                  spec={"prompt": "p", "models": SPEC_MODELS, "repeats": 2}, total_cells=0, estimate=estimate,
                  created_by=ctx.actor.user_id)
        session.add(run)
        session.flush()
        return run.id, team_id


def make_setup(ctx, root: Path, with_versions: bool) -> Setup:
    """Prompt `p` with two versions and a run whose estimate names them (or not)."""
    prompt = library.create_prompt(ctx, "p")
    v1 = versioning.commit(ctx, "p", "say {{ x }}", {}, "v1").id
    v2 = versioning.commit(ctx, "p", "tell {{ x }}", {}, "v2").id
    listed = [{"id": v2, "number": 2, "ref": "main"}, {"id": v1, "number": 1, "ref": "1"}]
    run_id, team_id = insert_run(ctx, prompt.id, {"versions": listed} if with_versions else {})
    return Setup(ctx, root, run_id, team_id, v1, v2)


@pytest.fixture
def setup(ctx, tmp_path) -> Setup:
    """A run whose estimate lists its versions (v2 named `main` first)."""
    return make_setup(ctx, tmp_path / "store", with_versions=True)


def row(s: Setup, version_id: int, model: str, case: int, repeat: int = 1, seconds: int = 0, **extra) -> dict:
    """One history row of the setup's run; its output names its cell."""
    return {
        "run_id": s.run_id, "cell_key": f"{version_id}:{model}:{case}:{repeat}", "prompt_id": 1,
        "version_id": version_id, "model": model, "provider": "openai",
        "output": f"out {version_id} {model} {case} {repeat}", "attempts": 1, "latency_ms": 100.0,
        "input_tokens": 10, "output_tokens": 20, "cost_usd": 0.001, "cache_hit": False, "team_id": s.team_id,
        "finished_at": T0 + timedelta(seconds=seconds), **extra,
    }


def write(root: Path, rows: list[dict]) -> None:
    """Append and flush rows as the runner does."""
    writer = HistoryWriter(root)
    writer.append(rows)
    writer.flush()


def full_grid(s: Setup) -> list[dict]:
    """Every cell of v1 × both models and v2 × LLAMA, 2 cases × 2 repeats."""
    pairs = [(s.v1, ECHO), (s.v1, LLAMA), (s.v2, LLAMA)]
    return [row(s, v, m, case, rep) for v, m in pairs for case in (1, 2) for rep in (1, 2)]


def load(s: Setup, ctx=None) -> matrix.Matrix:
    """The setup's matrix as `ctx` (default: the run's creator) sees it."""
    return matrix.load_matrix(ctx or s.ctx, s.root, s.run_id)


@pytest.mark.parametrize("key, parsed", [
    ("7:offline/echo:3:1", (7, "offline/echo", 3, 1)),
    ("7:openai/llama@http://127.0.0.1:8000/v1:12:2", (7, "openai/llama@http://127.0.0.1:8000/v1", 12, 2)),
    ("7:a:b:c:1:1", (7, "a:b:c", 1, 1)),
])
def test_parse_cell_key_splits_around_a_model_with_colons(key, parsed):
    assert matrix.parse_cell_key(key) == parsed


@pytest.mark.parametrize("key", ["", "7", "7:m:1", "x:m:1:1", "7:m:one:1"])
def test_parse_cell_key_refuses_malformed_keys(key):
    with pytest.raises(ValidationError, match="malformed cell key"):
        matrix.parse_cell_key(key)


def test_load_matrix_places_every_cell_under_its_column(setup):
    write(setup.root, full_grid(setup))
    m = load(setup)
    assert [c.key for c in m.columns] == [f"{setup.v2}:{LLAMA}", f"{setup.v1}:{ECHO}", f"{setup.v1}:{LLAMA}"]
    assert (m.cases, m.repeats, len(m.cells)) == ([1, 2], 2, 12)
    for (case, rep, key), cell in m.cells.items():
        column = m.column(key)
        assert cell.output == f"out {column.version_id} {column.model} {case} {rep}"


def test_column_labels_name_version_ref_and_model(setup):
    write(setup.root, full_grid(setup))
    labels = {c.key: c.label for c in load(setup).columns}
    assert labels[f"{setup.v2}:{LLAMA}"] == f"v2 (main) × {LLAMA}"
    assert labels[f"{setup.v1}:{LLAMA}"] == f"v1 × {LLAMA}"


def test_offline_column_is_labelled_not_a_real_model(setup):
    write(setup.root, full_grid(setup))
    echo = load(setup).column(f"{setup.v1}:{ECHO}")
    assert echo.offline and echo.label == "v1 × offline/echo (not a real model)"
    assert not load(setup).column(f"{setup.v1}:{LLAMA}").offline


def test_version_numbers_come_from_the_store_when_the_estimate_lists_none(ctx, tmp_path):
    s = make_setup(ctx, tmp_path / "store", with_versions=False)
    write(s.root, [row(s, s.v2, ECHO, 1), row(s, s.v1, ECHO, 1)])
    columns = load(s).columns
    assert [(c.version_number, c.version_ref) for c in columns] == [(1, None), (2, None)]
    assert [c.label for c in columns] == [f"v{n} × offline/echo (not a real model)" for n in (1, 2)]


def test_a_cell_written_twice_shows_its_last_result(setup):
    write(setup.root, [row(setup, setup.v1, ECHO, 1, seconds=5, output="second")])
    write(setup.root, [row(setup, setup.v1, ECHO, 1, seconds=1, output="first")])
    assert load(setup).cell(1, 1, f"{setup.v1}:{ECHO}").output == "second"


def test_errors_are_shown_as_kind_and_message(setup):
    write(setup.root, [row(setup, setup.v1, LLAMA, 1, output="fine"),
                       row(setup, setup.v1, LLAMA, 2, output=None, error="took 30 s", error_kind="timeout"),
                       row(setup, setup.v1, LLAMA, 3, output=None, error="boom", error_kind=None)])
    frame = matrix.to_frame(load(setup))
    label = f"v1 × {LLAMA}"
    assert frame[label].to_list() == ["fine", "ERROR (timeout): took 30 s", "ERROR: boom", "3 calls, 2 errors"]


def test_frame_has_a_row_per_case_and_repeat_and_a_summary_row(setup):
    write(setup.root, full_grid(setup))
    frame = matrix.to_frame(load(setup))
    assert frame["case"].to_list() == ["1", "1", "2", "2", "summary"]
    assert frame["repeat"].to_list() == [1, 2, 1, 2, None]
    label = f"v2 (main) × {LLAMA}"
    assert frame[f"{label} [latency_ms]"].to_list() == [100.0] * 5
    assert frame[f"{label} [input_tokens]"].to_list() == [10] * 4 + [40]
    assert frame[f"{label} [cost_usd]"][-1] == pytest.approx(0.004)


def test_frame_has_no_repeat_column_for_single_repeats(setup):
    write(setup.root, [row(setup, setup.v1, ECHO, case) for case in (2, 1)])
    frame = matrix.to_frame(load(setup))
    assert frame.columns[:2] == ["case", "v1 × offline/echo (not a real model)"]
    assert frame["case"].to_list() == ["1", "2", "summary"]


def test_summary_equals_a_direct_computation(setup):
    latencies = [12.0, 250.5, 33.0, 47.25, 980.0, 5.5, 61.0, 77.0, 140.0, 300.0, 18.0]
    rows = [row(setup, setup.v1, LLAMA, i + 1, latency_ms=ms, input_tokens=i, output_tokens=2 * i, cost_usd=ms / 1e5)
            for i, ms in enumerate(latencies)]
    rows.append(row(setup, setup.v1, LLAMA, 99, output=None, error="x", error_kind="server", latency_ms=9999.0,
                    input_tokens=None, output_tokens=None, cost_usd=None))
    write(setup.root, rows)
    [s] = matrix.summary(load(setup))
    assert (s.calls, s.errors) == (12, 1)
    assert s.mean_latency_ms == pytest.approx(sum(latencies) / len(latencies))
    assert s.p95_latency_ms == pytest.approx(pl.Series(latencies).quantile(0.95, interpolation="linear"))
    assert (s.input_tokens, s.output_tokens) == (sum(range(11)), 2 * sum(range(11)))
    assert s.cost_usd == pytest.approx(sum(latencies) / 1e5)


def test_summary_latency_is_none_without_a_successful_call(setup):
    write(setup.root, [row(setup, setup.v1, ECHO, 1, output=None, error="down", error_kind="connection")])
    [s] = matrix.summary(load(setup))
    assert (s.calls, s.errors, s.mean_latency_ms, s.p95_latency_ms) == (1, 1, None, None)


def test_another_team_sees_no_matrix_and_its_rows_stay_out(setup, person, workspace):
    write(setup.root, [row(setup, setup.v1, ECHO, 1), row(setup, setup.v1, ECHO, 2, team_id=setup.team_id + 100)])
    outsider = person("out@example.com", None)
    teams.create_team(outsider, "Other")
    with pytest.raises(NotFoundError, match=f"no run {setup.run_id}"):
        load(setup, workspace.context_for("out@example.com", team="Other"))
    assert load(setup).cases == [1]


def test_csv_export_defangs_formulas_and_round_trips_the_rest(setup):
    hostile = '=HYPERLINK("http://evil.example","click")'
    write(setup.root, [row(setup, setup.v1, ECHO, 1, output=hostile), row(setup, setup.v1, ECHO, 2, output='a "b", c')])
    m = load(setup)
    parsed = list(csv.reader(io.StringIO(matrix.export_csv(m).decode("utf-8"))))
    frame = matrix.to_frame(m)
    assert parsed[0] == frame.columns
    assert parsed[1][1] == "'" + hostile
    assert parsed[2] == ["2", 'a "b", c', "100.0", "10", "20", "0.001"]
    assert parsed[3][:2] == ["summary", "2 calls, 0 errors"]


def test_parquet_export_round_trips(setup):
    write(setup.root, full_grid(setup) + [row(setup, setup.v1, ECHO, 3, output=None, error="e", error_kind="auth")])
    m = load(setup)
    assert pl.read_parquet(io.BytesIO(matrix.export_parquet(m))).equals(matrix.to_frame(m))


def test_cell_diff_shows_an_insertion(setup):
    write(setup.root, [row(setup, setup.v1, ECHO, 1, output="hello world\n"),
                       row(setup, setup.v1, LLAMA, 1, output="hello big world\n")])
    d = matrix.cell_diff(load(setup), f"{setup.v1}:{ECHO}", f"{setup.v1}:{LLAMA}", 1)
    assert d.diff.has_changes and d.diff.stats.chars_inserted == len("big ") and d.diff.stats.chars_deleted == 0
    assert (INSERT, "big ") in d.diff.sections[0].ops
    assert '<span class="pv-diff-word-ins">big </span>' in d.inline_html
    assert "pv-diff-ins" in d.side_by_side_html


def test_cell_diff_of_an_unknown_column_is_not_found(setup):
    write(setup.root, [row(setup, setup.v1, ECHO, 1)])
    with pytest.raises(NotFoundError):
        matrix.cell_diff(load(setup), f"{setup.v1}:{ECHO}", "999:nope", 1)


def test_an_unwritten_run_gives_an_empty_matrix(setup):
    m = load(setup)
    assert (m.columns, m.cases, m.cells, matrix.summary(m)) == ([], [], {}, [])
    assert matrix.to_frame(m)["case"].to_list() == ["summary"]
