"""`promptvault dataset ...`: import, list, show and export test-case datasets."""

from __future__ import annotations

import json
from pathlib import Path

import click

from promptvault.cli.acting import context
from promptvault.cli.output import echo_json, echo_table, short_time

json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
CELL_WIDTH = 40


@click.group()
@click.option("--project", default="default", show_default=True, help="Project the datasets belong to.")
@click.pass_context
def dataset(click_ctx: click.Context, project: str) -> None:
    """Import, list, show and export datasets of test cases."""
    click_ctx.obj = {**(click_ctx.obj or {}), "project": project}


def _ctx(click_ctx: click.Context):
    """The acting user's service context for this invocation."""
    return context(project=click_ctx.obj["project"])


@dataset.command("import")
@click.argument("name")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--replace", is_flag=True, help="Replace the dataset's cases instead of appending to them.")
@json_option
@click.pass_context
def import_cmd(click_ctx, name, file, replace, as_json) -> None:
    """Import FILE (.csv, .jsonl, or a tab-separated table) into dataset NAME, creating it if needed."""
    from promptvault import datasets

    info = datasets.import_file(_ctx(click_ctx), name, file, replace=replace)
    if as_json:
        return echo_json(info)
    verb = "replaced the cases of" if replace else "imported into"
    click.echo(f"{verb} '{info.name}': {info.imported:,} cases ({info.cases:,} in all)")


@dataset.command("list")
@json_option
@click.pass_context
def list_cmd(click_ctx, as_json) -> None:
    """List the project's datasets with their case counts."""
    from promptvault import datasets

    infos = datasets.list_datasets(_ctx(click_ctx))
    if as_json:
        return echo_json(infos)
    rows = [[d.name, d.cases, d.description[:60], d.created_by, short_time(d.updated_at)] for d in infos]
    echo_table(["NAME", "CASES", "DESCRIPTION", "CREATED BY", "UPDATED"], rows)


@dataset.command()
@click.argument("name")
@click.option("--limit", default=50, show_default=True, help="Cases to print (JSON output has all of them).")
@json_option
@click.pass_context
def show(click_ctx, name, limit, as_json) -> None:
    """Show dataset NAME and its cases."""
    from promptvault import datasets

    ctx = _ctx(click_ctx)
    info, cases = datasets.get_dataset(ctx, name), datasets.get_cases(ctx, name)
    if as_json:
        return echo_json({"dataset": info, "cases": cases})
    click.echo(f"{info.name}: {info.cases:,} cases  {info.description}".rstrip())
    rows = [[c.position, _short(c.variables), _short(c.expected), ",".join(c.tags)] for c in cases[:limit]]
    echo_table(["#", "VARIABLES", "EXPECTED", "TAGS"], rows)
    if len(cases) > limit:
        click.echo(f"... {len(cases) - limit:,} more (use --limit or --json)")


@dataset.command()
@click.argument("name")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv", show_default=True,
              help="CSV (every cell quoted, formula cells defanged) or JSON lines.")
@click.pass_context
def export(click_ctx, name, fmt) -> None:
    """Print dataset NAME's cases as CSV or JSON lines."""
    from promptvault import datasets

    click.echo(datasets.export_cases(_ctx(click_ctx), name, fmt), nl=False)


def _short(value: object) -> str:
    """A value on one line, cut to the table's cell width."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= CELL_WIDTH else text[: CELL_WIDTH - 1] + "…"
