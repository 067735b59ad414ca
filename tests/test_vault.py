"""The key vault on the real store: sealing, tampering, fail-closed auditing, ownership, master rotation, canary."""

from __future__ import annotations

import base64
import logging
import secrets
import sqlite3
import threading
import traceback
from dataclasses import fields, replace
from datetime import timedelta

import pytest
from sqlalchemy import delete, event, select, text, update

from promptvault import audit, teams, vault
from promptvault.context import Actor, Context
from promptvault.crypto import NONCE_BYTES
from promptvault.errors import (
    AuditError, ConfigurationError, DecryptionError, NotFoundError, PromptVaultError, ValidationError,
)
from promptvault.master_key import add_key_version, load_keyring, remove_key_version
from promptvault.store.tables import AuditEvent, Base, DataKey, Membership, Project, ProviderKey, Team, User, utcnow
from promptvault.vault import RotationReport


def canary() -> str:
    """A fresh, unmistakable fake provider key."""
    return "sk-canary-" + secrets.token_hex(16)


def team_of(ctx: Context) -> int:
    """The team of the context's project."""
    with ctx.db.read() as session:
        return session.scalar(select(Project.team_id).where(Project.id == ctx.project_id))


def new_team(ctx: Context, name: str) -> int:
    """A team the context's actor owns."""
    with ctx.db.write() as session:
        team = Team(name=name)
        session.add(team)
        session.flush()
        session.add(Membership(team_id=team.id, user_id=ctx.actor.user_id, role="owner"))
        return team.id


def member(ctx: Context, team_id: int, email: str, role: str) -> Context:
    """The context of a user (created if new) who holds `role` in the team."""
    with ctx.db.write() as session:
        user = session.scalar(select(User).where(User.email == email))
        if user is None:
            user = User(email=email)
            session.add(user)
            session.flush()
        session.add(Membership(team_id=team_id, user_id=user.id, role=role))
        return replace(ctx, actor=Actor(user_id=user.id, email=email))


def change(ctx: Context, statement) -> None:
    """Tamper with a table directly, as someone with database access could."""
    with ctx.db.write() as session:
        session.execute(statement)


def stored(ctx: Context, key_id: int) -> ProviderKey:
    """The stored row of a provider key."""
    with ctx.db.read() as session:
        return session.get(ProviderKey, key_id)


def decrypt(ctx: Context, key_id: int, purpose: str = "test:1") -> str:
    """The plaintext `use_key` hands to one call."""
    with vault.use_key(ctx, key_id, purpose) as secret:
        return secret


def flip_bit(token: str, offset: int) -> str:
    """The sealed token with one bit flipped at a byte offset of its nonce || ciphertext || tag body."""
    head, body = token.rsplit(":", 1)
    raw = bytearray(base64.urlsafe_b64decode(body))
    raw[offset] ^= 0x01
    return f"{head}:{base64.urlsafe_b64encode(bytes(raw)).decode()}"


def actions(ctx: Context) -> list[str]:
    """Every audit event's action, oldest first."""
    with ctx.db.read() as session:
        return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def data_key_versions(ctx: Context) -> dict[int, int]:
    """Each team's data-key master version."""
    with ctx.db.read() as session:
        return dict(session.execute(select(DataKey.team_id, DataKey.master_version)).all())


def ciphertexts(ctx: Context) -> dict[int, str]:
    """Every provider key's stored ciphertext."""
    with ctx.db.read() as session:
        return dict(session.execute(select(ProviderKey.id, ProviderKey.ciphertext)).all())


def next_master_keyring(workspace):
    """Add a master-key version to the workspace's key file; the keyring with both versions."""
    add_key_version(workspace.settings.master_key_file)
    return load_keyring(workspace.settings)


# --- sealing ----------------------------------------------------------------------------------------------


def test_add_key_round_trip(ctx):
    secret = canary()
    info = vault.add_key(ctx, team_of(ctx), "openai", secret, label="prod")
    assert decrypt(ctx, info.id) == secret
    assert (info.provider, info.label, info.last4, info.owner, info.created_by) == ("openai", "prod", secret[-4:], None, ctx.actor.email)
    assert (info.age_days, info.needs_rotation, info.last_used_at) == (0, False, None)
    row = stored(ctx, info.id)
    assert row.ciphertext.startswith("pv:v1:") and secret not in row.ciphertext and row.last4 == secret[-4:]


def test_add_key_seals_each_key_with_a_fresh_nonce(ctx):
    secret = canary()
    first, second = (vault.add_key(ctx, team_of(ctx), "openai", secret) for _ in range(2))
    a, b = (base64.urlsafe_b64decode(stored(ctx, k.id).ciphertext.rsplit(":", 1)[1]) for k in (first, second))
    assert a[:NONCE_BYTES] != b[:NONCE_BYTES]


def test_add_key_creates_one_data_key_per_team_under_the_active_master_key(ctx):
    team, other = team_of(ctx), new_team(ctx, "Other")
    for team_id in (team, team, other):
        vault.add_key(ctx, team_id, "openai", canary())
    assert data_key_versions(ctx) == {team: 1, other: 1}
    assert actions(ctx) == ["key.add"] * 3


@pytest.mark.parametrize(
    "provider, api_base, stored_as",
    [
        ("openai", None, ("openai", None)),
        ("Anthropic", None, ("anthropic", None)),
        ("openrouter", None, ("openrouter", None)),
        ("vertex_ai", None, ("vertex_ai", None)),
        ("ollama", "http://localhost:11434", ("ollama", "http://localhost:11434")),
        ("custom", "https://llm.internal.example/v1/", ("custom", "https://llm.internal.example/v1")),
    ],
)
def test_add_key_accepts_litellm_providers_and_base_urls(ctx, provider, api_base, stored_as):
    info = vault.add_key(ctx, team_of(ctx), provider, canary(), api_base=api_base)
    assert (info.provider, info.api_base) == stored_as


@pytest.mark.parametrize(
    "changes, problem",
    [
        ({"provider": ""}, "provider must be"),
        ({"provider": "open ai"}, "provider must be"),
        ({"provider": "open|ai"}, "provider must be"),
        ({"provider": "x" * 51}, "provider must be"),
        ({"secret": ""}, "the key is empty"),
        ({"secret": " \n\t"}, "the key is empty"),
        ({"secret": "sk-CANARY has-a-space"}, "printable ASCII"),
        ({"secret": "sk-CANARY\x00nul"}, "printable ASCII"),
        ({"secret": "sk-CANARY\ttab"}, "printable ASCII"),
        ({"secret": "sk-CANARY-\u00fcnicode"}, "printable ASCII"),
        ({"secret": "sk-CANARY" + "a" * 4096}, "limit is 4,096"),
        ({"label": "l" * 101}, "label is 101 characters"),
        ({"provider": "custom"}, "custom provider needs"),
        ({"provider": "custom", "api_base": "ftp://files.example"}, "http:// or https://"),
        ({"provider": "custom", "api_base": "https://"}, "http:// or https://"),
        ({"api_base": "https://user:CANARY@llm.example"}, "credentials"),
        ({"api_base": "https://llm.example/v1?key=CANARY"}, "query"),
        ({"api_base": "https://llm.example:99999"}, "malformed"),
        ({"api_base": "https://llm.example/ CANARY"}, "spaces"),
    ],
)
def test_add_key_refuses_bad_input_without_echoing_it(ctx, changes, problem):
    arguments = {"provider": "openai", "secret": "sk-" + "b" * 40, **changes}
    with pytest.raises(ValidationError, match=problem) as caught:
        vault.add_key(ctx, team_of(ctx), **arguments)
    assert "CANARY" not in str(caught.value)
    assert ciphertexts(ctx) == {} and actions(ctx) == []


@pytest.mark.parametrize("secret, shown", [("sk-abcdefghij", "ghij"), ("short-12345", ""), ("\n  sk-padded-key-1234 \n", "1234")])
def test_add_key_shows_at_most_the_last_four_of_a_long_enough_key(ctx, secret, shown):
    info = vault.add_key(ctx, team_of(ctx), "openai", secret)
    assert info.last4 == shown and stored(ctx, info.id).last4 == shown
    assert decrypt(ctx, info.id) == secret.strip()


def test_add_key_uses_the_data_key_a_concurrent_first_add_created(ctx, monkeypatch):
    team, first_secret, second_secret = team_of(ctx), canary(), canary()
    first = vault.add_key(ctx, team, "openai", first_secret)
    real_load, calls = vault._load_data_key, []

    def looked_before_the_other_add_committed(session, team_id):
        calls.append(team_id)
        return None if len(calls) == 1 else real_load(session, team_id)

    monkeypatch.setattr(vault, "_load_data_key", looked_before_the_other_add_committed)
    second = vault.add_key(ctx, team, "anthropic", second_secret)
    monkeypatch.undo()
    assert len(calls) == 2  # the insert conflicted, and the retry read the winner's key
    assert (decrypt(ctx, first.id), decrypt(ctx, second.id)) == (first_secret, second_secret)
    assert data_key_versions(ctx) == {team: 1}


def test_add_key_concurrent_first_adds_on_postgresql_share_one_data_key(workspace, monkeypatch):
    if workspace.db.is_sqlite:
        pytest.skip("SQLite takes the write lock at BEGIN, so two first adds cannot race there")
    ctx = workspace.local_context()
    team, barrier, local, real_load = new_team(ctx, "Fresh"), threading.Barrier(2, timeout=20), threading.local(), vault._load_data_key

    def both_look_before_either_inserts(session, team_id):
        row = real_load(session, team_id)
        if not getattr(local, "waited", False):
            local.waited = True
            barrier.wait()
        return row

    monkeypatch.setattr(vault, "_load_data_key", both_look_before_either_inserts)
    results, errors = {}, []

    def add(secret):
        try:
            results[vault.add_key(ctx, team, "openai", secret).id] = secret
        except Exception as exc:  # reported below, with the thread's failure
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(canary(),)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    monkeypatch.undo()
    assert errors == [] and len(results) == 2
    assert {decrypt(ctx, key_id) for key_id in results} == set(results.values())
    assert data_key_versions(ctx)[team] == 1


# --- tampering --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("table", ["provider key", "wrapped data key"])
@pytest.mark.parametrize("part, offset", [("nonce", 0), ("ciphertext", NONCE_BYTES), ("tag", -1)])
def test_use_key_refuses_a_flipped_bit(ctx, table, part, offset):
    secret, team = canary(), team_of(ctx)
    info = vault.add_key(ctx, team, "openai", secret)
    if table == "provider key":
        change(ctx, update(ProviderKey).where(ProviderKey.id == info.id).values(ciphertext=flip_bit(stored(ctx, info.id).ciphertext, offset)))
    else:
        with ctx.db.read() as session:
            wrapped = session.get(DataKey, team).wrapped
        change(ctx, update(DataKey).where(DataKey.team_id == team).values(wrapped=flip_bit(wrapped, offset)))
    with pytest.raises(DecryptionError, match="failed authentication") as caught:
        decrypt(ctx, info.id)
    assert secret not in str(caught.value)


def _copy_to_another_row(ctx, source, other_team, **target):
    """Copy the source key's ciphertext into another row; that row's id."""
    arguments = {"team_id": team_of(ctx), "provider": "openai", "personal": True, **target}
    other = vault.add_key(ctx, secret=canary(), **arguments)
    change(ctx, update(ProviderKey).where(ProviderKey.id == other.id).values(ciphertext=stored(ctx, source.id).ciphertext))
    return other.id


def _edit_row(ctx, source, other_team, **values):
    """Edit the source key's own row in place; its id."""
    values = {k: (other_team if v == "OTHER_TEAM" else v) for k, v in values.items()}
    change(ctx, update(ProviderKey).where(ProviderKey.id == source.id).values(**values))
    return source.id


@pytest.mark.parametrize(
    "move",
    [
        pytest.param(lambda ctx, src, t2: _copy_to_another_row(ctx, src, t2), id="copied-to-another-key-id"),
        pytest.param(lambda ctx, src, t2: _copy_to_another_row(ctx, src, t2, provider="anthropic"), id="copied-to-another-provider"),
        pytest.param(lambda ctx, src, t2: _copy_to_another_row(ctx, src, t2, team_id=t2), id="copied-to-another-team"),
        pytest.param(lambda ctx, src, t2: _edit_row(ctx, src, t2, provider="anthropic"), id="row-provider-edited"),
        pytest.param(lambda ctx, src, t2: _edit_row(ctx, src, t2, api_base="https://attacker.example"), id="row-api-base-edited"),
        pytest.param(lambda ctx, src, t2: _edit_row(ctx, src, t2, owner_user_id=None), id="personal-row-made-shared"),
        pytest.param(lambda ctx, src, t2: _edit_row(ctx, src, t2, team_id="OTHER_TEAM"), id="row-moved-to-another-team"),
    ],
)
def test_use_key_refuses_a_ciphertext_moved_to_another_row(ctx, move):
    secret, other_team = canary(), new_team(ctx, "Other")
    vault.add_key(ctx, other_team, "openai", canary())  # the other team has a data key of its own
    source = vault.add_key(ctx, team_of(ctx), "openai", secret, personal=True)
    target = move(ctx, source, other_team)
    with pytest.raises(DecryptionError, match="failed authentication") as caught:
        decrypt(ctx, target)
    assert secret not in str(caught.value)


def test_wrapped_data_key_moved_to_another_team_fails(ctx):
    team, other = team_of(ctx), new_team(ctx, "Other")
    mine, theirs = vault.add_key(ctx, team, "openai", canary()), vault.add_key(ctx, other, "openai", canary())
    with ctx.db.read() as session:
        wrapped = session.get(DataKey, team).wrapped
    change(ctx, update(DataKey).where(DataKey.team_id == other).values(wrapped=wrapped))
    with pytest.raises(DecryptionError, match="failed authentication"):
        decrypt(ctx, theirs.id)
    assert decrypt(ctx, mine.id)


def test_wrapped_data_key_relabelled_to_another_master_version_fails(workspace):
    ctx = workspace.local_context()
    info = vault.add_key(ctx, team_of(ctx), "openai", canary())
    both = replace(ctx, keyring=next_master_keyring(workspace))
    change(ctx, update(DataKey).values(master_version=2))
    with pytest.raises(DecryptionError, match="failed authentication"):
        decrypt(both, info.id)


def test_use_key_with_a_retired_master_version_fails_closed(workspace):
    ctx = workspace.local_context()
    info = vault.add_key(ctx, team_of(ctx), "openai", canary())
    both = next_master_keyring(workspace)
    with ctx.db.write() as session:
        audit.rewrap_system_keys(session, both)  # the audit key moved on; the team's data key did not
    remove_key_version(workspace.settings.master_key_file, 1)  # retired without `retire_check`
    retired = replace(ctx, keyring=load_keyring(workspace.settings))
    with pytest.raises(DecryptionError, match=r"master key v1 is not available \(retired or never configured\)"):
        decrypt(retired, info.id)


@pytest.mark.parametrize(
    "column, token, problem",
    [
        ("ciphertext", "", "malformed"),
        ("ciphertext", "sk-not-a-token", "malformed"),
        ("ciphertext", "pv:vX:AAAA", "malformed"),
        ("ciphertext", "pv:v1:A", "malformed"),
        ("ciphertext", "pv:v1:" + base64.urlsafe_b64encode(b"short").decode(), "truncated"),
        ("ciphertext", "pv:v2:" + base64.urlsafe_b64encode(bytes(40)).decode(), "unknown data-key version"),
        ("wrapped", "garbage", "malformed"),
        ("wrapped", "pv:v9:" + base64.urlsafe_b64encode(bytes(60)).decode(), "master key v9 is not available"),
    ],
)
def test_use_key_refuses_a_malformed_token(ctx, column, token, problem):
    team = team_of(ctx)
    info = vault.add_key(ctx, team, "openai", canary())
    table = ProviderKey if column == "ciphertext" else DataKey
    change(ctx, update(table).where(table.team_id == team).values({column: token}))
    with pytest.raises(DecryptionError, match=problem):
        decrypt(ctx, info.id)


def test_use_key_on_a_team_whose_data_key_is_gone_fails_closed(ctx):
    info = vault.add_key(ctx, team_of(ctx), "openai", canary())
    change(ctx, delete(DataKey))
    with pytest.raises(DecryptionError, match="no data key"):
        decrypt(ctx, info.id)
    assert "key.decrypt" not in actions(ctx)


# --- use, audit, fail closed ------------------------------------------------------------------------------


def test_use_key_audits_who_which_key_and_why_and_stamps_last_use(ctx):
    team = team_of(ctx)
    info = vault.add_key(ctx, team, "openai", canary())
    decrypt(ctx, info.id, "run:42")
    [event] = audit.list_events(ctx, team, action="key.decrypt")
    assert (event.actor, event.target, event.details) == (ctx.actor.email, f"key:{info.id}", {"provider": "openai", "purpose": "run:42", "personal": False})
    assert stored(ctx, info.id).last_used_at is not None
    assert audit.verify(ctx.db, ctx.keyring).ok


def test_use_key_commits_its_audit_event_before_decrypting(ctx, monkeypatch):
    info = vault.add_key(ctx, team_of(ctx), "openai", canary())
    real_open, seen = vault.open_sealed, []

    def open_after_checking(key, token, associated):
        with ctx.db.read() as session:  # another connection: it sees committed rows only
            seen.append(session.scalar(select(AuditEvent.action).order_by(AuditEvent.id.desc()).limit(1)))
        return real_open(key, token, associated)

    monkeypatch.setattr(vault, "open_sealed", open_after_checking)
    decrypt(ctx, info.id, "run:7")
    assert seen == ["key.decrypt"]


def test_use_key_fails_closed_when_the_audit_write_fails(ctx, monkeypatch):
    info = vault.add_key(ctx, team_of(ctx), "openai", canary())
    reached, body = [], []
    monkeypatch.setattr(vault, "open_sealed", lambda *args: reached.append("open_sealed"))
    monkeypatch.setattr(vault, "unwrap_key", lambda *args: reached.append("unwrap_key"))

    def broken_append(*args, **kwargs):
        raise AuditError("could not write the audit event 'key.decrypt': OperationalError")

    monkeypatch.setattr(audit, "append", broken_append)
    with pytest.raises(AuditError):
        with vault.use_key(ctx, info.id, "run:1") as secret:
            body.append(secret)
    monkeypatch.undo()
    assert (body, reached) == ([], [])
    assert stored(ctx, info.id).last_used_at is None  # the use was rolled back with its audit event
    assert actions(ctx) == ["key.add"]


def test_use_key_withholds_a_provider_error_that_echoes_the_key(ctx):
    secret = canary()
    info = vault.add_key(ctx, team_of(ctx), "openai", secret)
    with pytest.raises(PromptVaultError, match=r"provider call failed \(RuntimeError\)") as caught:
        with vault.use_key(ctx, info.id, "run:1") as key:
            try:
                raise ConnectionError(f"headers={{'Authorization': 'Bearer {key}'}}")
            except ConnectionError as exc:
                raise RuntimeError("401 Unauthorized") from exc  # the key hides in the cause
    assert caught.value.__suppress_context__ and caught.value.__cause__ is None
    assert secret not in "".join(traceback.format_exception(caught.value))


def test_use_key_passes_other_errors_through_unchanged(ctx):
    info = vault.add_key(ctx, team_of(ctx), "openai", canary())
    error = TimeoutError("provider timed out")
    with pytest.raises(TimeoutError) as caught:
        with vault.use_key(ctx, info.id, "run:1"):
            raise error
    assert caught.value is error


def test_use_key_needs_a_purpose(ctx):
    info = vault.add_key(ctx, team_of(ctx), "openai", canary())
    with pytest.raises(ValidationError, match="purpose is empty"):
        decrypt(ctx, info.id, " ")
    assert actions(ctx) == ["key.add"]


# --- delete and replace -----------------------------------------------------------------------------------


def test_delete_key_destroys_the_row_and_audits(ctx):
    info = vault.add_key(ctx, team_of(ctx), "openai", canary())
    vault.delete_key(ctx, info.id)
    assert stored(ctx, info.id) is None
    with pytest.raises(NotFoundError, match=f"key {info.id} does not exist"):
        decrypt(ctx, info.id)
    assert actions(ctx) == ["key.add", "key.delete"]


def test_replace_key_rotates_the_secret_and_audits(ctx):
    old_secret, new_secret = canary(), canary() + "-v2"
    info = vault.add_key(ctx, team_of(ctx), "openai", old_secret, label="prod")
    old_ciphertext = stored(ctx, info.id).ciphertext
    replaced = vault.replace_key(ctx, info.id, new_secret)
    assert decrypt(ctx, info.id) == new_secret
    assert (replaced.id, replaced.label, replaced.last4) == (info.id, "prod", new_secret[-4:])
    assert replaced.rotated_at is not None and stored(ctx, info.id).ciphertext != old_ciphertext
    assert actions(ctx) == ["key.add", "key.rotate", "key.decrypt"]


def test_delete_and_replace_leave_no_old_ciphertext_in_the_sqlite_files(sqlite_workspace):
    ws = sqlite_workspace
    ws.db.engine.dispose()  # new connections start with secure_delete off, so the vault must turn it on
    event.listen(ws.db.engine, "connect", lambda connection, _: connection.execute("PRAGMA secure_delete=OFF"))
    ctx = ws.local_context()
    deleted, replaced = (vault.add_key(ctx, team_of(ctx), "openai", canary()) for _ in range(2))
    old = [stored(ctx, k.id).ciphertext.rsplit(":", 1)[1][:32].encode() for k in (deleted, replaced)]
    vault.delete_key(ctx, deleted.id)
    vault.replace_key(ctx, replaced.id, canary() + "-a-longer-replacement")
    ws.db.engine.dispose()
    database = ws.settings.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(database) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    written = b"".join(path.read_bytes() for path in ws.settings.data_dir.rglob("*") if path.is_file())
    assert [chunk in written for chunk in old] == [False, False]


# --- ownership: personal and shared keys ------------------------------------------------------------------


def test_list_keys_shows_shared_keys_and_only_your_own_personal_keys(ctx):
    team = team_of(ctx)
    alice, bob = member(ctx, team, "alice@example.com", "editor"), member(ctx, team, "bob@example.com", "admin")
    shared = vault.add_key(ctx, team, "openai", canary(), label="team")
    mine = vault.add_key(alice, team, "openai", canary(), personal=True)
    vault.add_key(bob, team, "anthropic", canary(), personal=True)
    assert [k.id for k in vault.list_keys(alice, team)] == [shared.id, mine.id]
    assert [k.id for k in vault.list_keys(ctx, team)] == [shared.id]
    assert (mine.owner, mine.created_by, shared.owner) == ("alice@example.com", "alice@example.com", None)
    assert not {"secret", "ciphertext", "plaintext"} & {f.name for f in fields(vault.KeyInfo)}


@pytest.mark.parametrize("role", ["viewer", "editor", "admin", "owner"])
def test_personal_key_belongs_to_its_owner_alone(ctx, role):
    team, secret = team_of(ctx), canary()
    alice = member(ctx, team, "alice@example.com", "viewer")  # any member may keep a personal key
    other = member(ctx, team, "other@example.com", role)
    info = vault.add_key(alice, team, "openai", secret, personal=True)
    attempts = [lambda: decrypt(other, info.id), lambda: vault.delete_key(other, info.id), lambda: vault.replace_key(other, info.id, canary())]
    for attempt in attempts:
        with pytest.raises(NotFoundError, match=f"key {info.id} does not exist"):
            attempt()
    assert decrypt(alice, info.id) == secret
    vault.replace_key(alice, info.id, canary())
    vault.delete_key(alice, info.id)
    assert actions(ctx) == ["key.add", "key.decrypt", "key.rotate", "key.delete"]


def test_personal_key_is_unusable_once_its_owner_leaves_the_team(ctx):
    team = team_of(ctx)
    alice = member(ctx, team, "alice@example.com", "editor")
    info = vault.add_key(alice, team, "openai", canary(), personal=True)
    change(ctx, delete(Membership).where(Membership.user_id == alice.actor.user_id))
    with pytest.raises(NotFoundError, match=f"key {info.id} does not exist"):
        decrypt(alice, info.id)


def test_removing_a_member_destroys_their_personal_keys_in_that_team(ctx):
    team = team_of(ctx)
    alice = member(ctx, team, "alice@example.com", "editor")
    personal = vault.add_key(alice, team, "openai", canary(), personal=True)
    shared = vault.add_key(ctx, team, "openai", canary())
    teams.remove_member(ctx, team, "alice@example.com")
    with ctx.db.read() as session:
        assert session.scalars(select(ProviderKey.id)).all() == [shared.id]
    assert actions(ctx)[-1] == "key.delete" and personal.id != shared.id


def test_keys_of_a_team_you_are_not_in_are_not_found(ctx):
    other_team = new_team(ctx, "Other")
    info = vault.add_key(ctx, other_team, "openai", canary())
    outsider = member(ctx, team_of(ctx), "outsider@example.com", "owner")
    for attempt in (lambda: decrypt(outsider, info.id), lambda: vault.delete_key(outsider, info.id),
                    lambda: vault.replace_key(outsider, info.id, canary())):
        with pytest.raises(NotFoundError, match=f"^key {info.id} does not exist$"):
            attempt()
    with pytest.raises(NotFoundError):
        vault.list_keys(outsider, other_team)


def test_resolve_key_prefers_your_personal_key_then_the_newest_shared_one(ctx):
    team = team_of(ctx)
    alice = member(ctx, team, "alice@example.com", "editor")
    vault.add_key(ctx, team, "openai", canary())
    newest = vault.add_key(ctx, team, "openai", canary())
    vault.add_key(ctx, team, "anthropic", canary())
    assert vault.resolve_key(alice, team, "openai") == newest.id
    mine = vault.add_key(alice, team, "openai", canary(), personal=True)
    assert vault.resolve_key(alice, team, "OpenAI") == mine.id
    assert vault.resolve_key(ctx, team, "openai") == newest.id  # someone else's personal key is never picked


def test_resolve_key_names_the_missing_provider(ctx):
    with pytest.raises(NotFoundError, match="no 'gemini' key in this team"):
        vault.resolve_key(ctx, team_of(ctx), "gemini")


# --- age --------------------------------------------------------------------------------------------------


def test_key_info_flags_keys_older_than_the_maximum_age(ctx, monkeypatch):
    monkeypatch.setattr(vault, "KEY_MAX_AGE_DAYS", 30)
    team = team_of(ctx)
    info = vault.add_key(ctx, team, "openai", canary())
    change(ctx, update(ProviderKey).values(created_at=utcnow() - timedelta(days=31)))
    [listed] = vault.list_keys(ctx, team)
    assert (info.needs_rotation, listed.age_days, listed.needs_rotation) == (False, 31, True)
    replaced = vault.replace_key(ctx, info.id, canary())
    assert (replaced.age_days, replaced.needs_rotation) == (0, False)


@pytest.mark.parametrize("value, days", [(None, 90), ("", 90), ("30", 30), (" 7 ", 7), ("0", None), ("-5", None), ("ninety", None)])
def test_key_max_age_days_comes_from_the_environment(value, days):
    environ = {} if value is None else {"PROMPTVAULT_KEY_MAX_AGE_DAYS": value}
    if days is None:
        with pytest.raises(ConfigurationError, match="PROMPTVAULT_KEY_MAX_AGE_DAYS must be a whole number"):
            vault._max_age_days(environ)
    else:
        assert vault._max_age_days(environ) == days


# --- master-key rotation ----------------------------------------------------------------------------------


def test_rotate_master_rewraps_data_keys_and_leaves_payloads_alone(workspace):
    ctx = workspace.local_context()
    keys = {vault.add_key(ctx, team_id, "openai", s).id: s for team_id, s in ((team_of(ctx), canary()), (new_team(ctx, "B"), canary()))}
    before = ciphertexts(ctx)
    keyring = next_master_keyring(workspace)
    assert vault.rotate_master(workspace.db, keyring) == RotationReport(rewrapped=2, already_current=0, system_keys=1)
    assert set(data_key_versions(ctx).values()) == {2} and vault.master_versions_in_use(workspace.db) == {2}
    assert ciphertexts(ctx) == before
    rotated = replace(ctx, keyring=keyring)
    assert {decrypt(rotated, key_id) for key_id in keys} == set(keys.values())
    with ctx.db.read() as session:
        details = session.scalar(select(AuditEvent.details).where(AuditEvent.action == "master.rotate"))
    assert details == {"master_version": 2, "rewrapped": 2, "already_current": 0, "system_keys": 1}
    assert audit.verify(workspace.db, keyring).ok


def test_rotate_master_interrupted_then_run_again_finishes_the_job(workspace, monkeypatch):
    ctx = workspace.local_context()
    teams = [team_of(ctx), new_team(ctx, "B"), new_team(ctx, "C")]
    keys = {vault.add_key(ctx, team_id, "openai", canary()).id: None for team_id in teams}
    keys = {key_id: decrypt(ctx, key_id) for key_id in keys}
    keyring = next_master_keyring(workspace)
    real_wrap, calls = vault.wrap_key, []

    def killed_after_the_first_team(*args):
        calls.append(1)
        if len(calls) > 1:
            raise KeyboardInterrupt  # as if the process were stopped mid-way
        return real_wrap(*args)

    monkeypatch.setattr(vault, "wrap_key", killed_after_the_first_team)
    with pytest.raises(KeyboardInterrupt):
        vault.rotate_master(workspace.db, keyring)
    monkeypatch.undo()
    assert data_key_versions(ctx) == {teams[0]: 2, teams[1]: 1, teams[2]: 1}  # each row old or new, none lost
    both = replace(ctx, keyring=keyring)
    assert {decrypt(both, key_id) for key_id in keys} == set(keys.values())
    assert vault.rotate_master(workspace.db, keyring) == RotationReport(rewrapped=2, already_current=1, system_keys=1)
    assert vault.rotate_master(workspace.db, keyring) == RotationReport(rewrapped=0, already_current=3, system_keys=0)
    assert set(data_key_versions(ctx).values()) == {2}
    assert {decrypt(both, key_id) for key_id in keys} == set(keys.values())


def test_retire_check_refuses_while_a_version_is_in_use_then_the_old_version_can_go(workspace):
    ctx = workspace.local_context()
    secret = canary()
    info = vault.add_key(ctx, team_of(ctx), "openai", secret)
    keyring = next_master_keyring(workspace)
    with pytest.raises(ValidationError, match=r"v1 still wraps 1 data key\(s\) and 1 system key\(s\)"):
        vault.retire_check(workspace.db, 1)
    vault.rotate_master(workspace.db, keyring)
    vault.retire_check(workspace.db, 1)
    remove_key_version(workspace.settings.master_key_file, 1)
    retired = replace(ctx, keyring=load_keyring(workspace.settings))
    assert set(retired.keyring.keys) == {2}
    assert decrypt(retired, info.id) == secret
    fresh_secret = canary()
    assert decrypt(retired, vault.add_key(retired, team_of(ctx), "anthropic", fresh_secret).id) == fresh_secret
    assert audit.verify(workspace.db, retired.keyring).ok


# --- canary -----------------------------------------------------------------------------------------------


def _everything_stored(workspace) -> bytes:
    """Every byte under the data folder and, on PostgreSQL, every row of every table as JSON text."""
    written = b"".join(path.read_bytes() for path in workspace.settings.data_dir.rglob("*") if path.is_file())
    if workspace.db.is_sqlite:
        return written
    with workspace.db.read() as session:
        rows = [session.scalars(text(f"SELECT row_to_json(t)::text FROM {table.name} t")).all() for table in Base.metadata.sorted_tables]
    return written + "\n".join(row for table_rows in rows for row in table_rows).encode()


def test_canary_key_is_never_stored_logged_or_echoed(workspace, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")  # it pins itself to WARN; now it logs every statement's parameters
    ctx = workspace.local_context()
    team, secret = team_of(ctx), canary()
    info = vault.add_key(ctx, team, "openai", secret, label="canary")
    with vault.use_key(ctx, info.id, "run:1") as key:
        assert key == secret
    seen = [repr(info), str(info), repr(vault.list_keys(ctx, team)), str(vault.resolve_key(ctx, team, "openai"))]
    attempts = [
        lambda: vault.add_key(ctx, team, "openai", secret + " trailing-words"),
        lambda: vault.add_key(ctx, team, "open ai", secret),
        lambda: vault.replace_key(ctx, info.id, secret + "\x00"),
        lambda: vault.add_key(ctx, team, "openai", secret * 200),
        lambda: decrypt(member(ctx, team, "viewer@example.com", "viewer"), info.id),
    ]
    for attempt in attempts:
        with pytest.raises(PromptVaultError) as caught:
            attempt()
        seen.append("".join(traceback.format_exception(caught.value)))
    change(ctx, update(ProviderKey).values(ciphertext=flip_bit(stored(ctx, info.id).ciphertext, -1)))
    with pytest.raises(DecryptionError) as caught:
        decrypt(ctx, info.id)
    seen.append("".join(traceback.format_exception(caught.value)))
    assert any(record.name.startswith("sqlalchemy.engine") for record in caplog.records)  # the logs were really on
    assert secret not in "\n".join(seen)
    assert secret not in caplog.text and secret not in "\n".join(str(record.args) for record in caplog.records)
    assert secret.encode() not in _everything_stored(workspace)
