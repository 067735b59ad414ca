"""Analytics views on real Parquet history, real DuckDB and a real metadata store, checked against Python sums."""

from __future__ import annotations

import csv
import dataclasses
import io
import math
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal
from sqlalchemy import select

from promptvault import analytics, analytics_engine, library, teams, versioning
from promptvault.analytics import Filters
from promptvault.errors import NotFoundError, PermissionDeniedError, ValidationError
from promptvault.history import HISTORY_SCHEMA, HistoryReader, HistoryWriter
from promptvault.store.tables import Project, Run, TeamBudget

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
DAY0 = T0.date()
QUOTED = "o'model\"; DROP TABLE x; --"
MODELS = {"openai/gpt-4o-mini": "openai", "anthropic/claude": "anthropic", QUOTED: "openai"}
KINDS = ["timeout", "rate_limit", None]


@dataclass
class World:
    """Two teams' history (Default and Other, both the local user's; alice is a viewer of Default only)."""

    ctx: object
    alice: object
    root: Path
    rows: list[dict]
    team: int
    other: int
    prompts: dict[int, str]
    versions: dict[int, int]
    emails: dict[int, str]


def make_rows(ctx, team: int, other: int, other_project: int, ids: list[tuple[int, int]],
              users: list[int]) -> list[dict]:
    """120 varied rows: 3 days, 3 models, 2 runs, errors with and without a kind, latencies 5 ms..950 ms."""
    rows = []
    for i in range(120):
        model = list(MODELS)[i % 3]
        in_other = i % 7 == 0
        prompt_id, version_id = (None, None) if in_other else ids[(i // 3) % 3]
        failed = i % 5 == 0
        rows.append(dict(
            run_id=1 + i % 2, cell_key=f"c{i}", prompt_id=prompt_id, version_id=version_id, model=model,
            provider=MODELS[model], output="=cmd|' /C calc'!A0" if i == 1 else f"out {i}",
            error="boom" if failed else None, error_kind=KINDS[(i // 5) % 3] if failed else None,
            latency_ms=5 * 1.3 ** (i % 20), input_tokens=i, output_tokens=2 * i, cost_usd=0.001 * (i % 11 + 1),
            team_id=other if in_other else team, project_id=other_project if in_other else ctx.project_id,
            user_id=users[i % 2], finished_at=T0 + timedelta(days=i % 3, seconds=i)))
    return rows


@pytest.fixture
def world(ctx, person, tmp_path) -> World:
    """The shared data set, written in three flushes (several parts per partition)."""
    alice = person("alice@example.com", "viewer")
    library.create_prompt(ctx, "p")
    pv1 = versioning.commit(ctx, "p", "a {{ x }}", {}, "v1").id
    pv2 = versioning.commit(ctx, "p", "b {{ x }}", {}, "v2").id
    library.create_prompt(ctx, "q")
    qv1 = versioning.commit(ctx, "q", "c {{ x }}", {}, "v1").id
    team, other = teams.team_id_by_name(ctx, "Default"), teams.create_team(ctx, "Other").id
    with ctx.db.read() as session:
        other_project = session.scalar(select(Project.id).where(Project.team_id == other))
    p_id, q_id = (library.get_prompt_info(ctx, n).id for n in ("p", "q"))
    ids = [(p_id, pv1), (p_id, pv2), (q_id, qv1)]
    users = [ctx.actor.user_id, alice.actor.user_id]
    rows = make_rows(ctx, team, other, other_project, ids, users)
    root = tmp_path / "store"
    for k in range(3):
        writer = HistoryWriter(root)
        writer.append([r for j, r in enumerate(rows) if j % 3 == k])
        writer.flush()
    return World(ctx, alice, root, rows, team, other, {p_id: "p", q_id: "q"}, {pv1: 1, pv2: 2, qv1: 1},
                 {ctx.actor.user_id: ctx.actor.email, alice.actor.user_id: "alice@example.com"})


def failed(r: dict) -> bool:
    """Whether a row counts as an error."""
    return r["error"] is not None or r["error_kind"] is not None


def day_of(r: dict) -> date:
    """A row's day."""
    return r["finished_at"].date()


def quantile_cont(values: list[float], q: float) -> float:
    """Linear interpolation between the closest ranks, as DuckDB's quantile_cont."""
    xs, h = sorted(values), (len(values) - 1) * q
    lo = math.floor(h)
    return xs[lo] + (h - lo) * (xs[min(lo + 1, len(xs) - 1)] - xs[lo])


# Each case: the filters (built from the world) and the same condition on a Python row.
CASES = {
    "all": (lambda w: Filters(), lambda w, r: True),
    "default team": (lambda w: Filters(team="Default"), lambda w, r: r["team_id"] == w.team),
    "model with quotes": (lambda w: Filters(model=QUOTED), lambda w, r: r["model"] == QUOTED),
    "days": (lambda w: Filters(since=DAY0 + timedelta(days=1), until=DAY0 + timedelta(days=1)),
             lambda w, r: day_of(r) == DAY0 + timedelta(days=1)),
    "prompt version": (lambda w: Filters(prompt="p", version=2),
                       lambda w, r: w.prompts.get(r["prompt_id"]) == "p" and w.versions.get(r["version_id"]) == 2),
    "version of any prompt": (lambda w: Filters(version=1), lambda w, r: w.versions.get(r["version_id"]) == 1),
    "user and provider": (lambda w: Filters(user="alice@example.com", provider="openai"),
                          lambda w, r: w.emails[r["user_id"]] == "alice@example.com" and r["provider"] == "openai"),
    "errors only": (lambda w: Filters(status="error"), lambda w, r: failed(r)),
    "ok in other team": (lambda w: Filters(status="ok", team="Other"),
                         lambda w, r: not failed(r) and r["team_id"] == w.other),
    "run (raw rows)": (lambda w: Filters(run_id=2, project="default"), lambda w, r: r["run_id"] == 2),
    "run and day": (lambda w: Filters(run_id=1, until=DAY0), lambda w, r: r["run_id"] == 1 and day_of(r) == DAY0),
}


def selected(w: World, case: str) -> tuple[Filters, list[dict]]:
    """A case's filters and the rows it should count."""
    make, keep = CASES[case]
    return make(w), [r for r in w.rows if keep(w, r)]


def sums(rows: list[dict], key, *fields: str) -> dict:
    """Per key: the number of rows and the sum of each field."""
    out = defaultdict(lambda: [0] + [0] * len(fields))
    for r in rows:
        acc = out[key(r)]
        acc[0] += 1
        for i, f in enumerate(fields):
            acc[i + 1] += r[f]
    return {k: tuple(v) for k, v in out.items()}


def as_dict(frame: pl.DataFrame, keys: list[str], values: list[str]) -> dict:
    """A frame as {key tuple (or value): value tuple}."""
    out = {}
    for row in frame.iter_rows(named=True):
        k = tuple(row[c] for c in keys)
        out[k[0] if len(k) == 1 else k] = tuple(row[c] for c in values)
    return out


def approx(d: dict) -> dict:
    """Float figures compared approximately."""
    return {k: tuple(pytest.approx(x) if isinstance(x, float) else x for x in v) for k, v in d.items()}


@pytest.mark.parametrize("case", list(CASES))
def test_analytics_totals_and_sums_match_python(world, case):
    filters, rows = selected(world, case)
    got = analytics.totals(world.ctx, world.root, filters)
    assert (got.calls, got.errors) == (len(rows), sum(map(failed, rows)))
    assert (got.input_tokens, got.output_tokens) == (sum(r["input_tokens"] for r in rows),
                                                     sum(r["output_tokens"] for r in rows))
    assert got.cost_usd == pytest.approx(sum(r["cost_usd"] for r in rows))
    frame = analytics.cost_over_time(world.ctx, world.root, filters)
    assert frame.columns == ["day", "model", "calls", "cost_usd"]
    assert as_dict(frame, ["day", "model"], ["calls", "cost_usd"]) == approx(
        sums(rows, lambda r: (day_of(r), r["model"]), "cost_usd"))
    frame = analytics.tokens(world.ctx, world.root, filters)
    assert as_dict(frame, ["model"], ["calls", "input_tokens", "output_tokens"]) == sums(
        rows, lambda r: r["model"], "input_tokens", "output_tokens")


@pytest.mark.parametrize("case", list(CASES))
def test_analytics_breakdowns_match_python(world, case):
    filters, rows = selected(world, case)
    ctx, root = world.ctx, world.root
    frame = analytics.errors(ctx, root, filters)
    assert frame.columns == ["provider", "error_kind", "errors", "calls", "error_rate"]
    calls = sums(rows, lambda r: r["provider"])
    want = {k: (n, calls[k[0]][0], n / calls[k[0]][0]) for k, (n,) in
            sums([r for r in rows if failed(r)], lambda r: (r["provider"], r["error_kind"] or "unknown")).items()}
    assert as_dict(frame, ["provider", "error_kind"], ["errors", "calls", "error_rate"]) == approx(want)
    frame = analytics.top_users(ctx, root, filters, limit=50)
    assert frame.columns == ["user", "calls", "cost_usd"]
    assert frame["cost_usd"].to_list() == sorted(frame["cost_usd"].to_list(), reverse=True)
    assert as_dict(frame, ["user"], ["calls", "cost_usd"]) == approx(
        sums(rows, lambda r: world.emails[r["user_id"]], "cost_usd"))
    frame = analytics.top_prompts(ctx, root, filters, limit=50)
    assert as_dict(frame, ["prompt"], ["calls", "cost_usd"]) == approx(
        sums(rows, lambda r: world.prompts.get(r["prompt_id"]), "cost_usd"))
    frame = analytics.versions(ctx, root, filters)
    assert frame.columns == ["prompt", "version", "calls", "cost_usd", "mean_cost_usd", "p50_ms", "p95_ms"]
    want = sums(rows, lambda r: (world.prompts.get(r["prompt_id"]), world.versions.get(r["version_id"])), "cost_usd")
    assert as_dict(frame, ["prompt", "version"], ["calls", "cost_usd", "mean_cost_usd"]) == approx(
        {k: (n, c, c / n) for k, (n, c) in want.items()})


@pytest.mark.parametrize("case", list(CASES))
def test_analytics_latency_is_exact_and_histogram_counts_ok_calls(world, case):
    filters, rows = selected(world, case)
    ok = [r for r in rows if not failed(r)]
    frame = analytics.latency(world.ctx, world.root, filters)
    assert frame.columns == ["model", "calls", "mean_ms", "p50_ms", "p95_ms", "p99_ms"]
    want = {}
    for model in {r["model"] for r in ok}:
        xs = [r["latency_ms"] for r in ok if r["model"] == model]
        want[model] = (len(xs), sum(xs) / len(xs), *(quantile_cont(xs, q) for q in (0.5, 0.95, 0.99)))
    assert as_dict(frame, ["model"], ["calls", "mean_ms", "p50_ms", "p95_ms", "p99_ms"]) == approx(want)
    hist = analytics.latency_histogram(world.ctx, world.root, filters)
    assert hist.columns == ["model", "bucket_ms", "calls"]
    assert hist.group_by("model").agg(pl.col("calls").sum()).sort("model").rows() == sorted(
        (m, v[0]) for m, v in want.items())


def test_analytics_totals_percentiles_within_the_histogram_bound(world):
    got = analytics.totals(world.ctx, world.root, Filters())
    xs = sorted(r["latency_ms"] for r in world.rows if not failed(r))
    for q, est in ((0.5, got.p50_latency_ms), (0.95, got.p95_latency_ms)):
        exact = xs[max(1, math.ceil(q * len(xs))) - 1]
        assert abs(est - exact) / exact <= math.sqrt(1.25) - 1 + 1e-9


@pytest.mark.parametrize("field, value", [
    ("model", "x' OR 1=1 --"), ("provider", "openai' OR '1'='1"), ("prompt", "p' OR 1=1 --"),
    ("project", "default' --"), ("user", "alice@example.com' OR 1=1 --"), ("model", "/etc/passwd"),
    ("model", "') UNION SELECT * FROM read_csv('/etc/passwd') --"), ("prompt", "nul\x00byte"),
])
def test_analytics_hostile_filter_values_are_literals(world, field, value):
    filters = Filters(**{field: value})
    assert analytics.totals(world.ctx, world.root, filters).calls == 0
    assert analytics.raw_rows(world.ctx, world.root, filters).height == 0
    assert analytics.cost_over_time(world.ctx, world.root, filters).height == 0


@pytest.mark.parametrize("filters", [
    Filters(status="ok' OR 1=1"), Filters(version="2"), Filters(run_id="1 OR 1=1"), Filters(since="2026-01-01"),
    Filters(model=3),
])
def test_analytics_malformed_filters_are_refused(world, filters):
    with pytest.raises(ValidationError):
        analytics.totals(world.ctx, world.root, filters)


@pytest.mark.parametrize("team", ["Other", "Nope", "Default' OR 1=1 --", "x\x00"])
def test_analytics_a_team_the_actor_is_not_in_is_not_found(world, team):
    for view in (analytics.totals, analytics.raw_rows, analytics.budgets):
        with pytest.raises(NotFoundError):
            view(world.alice, world.root, Filters(team=team))


def test_analytics_a_member_sees_only_their_teams_rows(world):
    mine = [r for r in world.rows if r["team_id"] == world.team]
    assert analytics.totals(world.alice, world.root, Filters()).calls == len(mine)
    assert set(analytics.raw_rows(world.alice, world.root, Filters())["team_id"]) == {world.team}
    assert analytics.latency(world.alice, world.root, Filters())["calls"].sum() == sum(not failed(r) for r in mine)
    assert analytics.budgets(world.alice, world.root, Filters())["team"].to_list() == ["Default"]


def test_analytics_duckdb_cannot_read_outside_the_history_folder(world, tmp_path):
    outside = tmp_path / "secret.csv"
    outside.write_text("a\n1\n")
    con = HistoryReader(world.root).connect_parts([])
    for path in ("/etc/passwd", str(outside)):
        with pytest.raises(duckdb.PermissionException):
            con.execute("SELECT * FROM read_csv(?)", [path]).fetchall()
    with pytest.raises(duckdb.Error):
        con.execute("SET enable_external_access = true")
    with pytest.raises(ValidationError):
        HistoryReader(world.root).connect_parts([outside])


def test_analytics_raw_rows_newest_first_with_every_column(world):
    frame = analytics.raw_rows(world.ctx, world.root, Filters(team="Default"), limit=5)
    assert frame.columns == HISTORY_SCHEMA.names and frame.height == 5
    newest = sorted((r["finished_at"] for r in world.rows if r["team_id"] == world.team), reverse=True)[:5]
    assert frame["finished_at"].to_list() == newest
    with pytest.raises(ValidationError):
        analytics.raw_rows(world.ctx, world.root, Filters(), limit=-1)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_analytics_export_raw_round_trips(world, tmp_path, fmt):
    filters = Filters(run_id=2)
    out = tmp_path / f"rows.{fmt}"
    want = analytics.raw_rows(world.ctx, world.root, filters)
    assert analytics.export_raw(world.ctx, world.root, filters, fmt, out) == want.height == 60
    if fmt == "parquet":
        assert pl.read_parquet(out).equals(want)
        assert pq.read_schema(out).names == HISTORY_SCHEMA.names
        return
    text = out.read_bytes().decode("utf-8")
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed[0] == HISTORY_SCHEMA.names and len(parsed) == 61
    assert all(line.startswith('"') and line.endswith('"') for line in text.split("\r\n") if line)
    outputs = [row[parsed[0].index("output")] for row in parsed[1:]]
    assert "'=cmd|' /C calc'!A0" in outputs and not any(o.startswith("=") for o in outputs)
    assert [row[parsed[0].index("cell_key")] for row in parsed[1:]] == want["cell_key"].to_list()


def test_analytics_export_frame_csv_defangs_and_parquet_is_equal(world):
    frame = pl.DataFrame({"model": ["=HYPERLINK(\"http://x\")", "plain, \"quoted\"", "@sum", None], "n": [1, -2, 3, 4]})
    text = analytics.export_frame(frame, "csv").decode()
    assert text.splitlines()[1] == '"\'=HYPERLINK(""http://x"")","1"'
    assert list(csv.reader(io.StringIO(text)))[1:] == [
        ["'=HYPERLINK(\"http://x\")", "1"], ['plain, "quoted"', "'-2"], ["'@sum", "3"], ["", "4"]]
    assert pl.read_parquet(io.BytesIO(analytics.export_frame(frame, "parquet"))).equals(frame)
    with pytest.raises(ValidationError):
        analytics.export_frame(frame, "xlsx")


@pytest.mark.parametrize("name", analytics.VIEWS)
def test_analytics_view_by_name(world, name):
    frame = analytics.view(world.ctx, world.root, name, Filters())
    assert isinstance(frame, pl.DataFrame) and frame.height > 0


@pytest.mark.parametrize("name", ["raw_rows", "totals", "../../etc/passwd", "_query", ""])
def test_analytics_view_refuses_other_names(world, name):
    with pytest.raises(ValidationError):
        analytics.view(world.ctx, world.root, name, Filters())


def test_analytics_budgets_compare_limit_and_this_month(world):
    now = datetime.now(UTC)
    with world.ctx.db.write() as session:
        session.add(TeamBudget(team_id=world.team, limit_usd=10.0, updated_by=world.ctx.actor.user_id))
        for cost, when in ((2.5, now), (1.0, now - timedelta(days=62))):
            session.add(Run(team_id=world.team, project_id=world.ctx.project_id, spec={}, cost_usd=cost,
                            created_by=world.ctx.actor.user_id, created_at=when))
    frame = analytics.budgets(world.ctx, world.root, Filters())
    assert frame.rows() == [("Default", 10.0, 2.5, 7.5), ("Other", None, 0.0, None)]
    assert analytics.budgets(world.ctx, world.root, Filters(team="Other")).rows() == [("Other", None, 0.0, None)]


def test_analytics_empty_history(ctx, tmp_path):
    got = analytics.totals(ctx, tmp_path, Filters())
    assert (got.calls, got.cost_usd, got.p50_latency_ms) == (0, 0.0, None)
    for name in analytics.VIEWS[:-1]:
        assert analytics.view(ctx, tmp_path, name, Filters()).height == 0
    assert analytics.export_raw(ctx, tmp_path, Filters(), "csv", tmp_path / "x.csv") == 0


def test_analytics_a_new_flush_shows_in_the_next_query(world):
    assert analytics.totals(world.ctx, world.root, Filters()).calls == 120
    assert analytics.raw_rows(world.ctx, world.root, Filters()).height == 120
    more = [{**r, "cell_key": f"new-{r['cell_key']}"} for r in world.rows[:9]]
    writer = HistoryWriter(world.root)
    writer.append(more)
    writer.flush()
    assert analytics.totals(world.ctx, world.root, Filters()).calls == 129
    assert analytics.raw_rows(world.ctx, world.root, Filters()).height == 129
    ok = sum(not failed(r) for r in world.rows + more)
    assert analytics.latency(world.ctx, world.root, Filters())["calls"].sum() == ok


def test_analytics_one_engine_per_root_never_shows_another_teams_rows(world):
    for name in analytics.VIEWS:  # the owner of both teams warms every cache first
        analytics.view(world.ctx, world.root, name, Filters())
    analytics.raw_rows(world.ctx, world.root, Filters())
    assert analytics_engine.for_root(world.root) is analytics_engine.for_root(world.root)
    mine = [r for r in world.rows if r["team_id"] == world.team]
    assert analytics.totals(world.alice, world.root, Filters()).calls == len(mine)
    assert set(analytics.raw_rows(world.alice, world.root, Filters())["team_id"]) == {world.team}
    assert analytics.tokens(world.alice, world.root, Filters())["calls"].sum() == len(mine)
    with pytest.raises(NotFoundError):
        analytics.totals(world.alice, world.root, Filters(team="Other"))


def test_analytics_concurrent_calls_from_threads_agree_with_serial_ones(world):
    calls = [("totals", Filters()), ("latency", Filters()), ("cost_over_time", Filters(team="Other")),
             ("versions", Filters(model=QUOTED)), ("errors", Filters()), ("raw_rows", Filters(run_id=1))]

    def run(name, filters):
        return getattr(analytics, name)(world.ctx, world.root, filters)

    want = [run(*c) for c in calls]
    with ThreadPoolExecutor(max_workers=6) as pool:
        got = list(pool.map(lambda c: run(*c), calls * 5))
    for i, result in enumerate(got):
        expected = want[i % len(calls)]
        if isinstance(expected, analytics.Totals):
            assert result == dataclasses.replace(expected, cost_usd=pytest.approx(expected.cost_usd))
        else:  # float sums may differ in the last bits with DuckDB's thread order
            assert_frame_equal(result, expected)


@pytest.mark.parametrize("day", [2, 0])  # the newest day (older days remembered) or an older one
def test_analytics_views_after_a_flush_equal_a_fresh_engines(world, day):
    names = ("totals", "cost_over_time", "tokens", "errors", "versions", "top_users", "top_prompts",
             "latency_histogram")
    for name in names:  # remember every view
        getattr(analytics, name)(world.ctx, world.root, Filters())
    writer = HistoryWriter(world.root)
    late = [r for r in world.rows if day_of(r) == DAY0 + timedelta(days=day)]
    writer.append([{**r, "cell_key": f"late-{r['cell_key']}"} for r in late])
    writer.flush()
    got = {n: getattr(analytics, n)(world.ctx, world.root, Filters()) for n in names}
    analytics_engine._ENGINES.clear()  # nothing remembered
    for name in names:
        want = getattr(analytics, name)(world.ctx, world.root, Filters())
        if name == "totals":
            assert got[name] == dataclasses.replace(want, cost_usd=pytest.approx(want.cost_usd))
        else:
            assert_frame_equal(got[name], want)


def test_prune_needs_the_admin_role_and_keeps_other_teams(workspace, person, tmp_path):
    local = workspace.local_context()
    editor = person("editor@example.com", "editor")
    root = workspace.settings.data_dir
    with pytest.raises(PermissionDeniedError, match="admin role"):
        analytics.prune(editor, root, date.today())
    with pytest.raises(PermissionDeniedError, match="admin role in 'Default'"):
        analytics.prune(editor, root, date.today(), team="Default")
    with pytest.raises(NotFoundError, match="no team 'Elsewhere'"):
        analytics.prune(local, root, date.today(), team="Elsewhere")
    assert analytics.prune(local, root, date.today()) == {"Default": 0}
