"""`promptvault keys ...`: provider keys in the vault, and master-key rotation."""

from __future__ import annotations

import click

from promptvault.cli.accounts import _read_secret
from promptvault.cli.acting import context, workspace
from promptvault.cli.output import echo_json, echo_table, short_time
from promptvault.errors import ConfigurationError, ValidationError

json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


@click.group()
def keys() -> None:
    """Provider API keys (write-only after saving) and the master key."""


@keys.command("add")
@click.argument("provider")
@click.option("--team", required=True, help="Team the key belongs to.")
@click.option("--label", default="", help="A name to tell keys apart.")
@click.option("--api-base", help="Base URL of a custom OpenAI-compatible server.")
@click.option("--personal", is_flag=True, help="Only you may use it (default: shared with the team; needs admin).")
@json_option
def keys_add(provider, team, label, api_base, personal, as_json) -> None:
    """Store a key for PROVIDER; it is read from stdin or a hidden prompt, never from the command line."""
    from promptvault import teams, vault

    ctx = context(team=team)
    secret = _read_secret(f"{provider} API key", from_stdin=False)
    info = vault.add_key(ctx, teams.team_id_by_name(ctx, team), provider, secret, label=label, api_base=api_base, personal=personal)
    echo_json(info) if as_json else click.echo(f"stored key {info.id} ({provider}, ...{info.last4})")


@keys.command("list")
@click.option("--team", help="Only this team (default: every team you belong to).")
@json_option
def keys_list(team, as_json) -> None:
    """List keys: provider, label, last four characters, owner, age, last use."""
    from promptvault import teams, vault

    ctx = context(team=team)
    names = [team] if team else [t.name for t in teams.list_teams(ctx)]
    items = [k for name in names for k in vault.list_keys(ctx, teams.team_id_by_name(ctx, name))]
    if as_json:
        return echo_json(items)
    echo_table(
        ["ID", "PROVIDER", "LABEL", "KEY", "OWNER", "ADDED BY", "AGE", "LAST USED"],
        [[k.id, k.provider, k.label, f"...{k.last4}", k.owner or "team", k.created_by,
          f"{k.age_days}d" + (" ROTATE" if k.needs_rotation else ""), short_time(k.last_used_at) if k.last_used_at else "never"]
         for k in items],
    )


@keys.command("delete")
@click.argument("key_id", type=int)
def keys_delete(key_id) -> None:
    """Delete a key (its ciphertext is destroyed)."""
    from promptvault import vault

    vault.delete_key(context(), key_id)
    click.echo(f"deleted key {key_id}")


@keys.command("replace")
@click.argument("key_id", type=int)
@json_option
def keys_replace(key_id, as_json) -> None:
    """Rotate a key by replacing its secret (read from stdin or a hidden prompt); the old one is destroyed."""
    from promptvault import vault

    info = vault.replace_key(context(), key_id, _read_secret("New API key", from_stdin=False))
    echo_json(info) if as_json else click.echo(f"replaced key {info.id} (...{info.last4})")


@keys.command("rotate-master")
@json_option
def keys_rotate_master(as_json) -> None:
    """Add a new master-key version and rewrap every data key with it; safe to interrupt and run again."""
    from promptvault import vault
    from promptvault.master_key import add_key_version, load_keyring

    ws = workspace()
    pending = vault.master_versions_in_use(ws.db) - {ws.keyring.active_version}
    if not pending:  # nothing half-done: start a new rotation
        if ws.settings.master_key:
            raise ConfigurationError("the master key comes from PROMPTVAULT_MASTER_KEY: append a new vN:<base64> entry there, restart, and run this again")
        add_key_version(ws.settings.master_key_file)
    keyring = load_keyring(ws.settings) if not ws.settings.master_key else ws.keyring
    report = vault.rotate_master(ws.db, keyring)
    if as_json:
        return echo_json({"active_version": keyring.active_version, **vars(report)})
    click.echo(f"master key v{keyring.active_version} active; rewrapped {report.rewrapped} data key(s)"
               f" and {report.system_keys} system key(s); {report.already_current} already current")


@keys.command("retire-master")
@click.argument("version", type=int)
def keys_retire_master(version) -> None:
    """Remove an old master-key version from the key file once nothing uses it."""
    from promptvault import vault
    from promptvault.master_key import remove_key_version

    ws = workspace()
    if version == ws.keyring.active_version:
        raise ValidationError(f"v{version} is the active master key; rotate first")
    vault.retire_check(ws.db, version)
    if ws.settings.master_key:
        raise ConfigurationError(f"remove v{version} from PROMPTVAULT_MASTER_KEY yourself; nothing uses it any more")
    remove_key_version(ws.settings.master_key_file, version)
    click.echo(f"retired master key v{version}")
