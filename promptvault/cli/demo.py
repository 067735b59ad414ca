"""`promptvault demo`: fill an empty project with example prompts, a dataset and a finished offline run."""

from __future__ import annotations

import click

from promptvault.cli.acting import context, workspace
from promptvault.cli.output import echo_json


@click.command()
@click.option("--if-empty", is_flag=True, help="Do nothing (exit 0, print nothing) when the project is not empty.")
@click.option("--json", "as_json", is_flag=True, help="Print what was created as JSON.")
def demo(if_empty: bool, as_json: bool) -> None:
    """Fill an empty project with example prompts, a dataset and a finished run on offline/echo (no key needed)."""
    from promptvault import demo as examples

    ctx = context()
    if if_empty and examples.existing(ctx):
        return
    summary = examples.fill(ctx, workspace().settings.data_dir)
    if as_json:
        return echo_json(summary)
    prompts = ", ".join(f"{name} ({count} versions)" for name, count in summary.prompts.items())
    click.echo(f"prompts: {prompts}")
    click.echo(f"dataset: {summary.dataset} ({summary.cases} cases)")
    click.echo(f"run {summary.run_id}: {summary.run_status}, {summary.run_cells} cells on offline/echo")
    click.echo(examples.REMOVE_HINT)
