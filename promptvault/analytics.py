"""Analytics over the run history: named DuckDB queries that return Polars frames (pages and the CLI only render).

Names, parameters and the columns of each returned frame are the interface the Analytics page and
`promptvault stats` / `export` build on.

Where figures come from: every view but `latency`, `budgets` and the raw ones sums the daily rollups
(promptvault.rollups), refreshed for the teams and days a query needs before it runs (cheap when fresh);
with a `run_id` filter (not a rollup key) the same sums are computed from the raw rows instead. `latency`
is exact (quantile_cont over raw rows); `totals`, `versions` and `latency_histogram` use the rollup
histograms (within 11.8 % of the exact nearest-rank value, see promptvault.rollups). Raw-based views
(`latency`, `raw_rows`, `export_raw`) cover only the days whose raw rows retention kept.

Speed: each process keeps one locked DuckDB per history root (promptvault.analytics_engine; every call runs on its own cursor)
and, per team, the visible raw parts, the rollup files and recent aggregate results, all valid while the
team's generation token (promptvault.history.generation, bumped by every flush, compaction and drop) is
unchanged: a repeated dashboard costs a token read per team, the filter lookups and the name lookups.

Safety: filter names are resolved to ids in the metadata store among the actor's teams (a team they are
not a member of: NotFoundError); every value reaches DuckDB as a bound parameter, every column name comes
from this code; DuckDB is the history module's locked connection (only the history folder, no network,
no extensions).
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import func, select

from promptvault import analytics_engine, history, rollups
from promptvault.analytics_engine import SUMS
from promptvault.authz import Role, roles_of
from promptvault.context import Context
from promptvault.csv_export import defang, to_csv
from promptvault.errors import NotFoundError, PermissionDeniedError, ValidationError
from promptvault.run_plan import month_start
from promptvault.store.tables import Project, Prompt, Run, Team, TeamBudget, User, Version

VIEWS = ("cost_over_time", "latency", "tokens", "errors", "versions", "top_users", "top_prompts", "budgets")
STATUSES = ("ok", "error")
EXPORT_BATCH_ROWS = 50_000
_RAW = f"(SELECT *, {rollups.STATUS_SQL} AS status FROM history) AS raw"
_DOUBLES = frozenset({"cost_usd", "latency_sum_ms"})


@dataclass(frozen=True)
class Filters:
    """What to count. Names (team, project, prompt, model, provider, user e-mail) are resolved in the core;
    a team the actor is not a member of is refused (NotFoundError). No team: every team of the actor."""

    since: date | None = None
    until: date | None = None
    team: str | None = None
    project: str | None = None
    prompt: str | None = None
    version: int | None = None  # a version number of `prompt`
    model: str | None = None
    provider: str | None = None
    user: str | None = None  # e-mail
    run_id: int | None = None
    status: str | None = None  # "ok" or "error"


@dataclass(frozen=True)
class Totals:
    """The headline numbers of a filter."""

    calls: int
    errors: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    p50_latency_ms: float | None
    p95_latency_ms: float | None


def totals(ctx: Context, root: Path, filters: Filters) -> Totals:
    """Calls, errors, tokens, cost and latency percentiles (from the daily rollups when filters allow)."""
    row = _grouped(ctx, root, filters, [], hist=True).row(0, named=True)
    counts = rollups.dense_counts(row["hist_b"], row["hist_n"])
    return Totals(calls=row["calls"], errors=row["errors"], input_tokens=row["input_tokens"],
                  output_tokens=row["output_tokens"], cost_usd=row["cost_usd"],
                  p50_latency_ms=rollups.percentile(counts, 0.5), p95_latency_ms=rollups.percentile(counts, 0.95))


def cost_over_time(ctx: Context, root: Path, filters: Filters) -> pl.DataFrame:
    """Columns: day (date), model (str), calls (int), cost_usd (float); one row per day × model (rollups)."""
    frame = _grouped(ctx, root, filters, ["day", "model"])
    return frame.select("day", "model", "calls", "cost_usd").sort("day", "model", nulls_last=True)


def latency(ctx: Context, root: Path, filters: Filters) -> pl.DataFrame:
    """Columns: model, calls, mean_ms, p50_ms, p95_ms, p99_ms (successful calls only).

    Exact (quantile_cont) over raw rows, so after retention it covers only the days whose raw rows are kept."""
    scope = _resolve(ctx, filters)
    where, params = _where(scope, raw=True)
    ok = "status = 'ok' AND latency_ms IS NOT NULL AND NOT isnan(latency_ms)"
    # one quantile_cont over a list of fractions sorts each group once, not three times
    sql = ("SELECT model, calls, mean_ms, q[1]::DOUBLE AS p50_ms, q[2]::DOUBLE AS p95_ms, q[3]::DOUBLE AS p99_ms FROM "
           "(SELECT model, count(*)::BIGINT AS calls, avg(latency_ms)::DOUBLE AS mean_ms, "
           f"quantile_cont(latency_ms, [0.5, 0.95, 0.99]) AS q FROM {_RAW}{_and(where, ok)} GROUP BY model) "
           "ORDER BY model NULLS LAST")
    return analytics_engine.query(root, scope, sql, params, facts=False, memo=True)


def latency_histogram(ctx: Context, root: Path, filters: Filters) -> pl.DataFrame:
    """Columns: model, bucket_ms (lower bound, float), calls; for the latency distribution chart."""
    frame = _grouped(ctx, root, filters, ["model"], hist=True)
    rows = [(model, rollups.bucket_bounds(b)[0], n)
            for model, bs, ns in frame.select("model", "hist_b", "hist_n").rows()
            for b, n in zip(bs or (), ns or ())]
    return pl.DataFrame(rows, schema={"model": pl.String, "bucket_ms": pl.Float64, "calls": pl.Int64},
                        orient="row").sort("model", "bucket_ms", nulls_last=True)


def tokens(ctx: Context, root: Path, filters: Filters) -> pl.DataFrame:
    """Columns: model, calls, input_tokens, output_tokens."""
    frame = _grouped(ctx, root, filters, ["model"])
    return frame.select("model", "calls", "input_tokens", "output_tokens").sort("model", nulls_last=True)


def errors(ctx: Context, root: Path, filters: Filters) -> pl.DataFrame:
    """Columns: provider, error_kind (null for ok rows is excluded), errors, calls, error_rate (errors/calls of that provider).

    An error row without a kind is counted under error_kind 'unknown'."""
    frame = _grouped(ctx, root, filters, ["provider", "status", "error_kind"])
    calls = frame.group_by("provider").agg(pl.col("calls").sum())
    failed = (frame.filter(pl.col("status") == "error")
              .with_columns(pl.col("error_kind").fill_null("unknown"))
              .group_by("provider", "error_kind").agg(pl.col("errors").sum()))
    out = failed.join(calls, on="provider", how="left", nulls_equal=True)
    out = out.with_columns((pl.col("errors") / pl.col("calls")).alias("error_rate"))
    return out.select("provider", "error_kind", "errors", "calls", "error_rate").sort(
        ["provider", "errors", "error_kind"], descending=[False, True, False], nulls_last=True)


def versions(ctx: Context, root: Path, filters: Filters) -> pl.DataFrame:
    """Columns: prompt, version (number), calls, cost_usd, mean_cost_usd, p50_ms, p95_ms; did v7 get cheaper?"""
    frame = _grouped(ctx, root, filters, ["prompt_id", "version_id"], hist=True)
    frame = _with_percentiles(frame, {"p50_ms": 0.5, "p95_ms": 0.95})
    prompts, numbers = _prompt_names(ctx, frame["prompt_id"]), _version_numbers(ctx, frame["version_id"])
    frame = frame.with_columns(
        pl.col("prompt_id").replace_strict(prompts, default=None, return_dtype=pl.String).alias("prompt"),
        pl.col("version_id").replace_strict(numbers, default=None, return_dtype=pl.Int64).alias("version"),
        (pl.col("cost_usd") / pl.col("calls")).alias("mean_cost_usd"))
    return frame.select("prompt", "version", "calls", "cost_usd", "mean_cost_usd", "p50_ms", "p95_ms").sort(
        "prompt", "version", nulls_last=True)


def top_users(ctx: Context, root: Path, filters: Filters, limit: int = 10) -> pl.DataFrame:
    """Columns: user (e-mail), calls, cost_usd; biggest spenders first."""
    frame = _top(ctx, root, filters, "user_id", limit)
    emails = _user_emails(ctx, frame["user_id"])
    return frame.select(pl.col("user_id").replace_strict(emails, default=None, return_dtype=pl.String).alias("user"),
                        "calls", "cost_usd")


def top_prompts(ctx: Context, root: Path, filters: Filters, limit: int = 10) -> pl.DataFrame:
    """Columns: prompt, calls, cost_usd; biggest spenders first."""
    frame = _top(ctx, root, filters, "prompt_id", limit)
    names = _prompt_names(ctx, frame["prompt_id"])
    return frame.select(pl.col("prompt_id").replace_strict(names, default=None, return_dtype=pl.String)
                        .alias("prompt"), "calls", "cost_usd")


def budgets(ctx: Context, root: Path, filters: Filters) -> pl.DataFrame:
    """Columns: team, limit_usd (null when none), spent_usd (this month), left_usd; per team of the actor.

    Spent is the cost of the team's runs created this calendar month (UTC), as the run budget check counts it."""
    scope = _resolve(ctx, filters)
    with ctx.db.read() as session:
        rows = []
        for team_id in scope.team_ids:
            name = session.scalar(select(Team.name).where(Team.id == team_id))
            limit = session.scalar(select(TeamBudget.limit_usd).where(TeamBudget.team_id == team_id))
            spent = float(session.scalar(select(func.coalesce(func.sum(Run.cost_usd), 0.0)).where(
                Run.team_id == team_id, Run.created_at >= month_start())) or 0.0)
            left = None if limit is None else max(float(limit) - spent, 0.0)
            rows.append((name, None if limit is None else float(limit), spent, left))
    schema = {"team": pl.String, "limit_usd": pl.Float64, "spent_usd": pl.Float64, "left_usd": pl.Float64}
    return pl.DataFrame(rows, schema=schema, orient="row").sort("team")


def view(ctx: Context, root: Path, name: str, filters: Filters) -> pl.DataFrame:
    """One of VIEWS by name (ValidationError for anything else)."""
    if not isinstance(name, str) or name not in VIEWS:
        raise ValidationError(f"unknown view {name!r}; use one of {', '.join(VIEWS)}")
    return globals()[name](ctx, root, filters)


def raw_rows(ctx: Context, root: Path, filters: Filters, limit: int | None = None) -> pl.DataFrame:
    """History rows under the filters (every HISTORY_SCHEMA column), newest first."""
    scope = _resolve(ctx, filters)
    sql, params = _raw_sql(scope)
    if limit is not None:
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
            raise ValidationError(f"limit must be a non-negative whole number, not {limit!r}")
        sql, params = sql + " LIMIT ?", params + [limit]
    return analytics_engine.query(root, scope, sql, params, facts=False)


def prune(ctx: Context, root: Path, cutoff: date, team: str | None = None) -> dict[str, int]:
    """Drop raw rows of days before `cutoff` (rollups kept) in `team`, or in every team the actor administers.

    Admins and owners only; returns the rows dropped per team name."""
    with ctx.db.read() as session:
        roles = roles_of(session, ctx.actor.user_id)
        names = dict(session.execute(select(Team.id, Team.name).where(Team.id.in_(list(roles)))).all())
    if team is not None:
        chosen = [i for i, name in names.items() if name == team]
        if not chosen:
            raise NotFoundError(f"no team '{team}' among your teams")
        if roles[chosen[0]] < Role.ADMIN:
            raise PermissionDeniedError(f"dropping history needs the admin role in '{team}'; you are {roles[chosen[0]]}")
    else:
        chosen = sorted(i for i, role in roles.items() if role >= Role.ADMIN)
        if not chosen:
            raise PermissionDeniedError("dropping history needs the admin role in a team")
    return {names[i]: rollups.drop_raw_before(root, cutoff, team_id=i) for i in chosen}


def export_frame(frame: pl.DataFrame, fmt: str) -> bytes:
    """A frame as CSV (RFC 4180, every formula-like cell defanged) or Parquet bytes; fmt in ("csv", "parquet")."""
    _check_format(fmt)
    if fmt == "csv":
        return to_csv(frame.columns, frame.iter_rows()).encode("utf-8")
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


def export_raw(ctx: Context, root: Path, filters: Filters, fmt: str, out: Path) -> int:
    """Stream the raw rows under the filters to a file (bounded memory); how many rows were written."""
    _check_format(fmt)
    scope = _resolve(ctx, filters)
    sql, params = _raw_sql(scope)
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp")
    engine = analytics_engine.for_root(root)
    for attempt in range(history.RETRIES):
        con = engine.cursor(scope, engine.tokens(scope.team_ids), facts=False)
        try:
            reader = con.sql(sql, params=params).to_arrow_reader(EXPORT_BATCH_ROWS)
            rows = (_stream_csv if fmt == "csv" else _stream_parquet)(reader, tmp)
            os.replace(tmp, out)
            return rows
        except duckdb.IOException:  # a compaction removed a listed part: start again on a fresh listing
            engine.forget(scope.team_ids)
            if attempt == history.RETRIES - 1:
                raise
        finally:
            con.close()
            tmp.unlink(missing_ok=True)
    raise AssertionError("unreachable")


# --- resolving filters -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Scope:
    """Filters resolved to ids: a tuple means any of (empty: nothing matches), None means no condition."""

    team_ids: tuple[int, ...]
    project_ids: tuple[int, ...] | None
    prompt_ids: tuple[int, ...] | None
    version_ids: tuple[int, ...] | None
    user_ids: tuple[int, ...] | None
    model: str | None
    provider: str | None
    run_id: int | None
    status: str | None
    since: date | None
    until: date | None


def _resolve(ctx: Context, f: Filters) -> Scope:
    """Check the filters and resolve names to ids among the actor's teams (NotFoundError for another team)."""
    _check_filters(f)
    with ctx.db.read() as session:
        mine = sorted(roles_of(session, ctx.actor.user_id))
        teams = tuple(mine) if f.team is None else (_member_team(session, mine, f.team),)
        projects = prompts = versions_ = users = None
        if f.project is not None:
            projects = _ids(session, f.project, select(Project.id).where(
                Project.team_id.in_(teams), Project.name == f.project))
        if f.prompt is not None:
            query = select(Prompt.id).join(Project, Project.id == Prompt.project_id).where(
                Project.team_id.in_(teams), Prompt.name == f.prompt)
            query = query if projects is None else query.where(Prompt.project_id.in_(projects))
            prompts = _ids(session, f.prompt, query)
        if f.version is not None:
            query = select(Version.id).join(Prompt, Prompt.id == Version.prompt_id).join(
                Project, Project.id == Prompt.project_id).where(Project.team_id.in_(teams), Version.number == f.version)
            versions_ = _ids(session, "", query if prompts is None else query.where(Version.prompt_id.in_(prompts)))
        if f.user is not None:
            users = _ids(session, f.user, select(User.id).where(User.email == f.user))
    return Scope(teams, projects, prompts, versions_, users, f.model, f.provider, f.run_id, f.status,
                  f.since, f.until)


def _check_filters(f: Filters) -> None:
    """ValidationError for a filter value of the wrong type or an unknown status."""
    if not isinstance(f, Filters):
        raise ValidationError("filters must be a Filters")
    for name in ("since", "until"):
        value = getattr(f, name)
        if value is not None and (not isinstance(value, date) or isinstance(value, datetime)):
            raise ValidationError(f"{name} must be a date, not {value!r}")
    for name in ("version", "run_id"):
        value = getattr(f, name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise ValidationError(f"{name} must be a whole number, not {value!r}")
    for name in ("team", "project", "prompt", "model", "provider", "user"):
        if getattr(f, name) is not None and not isinstance(getattr(f, name), str):
            raise ValidationError(f"{name} must be text")
    if f.status is not None and f.status not in STATUSES:
        raise ValidationError(f"status must be one of {', '.join(STATUSES)}, not {f.status!r}")


def _plain(text: str) -> bool:
    """Whether a name can be looked up in any store (PostgreSQL refuses NUL)."""
    return "\x00" not in text and len(text) <= 1000


def _member_team(session, mine: list[int], name: str) -> int:
    """The id of the actor's team of that name; NotFoundError for every other name."""
    team_id = session.scalar(select(Team.id).where(Team.name == name, Team.id.in_(mine))) if _plain(name) else None
    if team_id is None:
        raise NotFoundError("no such team")
    return team_id


def _ids(session, text: str, query) -> tuple[int, ...]:
    """The ids a lookup finds (none for a name no store could hold)."""
    return tuple(session.scalars(query)) if _plain(text) else ()


def _prompt_names(ctx: Context, ids: pl.Series) -> dict[int, str]:
    """Prompt names by id."""
    wanted = [i for i in ids.unique().to_list() if i is not None]
    with ctx.db.read() as session:
        return dict(session.execute(select(Prompt.id, Prompt.name).where(Prompt.id.in_(wanted))).all())


def _version_numbers(ctx: Context, ids: pl.Series) -> dict[int, int]:
    """Version numbers by version id."""
    wanted = [i for i in ids.unique().to_list() if i is not None]
    with ctx.db.read() as session:
        return dict(session.execute(select(Version.id, Version.number).where(Version.id.in_(wanted))).all())


def _user_emails(ctx: Context, ids: pl.Series) -> dict[int, str]:
    """User e-mails by id."""
    wanted = [i for i in ids.unique().to_list() if i is not None]
    with ctx.db.read() as session:
        return dict(session.execute(select(User.id, User.email).where(User.id.in_(wanted))).all())


# --- SQL -----------------------------------------------------------------------------------------------

def _where(scope: Scope, raw: bool) -> tuple[str, list]:
    """Conditions over rollup (or raw) columns; every value a bound parameter, every column from this code."""
    clauses, params = [], []
    for column, values in (("team_id", scope.team_ids), ("project_id", scope.project_ids),
                           ("prompt_id", scope.prompt_ids), ("version_id", scope.version_ids),
                           ("user_id", scope.user_ids)):
        if values is not None:
            clauses.append(f"{column} IN ({', '.join(['?'] * len(values))})" if values else "false")
            params.extend(values)
    single = [("model", scope.model), ("provider", scope.provider), ("status", scope.status)]
    for column, value in single + ([("run_id", scope.run_id)] if raw else []):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    for op, bound in ((">=", scope.since), ("<=", scope.until)):
        if bound is not None:
            clauses.append(f"day {op} ?")
            params.append(bound)
    return " AND ".join(clauses), params


def _and(where: str, *more: str) -> str:
    """A WHERE clause of the given conditions (nothing when there are none)."""
    parts = [w for w in (where, *more) if w]
    return f" WHERE {' AND '.join(parts)}" if parts else ""


def _facts(scope: Scope) -> tuple[str, list, bool]:
    """The rollup-shaped rows under the scope: the rollups, or raw rows aggregated alike for a run filter."""
    if scope.run_id is None:
        where, params = _where(scope, raw=False)
        return f"(SELECT * FROM rollups{_and(where)})", params, True
    where, params = _where(scope, raw=True)
    return f"({rollups.aggregate_sql(_and(where))})", params, False


def _grouped(ctx: Context, root: Path, filters: Filters, keys: list[str], hist: bool = False) -> pl.DataFrame:
    """Sums of every rollup measure (and, with `hist`, histogram bucket) per group of `keys` under the filters."""
    scope = _resolve(ctx, filters)
    cols = [_key(k) for k in keys]
    sums = [f"coalesce(sum({c}), 0)::{'DOUBLE' if c in _DOUBLES else 'BIGINT'} AS {c}" for c in SUMS]
    sums.append("coalesce(sum(calls) FILTER (WHERE latency_bucket IS NOT NULL), 0)::BIGINT AS latency_calls")
    source, params, from_rollups = _facts(scope)
    group = f" GROUP BY {', '.join(cols)}" if cols else ""
    sql = f"SELECT {', '.join(cols + sums)} FROM facts{group}"
    if hist:  # the merged histogram of each group as two lists: buckets and their counts
        hists = (f"SELECT {', '.join(cols + ['list(b ORDER BY b) AS hist_b', 'list(n ORDER BY b) AS hist_n'])} FROM "
                 f"(SELECT {', '.join(cols + ['latency_bucket AS b', 'sum(calls)::BIGINT AS n'])} FROM facts "
                 f"WHERE latency_bucket IS NOT NULL GROUP BY {', '.join(cols + ['latency_bucket'])}){group}")
        on = " AND ".join(f"g.{c} IS NOT DISTINCT FROM h.{c}" for c in cols) or "true"
        sql = f"SELECT g.*, h.hist_b, h.hist_n FROM ({sql}) AS g LEFT JOIN ({hists}) AS h ON {on}"
    sql = f"WITH facts AS {source} {sql}"
    if not from_rollups:
        return analytics_engine.query(root, scope, sql, params, facts=False, memo=True)
    return analytics_engine.query_split(root, scope, sql, params, cols, hist)


def _key(name: str) -> str:
    """A rollup group key from the allowlist."""
    if name not in rollups.ROLLUP_KEYS:
        raise ValidationError(f"unknown group key {name!r}")
    return name


def _top(ctx: Context, root: Path, filters: Filters, key: str, limit: int) -> pl.DataFrame:
    """The `limit` groups of `key` that cost most (ties by calls, then id)."""
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise ValidationError(f"limit must be a non-negative whole number, not {limit!r}")
    frame = _grouped(ctx, root, filters, [key])
    return frame.sort(["cost_usd", "calls", key], descending=[True, True, False], nulls_last=True).head(limit)


def _with_percentiles(frame: pl.DataFrame, wanted: dict[str, float]) -> pl.DataFrame:
    """The frame with percentile columns estimated from its histogram columns (which it drops)."""
    hists = [rollups.dense_counts(b, n) for b, n in frame.select("hist_b", "hist_n").rows()]
    return frame.drop("hist_b", "hist_n").with_columns(
        pl.Series(name, [rollups.percentile(h, q) for h in hists], dtype=pl.Float64) for name, q in wanted.items())


def _raw_sql(scope: Scope) -> tuple[str, list]:
    """Every history column of the raw rows under the scope, newest first."""
    where, params = _where(scope, raw=True)
    cols = ", ".join(history.check_column(c) for c in history.HISTORY_SCHEMA.names)
    return f"SELECT {cols} FROM {_RAW}{_and(where)} ORDER BY finished_at DESC, run_id, cell_key", params


def _check_format(fmt: str) -> None:
    """ValidationError unless fmt is csv or parquet."""
    if fmt not in ("csv", "parquet"):
        raise ValidationError(f"unknown export format {fmt!r}; use csv or parquet")


def _stream_csv(reader: pa.RecordBatchReader, path: Path) -> int:
    """Write record batches as RFC 4180 CSV (every field quoted, formula cells defanged); rows written."""
    rows = 0
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
        writer.writerow([defang(n) for n in reader.schema.names])
        for batch in reader:
            writer.writerows([defang(v) for v in row.values()] for row in batch.to_pylist())
            rows += batch.num_rows
    return rows


def _stream_parquet(reader: pa.RecordBatchReader, path: Path) -> int:
    """Write record batches as Parquet with the history schema; rows written."""
    rows = 0
    with pq.ParquetWriter(path, history.HISTORY_SCHEMA, compression="zstd") as writer:
        for batch in reader:
            writer.write_table(pa.Table.from_batches([batch]).cast(history.HISTORY_SCHEMA))
            rows += batch.num_rows
    return rows
