"""The CLI's accounts, keys and audit commands on a fresh data folder, acting as different users."""

from __future__ import annotations

import json
import secrets
import sqlite3

import pytest


PASSWORD = "correct horse battery staple\n"


@pytest.fixture
def team(cli):
    """A first admin and an editor in the Default team."""
    assert cli("users", "add", "admin@example.com", "--password-stdin", input=PASSWORD)[1] == "created the first admin admin@example.com\n"
    assert cli("users", "add", "ed@example.com", "--password-stdin", input=PASSWORD)[0] == 0
    assert cli("members", "add", "Default", "ed@example.com", "--role", "editor")[0] == 0
    return "Default"


def test_members_list_shows_roles(cli, team):
    code, out, _ = cli("members", "list", team, "--json")
    assert {m["email"]: m["role"] for m in json.loads(out)} == {"admin@example.com": "owner", "ed@example.com": "editor"}


def test_keys_add_reads_stdin_and_shows_only_the_last_four(cli, team):
    canary = "sk-canary-" + secrets.token_hex(12)
    code, out, err = cli("keys", "add", "openai", "--team", team, "--label", "prod", input=canary + "\n")
    assert code == 0 and canary[-4:] in out and canary not in out + err
    code, out, _ = cli("keys", "list", "--json")
    [key] = json.loads(out)
    assert (key["provider"], key["label"], key["last4"]) == ("openai", "prod", canary[-4:])
    assert canary not in out


def test_keys_admin_actions_are_refused_for_an_editor(cli, team):
    code, _, err = cli("--as", "ed@example.com", "keys", "add", "openai", "--team", team, input="sk-shared-key-123456\n")
    assert code == 1 and "needs the admin role" in err
    code, out, _ = cli("--as", "ed@example.com", "keys", "add", "openai", "--team", team, "--personal", input="sk-mine-123456789\n")
    assert code == 0


def test_keys_rotate_then_retire_master_keeps_keys_usable(cli, team, tmp_path):
    from promptvault import vault
    from promptvault.config import load_settings
    from promptvault.workspace import open_workspace

    cli("keys", "add", "openai", "--team", team, input="sk-before-rotation-0001\n")
    code, out, _ = cli("keys", "rotate-master", "--json")
    assert code == 0 and json.loads(out)["active_version"] == 2 and json.loads(out)["rewrapped"] == 1
    code, _, err = cli("keys", "retire-master", "2")
    assert code == 1 and "active master key" in err
    assert cli("keys", "retire-master", "1")[0] == 0
    assert (tmp_path / "data" / "master.key").read_text().startswith("v2:")
    ws = open_workspace(load_settings())
    with vault.use_key(ws.local_context(), 1, "test:rotation") as secret:
        assert secret == "sk-before-rotation-0001"


def test_audit_verify_passes_then_names_a_tampered_event(cli, team, tmp_path):
    cli("keys", "add", "openai", "--team", team, input="sk-audited-key-0001\n")
    code, out, _ = cli("audit", "verify")
    assert code == 0 and "intact" in out
    with sqlite3.connect(tmp_path / "data" / "promptvault.db") as db:
        db.execute("UPDATE audit_events SET actor_email = 'mallory@example.com' WHERE id = 2")
    code, _, err = cli("audit", "verify")
    assert code == 1 and "event 2" in err


def test_audit_list_and_csv_export(cli, team):
    cli("keys", "add", "openai", "--team", team, "--label", "=HYPERLINK(1)", input="sk-exported-key-01\n")
    code, out, _ = cli("audit", "list", "--team", team, "--action", "key.", "--json")
    assert [e["action"] for e in json.loads(out)] == ["key.add"]
    code, out, _ = cli("audit", "list", "--team", team, "--csv")
    assert out.startswith('"id","at","actor","action","target","details"') and "sk-exported" not in out
    code, out, _ = cli("audit", "list", "--team", team, "--action", "audit.export", "--json")
    assert len(json.loads(out)) == 1


def test_unknown_acting_user_is_refused(cli, team):
    code, _, err = cli("--as", "nobody@example.com", "prompt", "list")
    assert code == 1 and err.startswith("error: ")


def test_protected_label_moves_only_for_admins(cli, team):
    cli("prompt", "create", "p")
    cli("prompt", "commit", "p", "--text", "one")
    cli("prompt", "commit", "p", "--text", "two")
    cli("prompt", "label", "p", "production", "1")
    code, _, err = cli("--as", "ed@example.com", "prompt", "protect", "p", "production")
    assert code == 1 and "needs the admin role" in err
    assert cli("prompt", "protect", "p", "production")[0] == 0
    code, _, err = cli("--as", "ed@example.com", "prompt", "label", "p", "production", "2")
    assert code == 1 and "admin" in err
    assert cli("prompt", "label", "p", "production", "2")[0] == 0
    code, out, _ = cli("audit", "list", "--team", team, "--action", "label.", "--json")
    assert [e["action"] for e in json.loads(out)] == ["label.move", "label.protect", "label.move"]
