"""User accounts: first-run setup, adding and listing users, and password sign-in with back-off.

Who may add and list accounts: an owner or admin of at least one team ("member.manage" somewhere). An account
alone grants nothing; only a membership opens a team. `list_users` shows such a manager the members of the
teams they manage, accounts in no team yet (so they can be added to one), and themselves, nobody else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from promptvault import audit, passwords
from promptvault.authz import Role, require_any, roles_of
from promptvault.content import check_text
from promptvault.context import Actor, Context
from promptvault.crypto import MasterKeyring
from promptvault.errors import AlreadyExistsError, AuthenticationError, PermissionDeniedError, ValidationError
from promptvault.store import Database
from promptvault.store.tables import LoginThrottle, Membership, Team, User, utcnow
from promptvault.teams import seed_team

LOCAL_USER_EMAIL = "local@promptvault"  # the placeholder user that acts before the first admin takes it over
DEFAULT_TEAM = "Default"
MAX_EMAIL_CHARS = 320
MAX_DISPLAY_NAME_CHARS = 200
FAILURES_BEFORE_LOCK = 5
MAX_LOCK_SECONDS = 15 * 60
LOGIN_FAILED = "wrong e-mail or password"


@dataclass(frozen=True)
class UserInfo:
    """An account as the admin pages list it (never its password hash)."""

    id: int
    email: str
    display_name: str
    is_active: bool
    has_password: bool
    created_at: datetime
    last_login_at: datetime | None


def normalize_email(email: object) -> str:
    """An e-mail address trimmed and lower-cased, or ValidationError."""
    email = check_text(email, "e-mail", MAX_EMAIL_CHARS, allow_empty=False).strip().lower()
    local, at, domain = email.rpartition("@")
    if not at or not local or not domain or any(c.isspace() or ord(c) < 32 for c in email):
        raise ValidationError(f"'{email}' is not an e-mail address")
    return email


def needs_setup(db: Database) -> bool:
    """Whether no account has a password yet (the app then asks for the first admin)."""
    with db.read() as session:
        return _needs_setup(session)


def create_first_admin(db: Database, keyring: MasterKeyring, email: str, password: str, display_name: str = "") -> Actor:
    """Set up the first admin (only before anyone has a password): the local user's row, owner of "Default"."""
    email, display_name = normalize_email(email), _check_display_name(display_name)
    password_hash = passwords.hash_password(password)
    with db.write() as session:
        session.scalar(select(Team.id).where(Team.name == DEFAULT_TEAM).with_for_update())  # serialize setups
        user = session.scalar(select(User).where(User.email == LOCAL_USER_EMAIL).with_for_update())
        if not _needs_setup(session):
            raise PermissionDeniedError("PromptVault is already set up; sign in instead")
        if email != LOCAL_USER_EMAIL and session.scalar(select(User.id).where(User.email == email)) is not None:
            raise AlreadyExistsError(f"an account with the e-mail '{email}' already exists")
        user = user or User(email=email)
        user.email, user.display_name, user.password_hash, user.is_active = email, display_name, password_hash, True
        session.add(user)
        session.flush()
        _make_default_team_owner(session, user.id)
        actor = Actor(user_id=user.id, email=email)
        audit.append(session, keyring, action="user.add", actor=actor, team_id=None, target=email,
                     details={"user_id": user.id, "first_admin": True})
    return actor


def add_user(ctx: Context, email: str, password: str | None = None, display_name: str = "") -> UserInfo:
    """Add an account (team owners and admins); without a password it can only sign in through SSO."""
    email, display_name = normalize_email(email), _check_display_name(display_name)
    with ctx.db.read() as session:  # refuse before spending a hash on someone who may not add accounts
        require_any(session, ctx, "member.manage")
    password_hash = passwords.hash_password(password) if password is not None else None
    try:
        with ctx.db.write() as session:
            require_any(session, ctx, "member.manage")
            if session.scalar(select(User.id).where(User.email == email)) is not None:
                raise AlreadyExistsError(f"an account with the e-mail '{email}' already exists")
            user = User(email=email, display_name=display_name, password_hash=password_hash, is_active=True)
            session.add(user)
            session.flush()
            audit.append(session, ctx.keyring, action="user.add", actor=ctx.actor, team_id=None, target=email,
                         details={"user_id": user.id, "sso_only": password_hash is None})
            return _user_info(user)
    except IntegrityError:
        raise AlreadyExistsError(f"an account with the e-mail '{email}' already exists") from None


def list_users(ctx: Context) -> list[UserInfo]:
    """Accounts a team manager may see: members of the teams they manage, accounts in no team, themselves."""
    with ctx.db.read() as session:
        require_any(session, ctx, "member.manage")
        managed = [team for team, role in roles_of(session, ctx.actor.user_id).items() if role >= Role.ADMIN]
        in_managed = select(Membership.user_id).where(Membership.team_id.in_(managed))
        query = select(User).where(or_(
            User.id.in_(in_managed), User.id.not_in(select(Membership.user_id)), User.id == ctx.actor.user_id,
        ))
        return [_user_info(u) for u in session.scalars(query.order_by(User.email))]


def authenticate(db: Database, keyring: MasterKeyring, email: str, password: str) -> Actor:
    """Check a password sign-in: one Argon2 verify whether or not the account exists, back-off, audit."""
    dummy = passwords.dummy_hash()  # made by the first sign-in of the process, whoever it names
    typed = _typed_identity(email)
    try:
        identity, user, retry_at = _count_attempt(db, keyring, typed)
    except IntegrityError:  # two first attempts for one identity raced to insert its counter
        identity, user, retry_at = _count_attempt(db, keyring, typed)
    if retry_at is not None:
        raise AuthenticationError(_locked_message(retry_at))
    has_password = user is not None and bool(user.password_hash)
    stored = user.password_hash if has_password else dummy
    candidate = password if isinstance(password, str) and len(password) <= passwords.MAX_CHARS else ""
    verified = passwords.verify_password(stored, candidate) and has_password
    if verified and user.is_active:
        fresh = passwords.rehash_password(candidate) if passwords.needs_rehash(stored) else None
        return _record_success(db, keyring, identity, user.id, stored, fresh)
    _record_failure(db, keyring, identity, user, "inactive" if verified else "bad_credentials")
    raise AuthenticationError(LOGIN_FAILED)


def actor_for_email(db: Database, email: str) -> Actor:
    """The active account with this e-mail (for --as and SSO); an identity without one gets no access."""
    typed = _typed_identity(email)
    with db.read() as session:
        user = _user_for_login(session, typed)
    if user is None or not user.is_active:
        raise AuthenticationError(f"no active PromptVault account for '{typed}'; an admin must add it first")
    return Actor(user_id=user.id, email=user.email)


def sso_sign_in(db: Database, keyring: MasterKeyring, email: str, verified: bool = True) -> Actor:
    """Map a single sign-on identity to its active local account, auditing the outcome; no account, no access."""
    typed = _typed_identity(email)
    with db.write() as session:
        user = _user_for_login(session, typed)
        if verified and user is not None and user.is_active:
            user.last_login_at = utcnow()
            actor = Actor(user_id=user.id, email=user.email)
            audit.append(session, keyring, action="login.success", actor=actor, team_id=None, target=user.email,
                         details={"user_id": user.id, "method": "sso"})
            return actor
        reason = "sso_unverified" if not verified else "sso_no_account" if user is None else "inactive"
        _audit_failure(session, keyring, audit.identity_hmac(session, keyring, typed), user, reason)
    if not verified:
        raise AuthenticationError(f"your identity provider has not verified the e-mail '{typed}'; no access")
    raise AuthenticationError(f"no active PromptVault account for '{typed}'; an admin must add it first")


def first_admin(db: Database) -> Actor | None:
    """The oldest active account with a password that owns or administers a team; None before setup."""
    query = (
        select(User.id, User.email).join(Membership, Membership.user_id == User.id)
        .where(User.password_hash.is_not(None), User.is_active.is_(True),
               Membership.role.in_([str(Role.OWNER), str(Role.ADMIN)]))
        .order_by(User.id).limit(1)
    )
    with db.read() as session:
        row = session.execute(query).first()
    return Actor(user_id=row.id, email=row.email) if row else None


def _count_attempt(db: Database, keyring: MasterKeyring, typed: str) -> tuple[str, User | None, datetime | None]:
    """Count a sign-in attempt before checking it (so parallel guesses hit the lock too); or say when to retry."""
    with db.write() as session:
        identity = audit.identity_hmac(session, keyring, typed)
        user = _user_for_login(session, typed)
        throttle = session.get(LoginThrottle, identity, with_for_update=True)
        now = utcnow()
        if throttle is not None and throttle.locked_until is not None and throttle.locked_until > now:
            _audit_failure(session, keyring, identity, user, "locked")
            return identity, user, throttle.locked_until
        if throttle is None:
            throttle = LoginThrottle(identity=identity, failures=0)
            session.add(throttle)
        throttle.failures, throttle.updated_at = throttle.failures + 1, now
        if throttle.failures >= FAILURES_BEFORE_LOCK:
            throttle.locked_until = now + timedelta(seconds=_lock_seconds(throttle.failures))
        return identity, user, None


def _lock_seconds(failures: int) -> int:
    """Back-off after the fifth consecutive failure: 1 s, then doubling, at most 15 minutes."""
    return min(2 ** min(failures - FAILURES_BEFORE_LOCK, 20), MAX_LOCK_SECONDS)


def _record_success(db: Database, keyring: MasterKeyring, identity: str, user_id: int, verified: str, fresh: str | None) -> Actor:
    """Reset the back-off, note the sign-in, store a rehash (unless the password changed meanwhile), audit."""
    with db.write() as session:
        user = session.get(User, user_id, with_for_update=True)
        if user is None or not user.is_active:
            raise AuthenticationError(LOGIN_FAILED)
        session.execute(delete(LoginThrottle).where(LoginThrottle.identity == identity))
        rehashed = fresh is not None and user.password_hash == verified
        if rehashed:
            user.password_hash = fresh
        user.last_login_at = utcnow()
        actor = Actor(user_id=user.id, email=user.email)
        audit.append(session, keyring, action="login.success", actor=actor, team_id=None, target=user.email,
                     details={"user_id": user.id, "rehashed": rehashed})
    return actor


def _record_failure(db: Database, keyring: MasterKeyring, identity: str, user: User | None, reason: str) -> None:
    """Audit a failed sign-in (the attempt was already counted)."""
    with db.write() as session:
        _audit_failure(session, keyring, identity, user, reason)


def _audit_failure(session: Session, keyring: MasterKeyring, identity: str, user: User | None, reason: str) -> None:
    """A login.failure event: the account's id if the e-mail exists, else only an HMAC of what was typed."""
    details = {"user_id": user.id} if user is not None else {"identity_hmac": identity}
    audit.append(session, keyring, action="login.failure", actor=None, team_id=None,
                 target=user.email if user is not None else "", details={**details, "reason": reason})


def _locked_message(retry_at: datetime) -> str:
    """Say when a locked identity may try again."""
    seconds = max(1, math.ceil((retry_at - utcnow()).total_seconds()))
    return f"too many failed sign-ins; try again in {seconds} s (after {retry_at:%H:%M:%S} UTC)"


def _typed_identity(email: object) -> str:
    """What was typed as the e-mail, trimmed and lower-cased, as text any store and HMAC accept."""
    text = email if isinstance(email, str) else ""
    return text.strip().lower().encode("utf-8", "replace").decode("utf-8")


def _user_for_login(session: Session, typed: str) -> User | None:
    """The account a typed e-mail names; None for no account or text that cannot be an e-mail."""
    if not typed or len(typed) > MAX_EMAIL_CHARS or "\x00" in typed:
        return None
    return session.scalar(select(User).where(User.email == typed))


def _needs_setup(session: Session) -> bool:
    """No account has a password yet."""
    return session.scalar(select(User.id).where(User.password_hash.is_not(None)).limit(1)) is None


def _make_default_team_owner(session: Session, user_id: int) -> None:
    """Make the user owner of the Default team, creating the team (and its project) if it is missing."""
    team_id = session.scalar(select(Team.id).where(Team.name == DEFAULT_TEAM))
    if team_id is None:
        seed_team(session, DEFAULT_TEAM, user_id)
        return
    membership = session.scalar(select(Membership).where(Membership.team_id == team_id, Membership.user_id == user_id))
    if membership is None:
        session.add(Membership(team_id=team_id, user_id=user_id, role=str(Role.OWNER)))
    else:
        membership.role = str(Role.OWNER)


def _check_display_name(name: object) -> str:
    """A display name: text of at most 200 characters, trimmed."""
    return check_text(name, "display name", MAX_DISPLAY_NAME_CHARS).strip()


def _user_info(user: User) -> UserInfo:
    """An account row as UserInfo."""
    return UserInfo(user.id, user.email, user.display_name, user.is_active, user.password_hash is not None,
                    user.created_at, user.last_login_at)
