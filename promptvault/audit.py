"""The audit log: append-only events, each chained to the previous by HMAC-SHA256, verifiable end to end."""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from promptvault.context import Actor, Context
from promptvault.crypto import MasterKeyring, aad, keyed_hash, new_key, unwrap_key, wrap_key
from promptvault.errors import AuditError, PromptVaultError, ValidationError
from promptvault.store import Database
from promptvault.store.tables import AuditEvent, AuditHead, SystemKey, utcnow

AUDIT_KEY = "audit"
MAX_DETAILS_CHARS = 4_000
# Details are for who/what/why; a field named like a secret is refused so nothing secret is logged by mistake.
_SECRET_WORDS = ("secret", "password", "api_key", "apikey", "token", "plaintext")


@dataclass(frozen=True)
class AuditEventInfo:
    """One audit event as the Audit page and `audit list` show it."""

    id: int
    at: datetime
    team_id: int | None
    actor: str
    action: str
    target: str
    details: dict[str, Any]


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of walking the chain: how many events were checked and the first bad one, if any."""

    ok: bool
    checked: int
    first_bad_id: int | None = None
    problem: str = ""


def append(
    session: Session, keyring: MasterKeyring, *, action: str, actor: Actor | None, team_id: int | None,
    target: str = "", details: dict[str, Any] | None = None,
) -> None:
    """Append one event inside the caller's write transaction (the chain head is locked meanwhile)."""
    details = _checked_details(details or {})
    try:
        head = session.scalar(select(AuditHead).where(AuditHead.id == 1).with_for_update())
        if head is None:
            raise AuditError("the audit log is not initialised (run `promptvault db upgrade`)")
        key = audit_key(session, keyring)
        event = AuditEvent(
            at=utcnow(), team_id=team_id, actor_id=actor.user_id if actor else None,
            actor_email=actor.email if actor else "", action=action, target=target[:300], details=details,
            prev_mac=head.mac, mac="",
        )
        session.add(event)
        session.flush()
        event.mac = _event_mac(key, event)
        head.last_event_id, head.mac = event.id, _head_mac(key, event.id, event.mac)
        session.flush()
    except PromptVaultError:
        raise
    except Exception as exc:  # a failed audit write must stop the action that needed it
        raise AuditError(f"could not write the audit event '{action}': {type(exc).__name__}") from None


def audit_key(session: Session, keyring: MasterKeyring) -> bytes:
    """The chain's HMAC key, created on first use and kept wrapped by the master key."""
    row = session.get(SystemKey, AUDIT_KEY)
    if row is None:
        key = new_key()
        version = keyring.active_version
        row = SystemKey(name=AUDIT_KEY, master_version=version, wrapped=wrap_key(keyring, key, _key_aad(version)))
        session.add(row)
        session.flush()
        return key
    return unwrap_key(keyring, row.wrapped, _key_aad(row.master_version))


def rewrap_system_keys(session: Session, keyring: MasterKeyring) -> int:
    """Rewrap installation keys under the active master key; the number rewrapped."""
    active, count = keyring.active_version, 0
    for row in session.scalars(select(SystemKey).where(SystemKey.master_version < active).with_for_update()):
        key = unwrap_key(keyring, row.wrapped, _key_aad(row.master_version))
        row.wrapped, row.master_version = wrap_key(keyring, key, _key_aad(active)), active
        count += 1
    return count


def verify(db: Database, keyring: MasterKeyring) -> VerifyReport:
    """Walk the whole chain; name the first event that was edited, deleted, reordered or truncated away."""
    with db.read() as session:
        head = session.get(AuditHead, 1)
        if session.get(SystemKey, AUDIT_KEY) is None:  # no event was ever written, unless the key was removed
            if head is not None and head.last_event_id == 0:
                return VerifyReport(True, 0)
            return VerifyReport(False, 0, head.last_event_id if head else None, "the audit key or head is missing")
        key = audit_key(session, keyring)
        prev, checked, last_id = "", 0, 0
        for event in session.scalars(select(AuditEvent).order_by(AuditEvent.id).execution_options(yield_per=1000)):
            problem = _event_problem(key, event, prev)
            if problem:
                return VerifyReport(False, checked, event.id, problem)
            prev, last_id, checked = _head_mac(key, event.id, event.mac), event.id, checked + 1
        if head is None or head.last_event_id != last_id or not hmac.compare_digest(head.mac, prev):
            recorded = head.last_event_id if head else "?"
            return VerifyReport(False, checked, last_id or None, f"the log ends at event {last_id} but the head records event {recorded}: events were removed from the end")
    return VerifyReport(True, checked)


def list_events(
    ctx: Context, team_id: int, action: str | None = None, actor_email: str | None = None,
    since: datetime | None = None, until: datetime | None = None, limit: int = 500,
) -> list[AuditEventInfo]:
    """A team's events, newest first, filtered (admins and owners only)."""
    from promptvault import authz

    with ctx.db.read() as session:
        authz.require(session, ctx, team_id, "audit.read")
        query = select(AuditEvent).where(AuditEvent.team_id == team_id)
        if action:
            query = query.where(AuditEvent.action.startswith(action))
        if actor_email:
            query = query.where(AuditEvent.actor_email == actor_email)
        if since:
            query = query.where(AuditEvent.at >= since)
        if until:
            query = query.where(AuditEvent.at < until)
        rows = session.scalars(query.order_by(AuditEvent.id.desc()).limit(min(limit, 10_000)))
        return [AuditEventInfo(e.id, e.at, e.team_id, e.actor_email, e.action, e.target, dict(e.details)) for e in rows]


def export_csv(ctx: Context, team_id: int, **filters: Any) -> str:
    """A team's events as CSV (formula cells defanged); the export itself is audited."""
    from promptvault.csv_export import to_csv

    events = list_events(ctx, team_id, **filters)
    with ctx.db.write() as session:
        append(session, ctx.keyring, action="audit.export", actor=ctx.actor, team_id=team_id, details={"events": len(events)})
    rows = ([e.id, e.at.isoformat(), e.actor, e.action, e.target, json.dumps(e.details, sort_keys=True)] for e in events)
    return to_csv(["id", "at", "actor", "action", "target", "details"], rows)


def identity_hmac(session: Session, keyring: MasterKeyring, value: str) -> str:
    """An HMAC of a value near a secret (e.g. a mistyped login), comparable but never readable."""
    return keyed_hash(audit_key(session, keyring), "identity|" + value.strip().lower())


def _event_mac(key: bytes, event: AuditEvent) -> str:
    """HMAC of the previous MAC and this event's canonical fields (its id included, so order counts)."""
    fields = {
        "id": event.id, "at": event.at.isoformat(timespec="microseconds"), "team": event.team_id,
        "actor_id": event.actor_id, "actor": event.actor_email, "action": event.action, "target": event.target,
        "details": event.details,
    }
    payload = event.prev_mac + "|" + json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return keyed_hash(key, payload)


def _head_mac(key: bytes, event_id: int, mac: str) -> str:
    """HMAC binding an event's id and MAC: the head holds the last one, each next event's prev_mac the one before."""
    return keyed_hash(key, f"head|{event_id}|{mac}")


def _event_problem(key: bytes, event: AuditEvent, prev: str) -> str:
    """Why an event breaks the chain, or ''."""
    if not hmac.compare_digest(event.prev_mac, prev):
        return f"event {event.id} does not follow the previous event: an event before it was deleted or reordered"
    if not hmac.compare_digest(event.mac, _event_mac(key, event)):
        return f"event {event.id} was changed after it was written"
    return ""


def _checked_details(details: dict[str, Any]) -> dict[str, Any]:
    """Details as plain JSON within the size limit, with no field named like a secret."""
    for name in details:
        if any(word in str(name).lower() for word in _SECRET_WORDS):
            raise ValidationError(f"audit details may not carry a field named '{name}'")
    try:
        text = json.dumps(details, sort_keys=True, ensure_ascii=False, allow_nan=False, default=str)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"audit details are not plain JSON: {exc}") from None
    if len(text) > MAX_DETAILS_CHARS:
        raise ValidationError(f"audit details exceed {MAX_DETAILS_CHARS} characters")
    return json.loads(text)


def _key_aad(version: int) -> bytes:
    """Associated data of the audit key's wrapping: the key's name and the master-key version."""
    return aad("system-key", AUDIT_KEY, version)
