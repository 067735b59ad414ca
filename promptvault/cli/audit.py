"""`promptvault audit ...`: verify the chained audit log, list and export events."""

from __future__ import annotations

import sys

import click

from promptvault.cli.acting import context, workspace
from promptvault.cli.output import echo_json, echo_table, short_time


@click.group()
def audit() -> None:
    """The append-only audit log."""


@audit.command("verify")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def audit_verify(as_json) -> None:
    """Check the whole HMAC chain; exit 1 naming the first edited, deleted, reordered or truncated event."""
    from promptvault import audit as audit_log

    ws = workspace()
    report = audit_log.verify(ws.db, ws.keyring)
    if as_json:
        echo_json(report)
    elif report.ok:
        click.echo(f"audit log intact: {report.checked} events verified")
    else:
        click.echo(f"audit log BROKEN at event {report.first_bad_id}: {report.problem}", err=True)
    sys.exit(0 if report.ok else 1)


@audit.command("list")
@click.option("--team", required=True, help="Team whose events to show.")
@click.option("--action", help="Only actions starting with this (e.g. key., login.).")
@click.option("--actor", help="Only events by this e-mail.")
@click.option("--limit", type=int, default=100, show_default=True, help="At most this many events.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV (formula cells defanged); the export is audited.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def audit_list(team, action, actor, limit, as_csv, as_json) -> None:
    """List a team's audit events, newest first."""
    from promptvault import audit as audit_log
    from promptvault import teams

    ctx = context(team=team)
    team_id = teams.team_id_by_name(ctx, team)
    if as_csv:
        return click.echo(audit_log.export_csv(ctx, team_id, action=action, actor_email=actor, limit=limit), nl=False)
    events = audit_log.list_events(ctx, team_id, action=action, actor_email=actor, limit=limit)
    if as_json:
        return echo_json(events)
    echo_table(["ID", "WHEN", "ACTOR", "ACTION", "TARGET"], [[e.id, short_time(e.at), e.actor, e.action, e.target] for e in events])
