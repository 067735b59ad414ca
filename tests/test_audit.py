"""The audit chain on the real store: appends, and verify naming the first edited, deleted, reordered or truncated event."""

from __future__ import annotations

import base64

import pytest
from sqlalchemy import delete, select, update

from promptvault import audit
from promptvault.context import Actor
from promptvault.crypto import MasterKeyring
from promptvault.errors import AuditError, ValidationError
from promptvault.store.tables import AuditEvent, AuditHead


def append_events(ctx, count: int) -> None:
    """Write `count` events, one transaction each."""
    for index in range(count):
        with ctx.db.write() as session:
            audit.append(session, ctx.keyring, action="test.event", actor=ctx.actor, team_id=1,
                         target=f"thing:{index}", details={"n": index})


def change(ctx, statement) -> None:
    """Tamper with the table directly, as someone with database access could."""
    with ctx.db.write() as session:
        session.execute(statement)


def test_append_chains_events_and_verify_passes(ctx):
    append_events(ctx, 5)
    report = audit.verify(ctx.db, ctx.keyring)
    assert (report.ok, report.checked) == (True, 5)
    with ctx.db.read() as session:
        events = list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
    assert events[0].prev_mac == "" and all(len(e.prev_mac) == 64 for e in events[1:])
    assert len({e.mac for e in events}) == 5
    assert events[0].actor_email == "local@promptvault"


def test_verify_on_an_empty_log_passes(ctx):
    assert audit.verify(ctx.db, ctx.keyring).ok


@pytest.mark.parametrize(
    "tamper, bad_id, problem",
    [
        (lambda: update(AuditEvent).where(AuditEvent.id == 3).values(details={"n": 99}), 3, "was changed"),
        (lambda: update(AuditEvent).where(AuditEvent.id == 2).values(actor_email="someone@else"), 2, "was changed"),
        (lambda: update(AuditEvent).where(AuditEvent.id == 4).values(action="key.add"), 4, "was changed"),
        (lambda: delete(AuditEvent).where(AuditEvent.id == 3), 4, "deleted or reordered"),
        (lambda: delete(AuditEvent).where(AuditEvent.id == 5), 4, "removed from the end"),
        (lambda: delete(AuditEvent).where(AuditEvent.id >= 4), 3, "removed from the end"),
    ],
)
def test_verify_names_the_first_bad_event(ctx, tamper, bad_id, problem):
    append_events(ctx, 5)
    change(ctx, tamper())
    report = audit.verify(ctx.db, ctx.keyring)
    assert not report.ok
    assert report.first_bad_id == bad_id and problem in report.problem


def test_verify_detects_reordered_events(ctx):
    append_events(ctx, 4)
    with ctx.db.read() as session:
        two, three = (session.get(AuditEvent, i) for i in (2, 3))
        fields = {name: (getattr(two, name), getattr(three, name)) for name in ("target", "details", "mac", "prev_mac")}
    change(ctx, update(AuditEvent).where(AuditEvent.id == 2).values({k: v[1] for k, v in fields.items()}))
    change(ctx, update(AuditEvent).where(AuditEvent.id == 3).values({k: v[0] for k, v in fields.items()}))
    report = audit.verify(ctx.db, ctx.keyring)
    assert (report.ok, report.first_bad_id) == (False, 2)


def test_verify_fails_with_another_master_key(ctx):
    append_events(ctx, 2)
    stranger = MasterKeyring({1: base64.urlsafe_b64decode(base64.urlsafe_b64encode(b"x" * 32))})
    with pytest.raises(Exception, match="failed authentication"):
        audit.verify(ctx.db, stranger)


def test_append_without_a_head_fails_closed(ctx):
    change(ctx, delete(AuditHead))
    with pytest.raises(AuditError, match="not initialised"):
        append_events(ctx, 1)
    with ctx.db.read() as session:
        assert session.scalars(select(AuditEvent)).all() == []


@pytest.mark.parametrize("details", [{"api_key": "x"}, {"password": "x"}, {"Secret": 1}, {"x": "y" * 5000}])
def test_append_refuses_secret_named_or_oversized_details(ctx, details):
    with pytest.raises(ValidationError):
        with ctx.db.write() as session:
            audit.append(session, ctx.keyring, action="test", actor=None, team_id=None, details=details)


def test_rewrap_system_keys_keeps_the_chain_verifiable(ctx):
    append_events(ctx, 3)
    rotated = MasterKeyring({**ctx.keyring.keys, 2: b"n" * 32})
    with ctx.db.write() as session:
        assert audit.rewrap_system_keys(session, rotated) == 1
    assert audit.verify(ctx.db, rotated).ok
    assert audit.verify(ctx.db, MasterKeyring({2: b"n" * 32})).ok  # the old version can now be retired
    with ctx.db.write() as session:
        audit.append(session, rotated, action="after.rotation", actor=Actor(1, "local@promptvault"), team_id=1)
    assert audit.verify(ctx.db, rotated).checked == 4
