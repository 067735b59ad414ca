"""The `promptvault` command line: one group per concept, errors turned into one-line messages here."""

from __future__ import annotations

import sys

import click

from promptvault.errors import MergeConflictError, PromptVaultError


class PromptVaultGroup(click.Group):
    """A click group that turns our named errors into a one-line message and exit code 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except MergeConflictError as exc:
            click.echo(f"error: {exc}", err=True)
            from promptvault.cli.output import conflict_lines

            for line in conflict_lines(exc.conflicts):
                click.echo(line, err=True)
            sys.exit(1)
        except PromptVaultError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)


@click.group(cls=PromptVaultGroup)
@click.version_option(package_name="promptvault")
@click.option("--as", "as_user", envvar="PROMPTVAULT_USER", metavar="EMAIL",
              help="Act as this user and apply their role (default: the first admin).")
@click.pass_context
def main(click_ctx: click.Context, as_user: str | None) -> None:
    """PromptVault: versioned prompts, multi-model runs, cost analytics and a key vault.

    Works in PROMPTVAULT_DATA_DIR (default ./data) on PROMPTVAULT_DATABASE_URL (default SQLite there).
    """
    click_ctx.ensure_object(dict)["as_user"] = as_user


def _register() -> None:
    """Attach the command groups (imported here so each module stays about one concept)."""
    from promptvault.cli import accounts, admin, analytics, audit, datasets, demo, keys, prompts
    from promptvault.cli import runs as run_commands

    for command in (admin.init, admin.serve, admin.db, prompts.prompt, accounts.users, accounts.teams,
                    accounts.members, keys.keys, audit.audit, datasets.dataset,
                    run_commands.run_cmd, run_commands.runs_group, demo.demo, analytics.stats, analytics.export,
                    analytics.history_group):
        main.add_command(command)


_register()
