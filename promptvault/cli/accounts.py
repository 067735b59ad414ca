"""`promptvault users | teams | members`: accounts, teams and roles."""

from __future__ import annotations

import sys

import click

from promptvault.cli.acting import context
from promptvault.cli.output import echo_json, echo_table, short_time

json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
ROLES = ["owner", "admin", "editor", "viewer"]


@click.group()
def users() -> None:
    """Local user accounts."""


@users.command("add")
@click.argument("email")
@click.option("--name", default="", help="Display name.")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin (else a hidden prompt; none for SSO-only users with --no-password).")
@click.option("--no-password", is_flag=True, help="Create an SSO-only account without a password.")
@json_option
def users_add(email, name, password_stdin, no_password, as_json) -> None:
    """Add a user account; the first one becomes the admin. The password never goes on the command line."""
    from promptvault import accounts
    from promptvault.cli.acting import workspace

    password = None if no_password else _read_secret("Password", password_stdin, confirm=True)
    ws = workspace()
    if accounts.needs_setup(ws.db) and password is not None:
        accounts.create_first_admin(ws.db, ws.keyring, email, password, display_name=name)
        return echo_json({"email": email, "first_admin": True}) if as_json else click.echo(f"created the first admin {email}")
    user = accounts.add_user(context(), email, password=password, display_name=name)
    echo_json(user) if as_json else click.echo(f"added user {email}")


@users.command("list")
@json_option
def users_list(as_json) -> None:
    """List user accounts."""
    from promptvault import accounts

    items = accounts.list_users(context())
    if as_json:
        return echo_json(items)
    echo_table(["EMAIL", "NAME", "ACTIVE", "LAST LOGIN"],
               [[u.email, u.display_name, "yes" if u.is_active else "no", short_time(u.last_login_at) if u.last_login_at else "-"] for u in items])


@click.group()
def teams() -> None:
    """Teams (each has projects, members and keys)."""


@teams.command("add")
@click.argument("name")
@json_option
def teams_add(name, as_json) -> None:
    """Create a team; you become its owner and it gets a `default` project."""
    from promptvault import teams as team_service

    team = team_service.create_team(context(), name)
    echo_json(team) if as_json else click.echo(f"created team '{team.name}'")


@teams.command("list")
@json_option
def teams_list(as_json) -> None:
    """List the teams you belong to, with your role."""
    from promptvault import teams as team_service

    items = team_service.list_teams(context())
    if as_json:
        return echo_json(items)
    echo_table(["TEAM", "ROLE", "CREATED"], [[t.name, t.role, short_time(t.created_at)] for t in items])


@click.group()
def members() -> None:
    """Team members and their roles."""


@members.command("add")
@click.argument("team")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), required=True, help="Role in the team.")
@json_option
def members_add(team, email, role, as_json) -> None:
    """Add a user to TEAM with a role (or change their role)."""
    from promptvault import teams as team_service

    member = team_service.add_member(context(team=team), team, email, role)
    echo_json(member) if as_json else click.echo(f"{email} is now {role} of '{team}'")


@members.command("remove")
@click.argument("team")
@click.argument("email")
def members_remove(team, email) -> None:
    """Remove a user from TEAM."""
    from promptvault import teams as team_service

    team_service.remove_member(context(team=team), team, email)
    click.echo(f"removed {email} from '{team}'")


@members.command("list")
@click.argument("team")
@json_option
def members_list(team, as_json) -> None:
    """List the members of TEAM and their roles."""
    from promptvault import teams as team_service

    items = team_service.list_members(context(team=team), team)
    if as_json:
        return echo_json(items)
    echo_table(["EMAIL", "ROLE"], [[m.email, m.role] for m in items])


def _read_secret(label: str, from_stdin: bool, confirm: bool = False) -> str:
    """A secret from stdin (one line) or a hidden prompt; never from the command line."""
    if from_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt(label, hide_input=True, confirmation_prompt=confirm)
