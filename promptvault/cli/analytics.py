"""`promptvault stats`, `promptvault export` and `promptvault history ...`: the analytics views in the terminal,
exports of them and of raw rows, and upkeep of the history files (compaction, retention)."""

from __future__ import annotations

import sys
import tempfile
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import click

from promptvault.cli.acting import context, workspace
from promptvault.cli.output import echo_json, echo_table
from promptvault.errors import ValidationError

json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
_DAY = click.DateTime(formats=["%Y-%m-%d"])
_FILTER_OPTIONS = (
    click.option("--since", type=_DAY, metavar="YYYY-MM-DD", help="First day counted (UTC, YYYY-MM-DD)."),
    click.option("--until", type=_DAY, metavar="YYYY-MM-DD", help="Last day counted (UTC, YYYY-MM-DD)."),
    click.option("--team", metavar="T", help="Only this team (one of yours; default: all of them)."),
    click.option("--project", metavar="P", help="Only this project."),
    click.option("--prompt", metavar="NAME", help="Only this prompt."),
    click.option("--version", type=int, metavar="N", help="Only this version number of --prompt."),
    click.option("--model", metavar="M", help="Only this model."),
    click.option("--provider", metavar="P", help="Only this provider."),
    click.option("--user", metavar="EMAIL", help="Only calls of this user's runs."),
    click.option("--run", "run_id", type=int, metavar="ID", help="Only this run."),
    click.option("--status", type=click.Choice(["ok", "error"]), help="Only successful or only failed calls."),
)
_FILTER_NAMES = ("since", "until", "team", "project", "prompt", "version", "model", "provider", "user", "run_id",
                 "status")


def filter_options(command):
    """Add the shared filter options to a command (they arrive as keyword arguments; see `filters`)."""
    for option in reversed(_FILTER_OPTIONS):
        command = option(command)
    return command


def filters(options: dict):
    """The analytics Filters of a command's filter options (days as dates)."""
    from promptvault.analytics import Filters

    values = {name: options.pop(name) for name in _FILTER_NAMES}
    for bound in ("since", "until"):
        values[bound] = values[bound].date() if values[bound] else None
    return Filters(**values)


@click.command("stats")
@filter_options
@click.option("--view", "view_name", metavar="NAME", help="Print only this view (default: every view).")
@json_option
def stats(view_name: str | None, as_json: bool, **options) -> None:
    """Print the totals and the analytics views (cost, latency, tokens, errors, versions, top users and prompts,
    budgets) under the filters."""
    from promptvault import analytics

    ctx, root, chosen = context(), data_dir(), filters(options)
    names = [view_name] if view_name else list(analytics.VIEWS)
    frames = {name: analytics.view(ctx, root, name, chosen) for name in names}  # an unknown name fails here
    summary = analytics.totals(ctx, root, chosen)
    if as_json:
        return echo_json({"totals": summary, "views": {n: _json_rows(f) for n, f in frames.items()}})
    click.echo(totals_line(summary))
    for name, frame in frames.items():
        click.echo(f"\n{name}")
        echo_frame(frame)


def echo_frame(frame) -> None:
    """A frame as an aligned table: column names as headers, cells formatted by `cell`."""
    rows = [[cell(c, v) for c, v in row.items()] for row in frame.to_dicts()]
    echo_table([c.upper().replace("_", " ") for c in frame.columns], rows)


def totals_line(t) -> str:
    """`calls 12  errors 1  tokens 540 in / 636 out  cost $0.0000  p50 8 ms  p95 12 ms` for a Totals."""
    return (f"calls {t.calls:,}  errors {t.errors:,}  tokens {t.input_tokens:,} in / {t.output_tokens:,} out  "
            f"cost ${t.cost_usd:,.4f}  p50 {cell('_ms', t.p50_latency_ms)} ms  p95 {cell('_ms', t.p95_latency_ms)} ms")


def cell(column: str, value) -> str:
    """A value for a table cell, formatted by its column: dollars, milliseconds, a rate, a count."""
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value.isoformat() if isinstance(value, date) else str(value)
    if column.endswith("_usd"):
        return f"${value:,.4f}"
    if column.endswith("_rate"):
        return f"{value:.1%}"
    if column.endswith("_ms"):
        return f"{value:,.0f}" if value >= 10 else f"{value:.1f}"  # offline and cached calls take under 1 ms
    return f"{value:,}" if isinstance(value, int) else f"{value:,.2f}"


def _json_rows(frame) -> list[dict]:
    """A frame's rows as JSON-ready dicts (days as ISO text)."""
    return [{k: v.isoformat() if isinstance(v, date) else v for k, v in row.items()} for row in frame.to_dicts()]


def data_dir() -> Path:
    """The data folder of the workspace the environment names (the history lives under it)."""
    return workspace().settings.data_dir


@click.command("export")
@filter_options
@click.option("--view", "view_name", metavar="NAME", help="Export this view (see `promptvault stats`).")
@click.option("--raw", is_flag=True, help="Export the raw history rows under the filters instead of a view.")
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet"]), default="csv", show_default=True,
              help="CSV (every field quoted, formula cells defanged) or Parquet.")
@click.option("--out", required=True, metavar="FILE", help="File to write; `-` prints CSV to stdout.")
def export(view_name: str | None, raw: bool, fmt: str, out: str, **options) -> None:
    """Export a view, or the raw history rows, under the filters as CSV or Parquet."""
    from promptvault import analytics

    if bool(view_name) == raw:
        raise ValidationError("give either --view NAME or --raw (exactly one)")
    if out == "-" and fmt != "csv":
        raise ValidationError("Parquet is binary: give --out FILE (only CSV goes to stdout)")
    ctx, root, chosen = context(), data_dir(), filters(options)
    if raw:
        rows = _export_raw(ctx, root, chosen, fmt, out)
    else:
        frame = analytics.view(ctx, root, view_name, chosen)
        _write(analytics.export_frame(frame, fmt), out)
        rows = frame.height
    what = f"raw row{'' if rows == 1 else 's'}" if raw else f"row{'' if rows == 1 else 's'} of {view_name}"
    click.echo(f"wrote {rows:,} {what} as {fmt}" + ("" if out == "-" else f" to {out}"), err=out == "-")


def _export_raw(ctx, root: Path, chosen, fmt: str, out: str) -> int:
    """Stream the raw rows to `out` (through a temp file when it is stdout); how many were written."""
    from promptvault import analytics

    if out != "-":
        return analytics.export_raw(ctx, root, chosen, fmt, Path(out))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"export.{fmt}"
        rows = analytics.export_raw(ctx, root, chosen, fmt, path)
        with open(path, "rb") as source:
            for chunk in iter(lambda: source.read(1 << 20), b""):
                click.echo(chunk, nl=False)  # bytes go to the binary stdout
    return rows


def _write(data: bytes, out: str) -> None:
    """Bytes to a file, or to stdout for `-`."""
    if out == "-":
        click.echo(data, nl=False)  # bytes go to the binary stdout
    else:
        Path(out).write_bytes(data)


@click.group("history")
def history_group() -> None:
    """Upkeep of the run history files: compact small parts, drop old raw rows (the rollups stay)."""


@history_group.command("compact")
@json_option
def compact(as_json: bool) -> None:
    """Merge the small Parquet parts of each partition into larger ones (safe to run while runs write)."""
    from promptvault import history

    root = data_dir()
    before = len(history.list_parts(root))
    written = history.compact(root)
    after = len(history.list_parts(root))
    result = {"parts_before": before, "parts_after": after, "merged_parts": len(written),
              "rows_merged": sum(w.rows for w in written)}
    if as_json:
        return echo_json(result)
    click.echo(f"parts: {before:,} → {after:,} ({len(written):,} merged parts, {result['rows_merged']:,} rows)")


@history_group.command("prune")
@click.option("--older-than", "days", type=click.IntRange(min=1), required=True, metavar="DAYS",
              help="Drop raw rows of days more than DAYS days before today (UTC).")
@click.option("--team", default=None, help="Only this team (default: every team where you are an admin).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
def prune(days: int, team: str | None, yes: bool, as_json: bool) -> None:
    """Drop raw history rows older than DAYS days (admins); the daily rollups keep their totals for stats and charts."""
    from promptvault import analytics

    cutoff = datetime.now(timezone.utc).date() - timedelta(days=days)
    if not yes and not click.confirm(f"Drop every raw history row before {cutoff} (the rollups are kept)?"):
        click.echo("nothing dropped", err=True)
        sys.exit(1)
    per_team = analytics.prune(context(), data_dir(), cutoff, team)
    dropped = sum(per_team.values())
    if as_json:
        return echo_json({"cutoff": cutoff.isoformat(), "rows_dropped": dropped, "teams": per_team})
    click.echo(f"dropped {dropped:,} raw rows of days before {cutoff}; their rollups are kept, so totals, cost, "
               "tokens and error counts still include them")
