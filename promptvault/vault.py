"""The key vault: provider API keys at rest, sealed with their team's data key and opened only for one call."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import func, or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, defer

from promptvault import audit, authz
from promptvault.content import check_text
from promptvault.context import Actor, Context
from promptvault.crypto import MasterKeyring, aad, new_key, open_sealed, seal, sealed_version, unwrap_key, wrap_key
from promptvault.errors import ConfigurationError, DecryptionError, NotFoundError, PromptVaultError, ValidationError
from promptvault.store import Database
from promptvault.store.tables import DataKey, ProviderKey, SystemKey, User, utcnow

PROVIDER_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,49}$")  # litellm's provider prefixes: openai, vertex_ai, ...
CUSTOM_PROVIDER = "custom"  # any OpenAI-compatible server at `api_base`
MAX_SECRET_CHARS = 4_096
MAX_LABEL_CHARS = 100
MAX_API_BASE_CHARS = 500
MAX_PURPOSE_CHARS = 200
LAST4_MIN_CHARS = 12  # a shorter secret shows no tail: four characters would give away too much of it
DATA_KEY_VERSION = 1  # payloads name the data-key version, not the master's: master rotation never touches them


def _max_age_days(environ: Mapping[str, str] = os.environ) -> int:
    """PROMPTVAULT_KEY_MAX_AGE_DAYS (default 90): keys older than this are flagged for rotation."""
    raw = (environ.get("PROMPTVAULT_KEY_MAX_AGE_DAYS") or "90").strip()
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigurationError(f"PROMPTVAULT_KEY_MAX_AGE_DAYS must be a whole number of days, at least 1, not {raw!r}")
    return int(raw)


KEY_MAX_AGE_DAYS = _max_age_days()


@dataclass(frozen=True)
class KeyInfo:
    """A provider key as the Keys page and `keys list` show it: never the secret, at most its last four characters."""

    id: int
    team_id: int
    owner: str | None  # the owner's e-mail for a personal key, None for a key shared by the team
    provider: str
    label: str
    api_base: str | None
    last4: str
    created_by: str
    created_at: datetime
    last_used_at: datetime | None
    rotated_at: datetime | None
    age_days: int
    needs_rotation: bool


@dataclass(frozen=True)
class RotationReport:
    """What a master-key rotation did: data keys rewrapped now, found already current, system keys rewrapped."""

    rewrapped: int
    already_current: int
    system_keys: int


def check_provider(provider: str, api_base: str | None = None) -> tuple[str, str | None]:
    """A litellm-style provider name (lower-cased) and its optional http(s) base URL; `custom` needs one."""
    provider = check_provider_name(provider)
    if api_base is None or api_base == "":
        if provider == CUSTOM_PROVIDER:
            raise ValidationError("a custom provider needs its API base URL (http:// or https://)")
        return provider, None
    return provider, check_api_base(api_base)


def check_provider_name(provider: str) -> str:
    """A litellm-style provider name, lower-cased: letters, digits, '_' or '-'."""
    name = provider.strip().lower() if isinstance(provider, str) else ""
    if not PROVIDER_PATTERN.match(name):
        raise ValidationError("provider must be a litellm provider name: letters, digits, '_' or '-', up to 50 characters")
    return name


def check_api_base(api_base: str) -> str:
    """An http(s) URL with a host and no credentials, query or fragment (keys belong in the vault, not the URL)."""
    check_text(api_base, "API base URL", MAX_API_BASE_CHARS)
    if any(ch.isspace() or not ch.isprintable() for ch in api_base):
        raise ValidationError("API base URL contains spaces or control characters")
    try:
        parts = urlsplit(api_base)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise ValidationError("API base URL is malformed") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError("API base URL must start with http:// or https:// and name a host")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValidationError("API base URL may not carry credentials, a query or a fragment; store the key itself in the vault")
    return api_base.rstrip("/")


def check_secret(secret: str) -> str:
    """The key without surrounding whitespace: printable ASCII, no spaces, at most 4,096 characters (never echoed)."""
    if not isinstance(secret, str):
        raise ValidationError("the key must be text")
    secret = secret.strip()
    if not secret:
        raise ValidationError("the key is empty")
    if len(secret) > MAX_SECRET_CHARS:
        raise ValidationError(f"the key is {len(secret):,} characters; the limit is {MAX_SECRET_CHARS:,}")
    if not all(33 <= ord(ch) <= 126 for ch in secret):
        raise ValidationError("the key may contain only printable ASCII characters, with no spaces or control characters")
    return secret


def last4(secret: str) -> str:
    """The last four characters the app may show, or '' for a secret too short to show any of it."""
    return secret[-4:] if len(secret) >= LAST4_MIN_CHARS else ""


def add_key(
    ctx: Context, team_id: int, provider: str, secret: str, label: str = "", api_base: str | None = None,
    personal: bool = False,
) -> KeyInfo:
    """Seal and store a provider key: shared with the team (admins), or personal to the acting member."""
    provider, api_base = check_provider(provider, api_base)
    secret = check_secret(secret)
    check_text(label, "label", MAX_LABEL_CHARS)
    with ctx.db.write() as session:
        authz.require(session, ctx, team_id, "key.read" if personal else "key.manage")
        data_key = _team_data_key(session, ctx.keyring, team_id)
        row = ProviderKey(
            team_id=team_id, owner_user_id=ctx.actor.user_id if personal else None, provider=provider, label=label,
            api_base=api_base, ciphertext="", last4=last4(secret), created_by=ctx.actor.user_id,
        )
        session.add(row)
        session.flush()  # the id is part of the associated data, so the row exists before it is sealed
        row.ciphertext = seal(data_key, secret.encode("ascii"), _payload_aad(row), DATA_KEY_VERSION)
        _audit(session, ctx, "key.add", row)
        session.flush()
        return _infos(session, [row])[0]


def list_keys(ctx: Context, team_id: int) -> list[KeyInfo]:
    """The team's shared keys and the actor's own personal keys (metadata only)."""
    with ctx.db.read() as session:
        authz.require(session, ctx, team_id, "key.read")
        rows = session.scalars(
            select(ProviderKey)
            .options(defer(ProviderKey.ciphertext))
            .where(ProviderKey.team_id == team_id)
            .where(or_(ProviderKey.owner_user_id.is_(None), ProviderKey.owner_user_id == ctx.actor.user_id))
            .order_by(ProviderKey.provider, ProviderKey.id)
        )
        return _infos(session, list(rows))


def delete_key(ctx: Context, key_id: int) -> None:
    """Destroy a key: its row and ciphertext are deleted (shared: admins; personal: its owner only)."""
    with ctx.db.write() as session:
        row = _load_key(session, ctx, key_id, "key.manage")
        _audit(session, ctx, "key.delete", row)
        _erase_freed_pages(session)
        session.delete(row)


def destroy_personal_keys(session: Session, ctx: Context, team_id: int, user_id: int) -> int:
    """Destroy a user's personal keys in a team (they left it), auditing each; how many there were."""
    rows = list(session.scalars(select(ProviderKey).where(ProviderKey.team_id == team_id, ProviderKey.owner_user_id == user_id)))
    for row in rows:
        _audit(session, ctx, "key.delete", row)
        _erase_freed_pages(session)
        session.delete(row)
    return len(rows)


def replace_key(ctx: Context, key_id: int, new_secret: str) -> KeyInfo:
    """Rotate a key by replacement: the new secret's ciphertext overwrites the old one; audited."""
    new_secret = check_secret(new_secret)
    with ctx.db.write() as session:
        row = _load_key(session, ctx, key_id, "key.manage")
        data_key = _unwrap_data_key(ctx.keyring, _data_key_row(session, row.team_id))
        _erase_freed_pages(session)
        row.ciphertext = seal(data_key, new_secret.encode("ascii"), _payload_aad(row), DATA_KEY_VERSION)
        row.last4, row.rotated_at = last4(new_secret), utcnow()
        _audit(session, ctx, "key.rotate", row)
        session.flush()
        return _infos(session, [row])[0]


@contextmanager
def use_key(ctx: Context, key_id: int, purpose: str) -> Iterator[str]:
    """The plaintext key for one provider call, opened only after its audit event is committed (no audit, no key)."""
    check_text(purpose, "purpose", MAX_PURPOSE_CHARS, allow_empty=False)
    row, data_key_row = _record_use(ctx, key_id, purpose)
    secret = _open(ctx.keyring, row, data_key_row)
    try:
        yield secret
    except Exception as exc:
        if not _mentions(exc, secret):
            raise
        _scrub(exc, secret)  # Python keeps the original as __context__ of what we raise: leave nothing in it
        raise PromptVaultError(f"the provider call failed ({type(exc).__name__}); its message contained the key and was withheld") from None


def resolve_key(ctx: Context, team_id: int, provider: str) -> int:
    """The key a call to `provider` uses: the actor's personal key first, else the team's newest shared key."""
    provider = check_provider_name(provider)
    with ctx.db.read() as session:
        authz.require(session, ctx, team_id, "key.read")
        query = select(ProviderKey.id).where(ProviderKey.team_id == team_id, ProviderKey.provider == provider)
        query = query.order_by(ProviderKey.created_at.desc(), ProviderKey.id.desc()).limit(1)
        key_id = session.scalar(query.where(ProviderKey.owner_user_id == ctx.actor.user_id))
        if key_id is None:
            key_id = session.scalar(query.where(ProviderKey.owner_user_id.is_(None)))
    if key_id is None:
        raise NotFoundError(f"no '{provider}' key in this team: add one on the Keys page or with `promptvault keys add {provider}`")
    return key_id


def find_key(ctx: Context, team_id: int, ref: str | int) -> KeyInfo:
    """A key a run names by id or label: the actor's personal key with that label first, else the team's shared one."""
    with ctx.db.read() as session:
        authz.require(session, ctx, team_id, "key.read")
        query = select(ProviderKey).where(ProviderKey.team_id == team_id)
        if isinstance(ref, int) or str(ref).isdigit():
            rows = [session.get(ProviderKey, int(ref))]
            rows = [r for r in rows if r is not None and r.team_id == team_id]
        else:
            rows = session.scalars(query.where(ProviderKey.label == str(ref)).order_by(ProviderKey.id.desc())).all()
        visible = [r for r in rows if r.owner_user_id in (None, ctx.actor.user_id)]
        visible.sort(key=lambda r: r.owner_user_id is None)  # personal before shared
        if not visible:
            raise NotFoundError(f"no key '{ref}' in this team: see `promptvault keys list`")
        return _infos(session, visible[:1])[0]


def rotate_master(db: Database, keyring: MasterKeyring, actor: Actor | None = None) -> RotationReport:
    """Rewrap every data key and system key under the active master key, a row per transaction; safe to rerun."""
    active = keyring.active_version
    with db.read() as session:
        stale = list(session.scalars(select(DataKey.team_id).where(DataKey.master_version < active).order_by(DataKey.team_id)))
        current = session.scalar(select(func.count()).select_from(DataKey).where(DataKey.master_version >= active))
    rewrapped = sum(_rewrap_data_key(db, keyring, team_id) for team_id in stale)
    with db.write() as session:
        system = audit.rewrap_system_keys(session, keyring)
    report = RotationReport(rewrapped=rewrapped, already_current=current + len(stale) - rewrapped, system_keys=system)
    with db.write() as session:
        details = {"master_version": active, "rewrapped": report.rewrapped,
                   "already_current": report.already_current, "system_keys": report.system_keys}
        audit.append(session, keyring, action="master.rotate", actor=actor, team_id=None, target=f"master:v{active}", details=details)
    return report


def master_versions_in_use(db: Database) -> set[int]:
    """The master-key versions that still wrap a data key or a system key."""
    with db.read() as session:
        versions = set(session.scalars(select(DataKey.master_version).distinct()))
        return versions | set(session.scalars(select(SystemKey.master_version).distinct()))


def retire_check(db: Database, version: int) -> None:
    """Refuse to retire a master-key version while any data key or system key is still wrapped by it."""
    with db.read() as session:
        data = session.scalar(select(func.count()).select_from(DataKey).where(DataKey.master_version == version))
        system = session.scalar(select(func.count()).select_from(SystemKey).where(SystemKey.master_version == version))
    if data or system:
        raise ValidationError(
            f"master key v{version} still wraps {data} data key(s) and {system} system key(s); "
            "run `promptvault keys rotate-master` first"
        )


def _rewrap_data_key(db: Database, keyring: MasterKeyring, team_id: int) -> bool:
    """Rewrap one team's data key in its own transaction; False when it is already current (or gone)."""
    active = keyring.active_version
    with db.write() as session:
        row = session.scalar(select(DataKey).where(DataKey.team_id == team_id).with_for_update())
        if row is None or row.master_version >= active:
            return False
        key = _unwrap_data_key(keyring, row)
        row.wrapped = wrap_key(keyring, key, _data_key_aad(team_id, active))
        row.master_version, row.rewrapped_at = active, utcnow()
    return True


def _team_data_key(session: Session, keyring: MasterKeyring, team_id: int) -> bytes:
    """The team's data key, created with its first provider key; a concurrent first add's key wins."""
    row = _load_data_key(session, team_id)
    if row is not None:
        return _unwrap_data_key(keyring, row)
    key, version = new_key(), keyring.active_version
    try:
        with session.begin_nested():  # a savepoint: losing the race must not abort the whole transaction
            wrapped = wrap_key(keyring, key, _data_key_aad(team_id, version))
            session.add(DataKey(team_id=team_id, master_version=version, wrapped=wrapped))
        return key
    except IntegrityError:  # another transaction created it first: use theirs (retry once)
        return _unwrap_data_key(keyring, _data_key_row(session, team_id))


def _load_data_key(session: Session, team_id: int) -> DataKey | None:
    """The team's wrapped data key row, if it has one yet."""
    return session.scalar(select(DataKey).where(DataKey.team_id == team_id))


def _data_key_row(session: Session, team_id: int) -> DataKey:
    """The team's wrapped data key row; its absence means the vault was tampered with."""
    row = _load_data_key(session, team_id)
    if row is None:
        raise DecryptionError(f"team {team_id} has provider keys but no data key")
    return row


def _unwrap_data_key(keyring: MasterKeyring, row: DataKey) -> bytes:
    """Open a team's data key with the master-key version its row names."""
    return unwrap_key(keyring, row.wrapped, _data_key_aad(row.team_id, row.master_version))


def _data_key_aad(team_id: int, master_version: int) -> bytes:
    """Associated data of a wrapped data key: its team and the master-key version wrapping it."""
    return aad("data-key", team_id, master_version)


def _payload_aad(row: ProviderKey) -> bytes:
    """Associated data of a sealed key, rebuilt from its row: team, id, provider, owner and where it is sent."""
    owner = row.owner_user_id if row.owner_user_id is not None else "shared"
    return aad("provider-key", row.team_id, row.id, row.provider, owner, row.api_base or "")


def _open(keyring: MasterKeyring, row: ProviderKey, data_key_row: DataKey) -> str:
    """Decrypt a provider key; any mismatch raises DecryptionError."""
    if sealed_version(row.ciphertext) != DATA_KEY_VERSION:
        raise DecryptionError(f"key {row.id} names an unknown data-key version")
    data_key = _unwrap_data_key(keyring, data_key_row)
    return open_sealed(data_key, row.ciphertext, _payload_aad(row)).decode("ascii")


def _record_use(ctx: Context, key_id: int, purpose: str) -> tuple[ProviderKey, DataKey]:
    """Check the actor may use the key, audit the decryption and stamp last use; committed on return."""
    with ctx.db.write() as session:
        row = _load_key(session, ctx, key_id, "key.use")
        data_key_row = _data_key_row(session, row.team_id)
        row.last_used_at = utcnow()
        details = {"provider": row.provider, "purpose": purpose, "personal": row.owner_user_id is not None}
        audit.append(session, ctx.keyring, action="key.decrypt", actor=ctx.actor, team_id=row.team_id,
                     target=f"key:{row.id}", details=details)
    return row, data_key_row


def _load_key(session: Session, ctx: Context, key_id: int, action: str) -> ProviderKey:
    """A key the actor may act on: a personal key for its owner only, a shared key for the role `action` needs."""
    row = session.get(ProviderKey, key_id)
    missing = NotFoundError(f"key {key_id} does not exist")
    if row is None:
        raise missing
    try:
        authz.require(session, ctx, row.team_id, "key.read")
    except NotFoundError:  # the same answer as for a missing key: outsiders learn nothing of other teams
        raise missing from None
    if row.owner_user_id is None:
        authz.require(session, ctx, row.team_id, action)
    elif row.owner_user_id != ctx.actor.user_id:
        raise missing  # other members' personal keys are invisible, whatever the role
    return row


def _audit(session: Session, ctx: Context, action: str, row: ProviderKey) -> None:
    """Audit a change to a key: which key, its provider and label; never any of the secret."""
    details = {"provider": row.provider, "label": row.label, "personal": row.owner_user_id is not None}
    audit.append(session, ctx.keyring, action=action, actor=ctx.actor, team_id=row.team_id, target=f"key:{row.id}", details=details)


def _erase_freed_pages(session: Session) -> None:
    """On SQLite, zero the bytes a delete or overwrite frees, so an old ciphertext does not linger in the file."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("PRAGMA secure_delete=ON"))


def _infos(session: Session, rows: list[ProviderKey]) -> list[KeyInfo]:
    """KeyInfos for rows, with the e-mails of their owners and creators."""
    ids = {r.created_by for r in rows} | {r.owner_user_id for r in rows if r.owner_user_id is not None}
    emails = dict(session.execute(select(User.id, User.email).where(User.id.in_(ids))).all()) if ids else {}
    now, max_age = utcnow(), timedelta(days=KEY_MAX_AGE_DAYS)
    return [
        KeyInfo(
            id=r.id, team_id=r.team_id, owner=emails.get(r.owner_user_id) if r.owner_user_id is not None else None,
            provider=r.provider, label=r.label, api_base=r.api_base, last4=r.last4, created_by=emails.get(r.created_by, ""),
            created_at=r.created_at, last_used_at=r.last_used_at, rotated_at=r.rotated_at,
            age_days=max(0, (now - (r.rotated_at or r.created_at)).days),
            needs_rotation=now - (r.rotated_at or r.created_at) > max_age,
        )
        for r in rows
    ]


def _scrub(exc: BaseException | None, secret: str) -> None:
    """Replace the secret in the string arguments and attributes of an exception and everything it chains to."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        exc.args = tuple(_redacted(arg, secret) for arg in exc.args)
        for name, value in list(vars(exc).items()):
            if not name.startswith("__"):
                setattr(exc, name, _redacted(value, secret))
        exc = exc.__cause__ or exc.__context__


def _redacted(value: object, secret: str) -> object:
    """A string (or a dict or list of them, one level deep) with the secret replaced."""
    if isinstance(value, str):
        return value.replace(secret, "[redacted]")
    if isinstance(value, dict):
        return {k: _redacted(v, secret) if isinstance(v, str) else v for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_redacted(v, secret) if isinstance(v, str) else v for v in value)
    return value


def _mentions(exc: BaseException, secret: str) -> bool:
    """Whether an exception, or one it is chained to, echoes the secret (provider errors can echo headers)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if secret in str(exc) or secret in repr(exc) or any(secret in repr(arg) for arg in exc.args):
            return True
        exc = exc.__cause__ or exc.__context__
    return False
