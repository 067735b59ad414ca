"""Accounts and sign-in: password policy, Argon2id, first admin, equal answers, rehash, back-off, audit."""

from __future__ import annotations

import statistics
import time
from datetime import timedelta

import pytest
from argon2 import PasswordHasher, Type
from sqlalchemy import select, update

from promptvault import accounts, library, passwords, refs, sdk, teams, versioning
from promptvault.errors import (
    AlreadyExistsError, AuthenticationError, NotFoundError, PermissionDeniedError, ValidationError,
)
from promptvault.store.tables import AuditEvent, LoginThrottle, User, utcnow

ADMIN, PASSWORD = "admin@example.com", "correct horse battery staple"


@pytest.fixture
def admin(workspace):
    """The first admin, set up with ADMIN / PASSWORD."""
    return accounts.create_first_admin(workspace.db, workspace.keyring, ADMIN, PASSWORD, "Ada")


def events(workspace, action: str) -> list[AuditEvent]:
    """Audit events of one action, oldest first."""
    with workspace.db.read() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def throttle(workspace) -> LoginThrottle | None:
    """The one back-off counter (tests use one identity at a time)."""
    with workspace.db.read() as session:
        return session.scalar(select(LoginThrottle))


@pytest.mark.parametrize(
    "password, problem",
    [
        ("short", "at least 12 characters"),
        ("x" * 11, "at least 12 characters"),
        ("x" * 1025, "at most 1024 characters"),
        ("twelve chars\x00", "NUL character"),
        (None, "must be text"),
        (123456789012, "must be text"),
        ("lone \ud800 surrogate", "valid UTF-8"),
        ("x" * 12, None),
        ("ü" * 1024, None),
    ],
)
def test_password_policy(password, problem, cheap_hashing):
    if problem is None:
        assert passwords.verify_password(passwords.hash_password(password), password)
    else:
        with pytest.raises(ValidationError, match=problem):
            passwords.hash_password(password)


def test_hashes_are_argon2id_with_the_documented_parameters():
    stored = passwords.hash_password(PASSWORD)
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert passwords.verify_password(stored, PASSWORD) and not passwords.verify_password(stored, PASSWORD + "!")
    assert not passwords.verify_password("not a hash", PASSWORD)
    assert not passwords.needs_rehash(stored) and passwords.needs_rehash("not a hash")


def test_first_admin_takes_over_the_local_user_once(workspace):
    before = workspace.local_context()
    library.create_prompt(before, "greet")
    assert accounts.needs_setup(workspace.db) and accounts.first_admin(workspace.db) is None
    actor = accounts.create_first_admin(workspace.db, workspace.keyring, " Admin@Example.com ", PASSWORD, "Ada")
    assert (actor.user_id, actor.email) == (before.actor.user_id, ADMIN)
    assert not accounts.needs_setup(workspace.db) and accounts.first_admin(workspace.db) == actor
    assert library.get_prompt_info(workspace.local_context(), "greet").owner == ADMIN
    assert [(t.name, t.role) for t in teams.list_teams(workspace.local_context())] == [("Default", "owner")]
    with pytest.raises(PermissionDeniedError, match="already set up"):
        accounts.create_first_admin(workspace.db, workspace.keyring, "other@example.com", PASSWORD)
    assert [e.target for e in events(workspace, "user.add")] == [ADMIN]


def test_first_admin_needs_a_valid_email_and_password(workspace, cheap_hashing):
    with pytest.raises(ValidationError, match="at least 12"):
        accounts.create_first_admin(workspace.db, workspace.keyring, ADMIN, "short")
    with pytest.raises(ValidationError, match="not an e-mail address"):
        accounts.create_first_admin(workspace.db, workspace.keyring, "admin", PASSWORD)
    assert accounts.needs_setup(workspace.db)


def test_sign_in_succeeds_and_is_audited(workspace, admin):
    actor = accounts.authenticate(workspace.db, workspace.keyring, "ADMIN@example.com ", PASSWORD)
    assert actor == admin
    (event,) = events(workspace, "login.success")
    assert (event.actor_id, event.details["user_id"], event.details["rehashed"]) == (admin.user_id, admin.user_id, False)
    with workspace.db.read() as session:
        assert session.get(User, admin.user_id).last_login_at is not None


def test_wrong_password_and_unknown_user_get_the_same_answer_and_audit(workspace, admin):
    answers = []
    for email, password in ((ADMIN, "wrong password here"), ("nobody@example.com", PASSWORD)):
        with pytest.raises(AuthenticationError) as caught:
            accounts.authenticate(workspace.db, workspace.keyring, email, password)
        answers.append(str(caught.value))
    assert answers == [accounts.LOGIN_FAILED] * 2
    wrong, unknown = events(workspace, "login.failure")
    assert (wrong.actor_id, wrong.details) == (None, {"user_id": admin.user_id, "reason": "bad_credentials"})
    assert set(unknown.details) == {"identity_hmac", "reason"} and len(unknown.details["identity_hmac"]) == 64
    assert unknown.target == "" and "nobody" not in str(unknown.details)


def test_wrong_password_and_unknown_user_take_about_the_same_time(workspace, admin):
    def median_seconds(emails, password):
        timings = []
        for email in emails:
            start = time.perf_counter()
            with pytest.raises(AuthenticationError):
                accounts.authenticate(workspace.db, workspace.keyring, email, password)
            timings.append(time.perf_counter() - start)
        return statistics.median(timings)

    wrong = median_seconds([ADMIN] * 5, "not the password")
    unknown = median_seconds([f"ghost{i}@example.com" for i in range(5)], PASSWORD)
    assert max(wrong, unknown) / min(wrong, unknown) < 3, (wrong, unknown)


def test_sign_in_rehashes_when_the_parameters_changed(workspace, admin, monkeypatch):
    monkeypatch.setattr(passwords, "HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1, type=Type.ID))
    accounts.authenticate(workspace.db, workspace.keyring, ADMIN, PASSWORD)
    with workspace.db.read() as session:
        stored = session.get(User, admin.user_id).password_hash
    assert stored.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    accounts.authenticate(workspace.db, workspace.keyring, ADMIN, PASSWORD)  # the new hash verifies, no rehash
    assert [e.details["rehashed"] for e in events(workspace, "login.success")] == [True, False]


def test_back_off_locks_after_five_failures_without_checking_the_password(workspace, cheap_hashing, admin, monkeypatch):
    for _ in range(5):
        with pytest.raises(AuthenticationError, match=accounts.LOGIN_FAILED):
            accounts.authenticate(workspace.db, workspace.keyring, ADMIN, "not the password")
    counter = throttle(workspace)
    assert counter.failures == 5 and timedelta(0) < counter.locked_until - utcnow() <= timedelta(seconds=1)
    with monkeypatch.context() as patched:
        patched.setattr(passwords, "verify_password", lambda *_: pytest.fail("a locked sign-in checked a password"))
        with pytest.raises(AuthenticationError, match=r"too many failed sign-ins; try again in 1 s"):
            accounts.authenticate(workspace.db, workspace.keyring, ADMIN, PASSWORD)
    assert events(workspace, "login.failure")[-1].details["reason"] == "locked"
    unlock(workspace)
    with pytest.raises(AuthenticationError, match=accounts.LOGIN_FAILED):  # the sixth failure doubles the lock
        accounts.authenticate(workspace.db, workspace.keyring, ADMIN, "not the password")
    counter = throttle(workspace)
    assert counter.failures == 6 and timedelta(seconds=1) < counter.locked_until - utcnow() <= timedelta(seconds=2)
    unlock(workspace)
    assert accounts.authenticate(workspace.db, workspace.keyring, ADMIN, PASSWORD) == admin
    assert throttle(workspace) is None  # a success starts the count again


def test_back_off_doubles_up_to_fifteen_minutes():
    assert [accounts._lock_seconds(n) for n in (5, 6, 10, 14, 15, 500)] == [1, 2, 32, 512, 900, 900]


def test_back_off_treats_unknown_emails_the_same(workspace, cheap_hashing, admin):
    for _ in range(5):
        with pytest.raises(AuthenticationError, match=accounts.LOGIN_FAILED):
            accounts.authenticate(workspace.db, workspace.keyring, "ghost@example.com", PASSWORD)
    with pytest.raises(AuthenticationError, match="too many failed sign-ins"):
        accounts.authenticate(workspace.db, workspace.keyring, "Ghost@Example.com", PASSWORD)
    assert accounts.authenticate(workspace.db, workspace.keyring, ADMIN, PASSWORD) == admin  # others unaffected


def test_inactive_users_are_refused_everywhere(workspace, admin, cheap_hashing):
    ctx = workspace.local_context()
    accounts.add_user(ctx, "eve@example.com", "eve's long password")
    teams.add_member(ctx, "Default", "eve@example.com", "editor")
    eve = workspace.context_for("eve@example.com")
    with workspace.db.write() as session:
        session.execute(update(User).where(User.email == "eve@example.com").values(is_active=False))
    with pytest.raises(AuthenticationError, match=accounts.LOGIN_FAILED):
        accounts.authenticate(workspace.db, workspace.keyring, "eve@example.com", "eve's long password")
    assert events(workspace, "login.failure")[-1].details["reason"] == "inactive"
    with pytest.raises(AuthenticationError, match="no active PromptVault account"):
        accounts.actor_for_email(workspace.db, "eve@example.com")
    with pytest.raises(NotFoundError):  # a context made before the account was disabled opens nothing
        library.list_prompts(eve)
    assert teams.list_teams(eve) == []


def test_add_user_is_for_team_admins_and_refuses_duplicates(workspace, admin, person, cheap_hashing):
    viewer = person("viewer@example.com", "viewer")
    with pytest.raises(PermissionDeniedError, match="member.manage needs the admin role"):
        accounts.add_user(viewer, "new@example.com")
    ctx = workspace.local_context()
    info = accounts.add_user(ctx, "New@Example.com", "a long password", display_name="New")
    assert (info.email, info.display_name, info.has_password, info.is_active) == ("new@example.com", "New", True, True)
    with pytest.raises(AlreadyExistsError):
        accounts.add_user(ctx, "NEW@example.com")
    assert events(workspace, "user.add")[-1].details == {"user_id": info.id, "sso_only": False}


def test_sso_only_users_cannot_sign_in_with_a_password(workspace, admin):
    accounts.add_user(workspace.local_context(), "sso@example.com")
    with pytest.raises(AuthenticationError, match=accounts.LOGIN_FAILED):
        accounts.authenticate(workspace.db, workspace.keyring, "sso@example.com", "")
    assert accounts.actor_for_email(workspace.db, "SSO@example.com").email == "sso@example.com"
    with pytest.raises(AuthenticationError, match="no active PromptVault account"):
        accounts.actor_for_email(workspace.db, "stranger@example.com")


def test_sso_sign_in_maps_to_the_local_account_and_is_audited(workspace, admin):
    actor = accounts.sso_sign_in(workspace.db, workspace.keyring, "Admin@Example.com")
    assert actor.email == ADMIN
    assert events(workspace, "login.success")[-1].details == {"user_id": actor.user_id, "method": "sso"}


@pytest.mark.parametrize(
    "email, verified, problem, reason",
    [
        ("stranger@example.com", True, "no active PromptVault account", "sso_no_account"),
        (ADMIN, False, "has not verified", "sso_unverified"),
    ],
)
def test_sso_sign_in_refuses_unknown_or_unverified_identities(workspace, admin, email, verified, problem, reason):
    with pytest.raises(AuthenticationError, match=problem):
        accounts.sso_sign_in(workspace.db, workspace.keyring, email, verified=verified)
    failure = events(workspace, "login.failure")[-1]
    assert failure.details["reason"] == reason
    assert "stranger" not in str(failure.details)  # an unknown identity is kept only as an HMAC


def test_list_users_shows_a_manager_only_their_teams_and_unassigned_accounts(workspace, person):
    person("member@example.com", "viewer")
    person("loose@example.com", None)
    outsider = person("outsider@example.com", None)
    teams.create_team(outsider, "Elsewhere")
    emails = [u.email for u in accounts.list_users(workspace.local_context())]
    assert emails == ["local@promptvault", "loose@example.com", "member@example.com"]
    outsider_ctx = workspace.context_for("outsider@example.com")
    assert [u.email for u in accounts.list_users(outsider_ctx)] == ["loose@example.com", "outsider@example.com"]
    with pytest.raises(PermissionDeniedError):
        accounts.list_users(workspace.context_for("member@example.com"))


def test_sdk_acts_as_promptvault_user_or_the_first_admin(sqlite_workspace, monkeypatch):
    ws = sqlite_workspace
    monkeypatch.setenv("PROMPTVAULT_DATA_DIR", str(ws.settings.data_dir))
    monkeypatch.delenv("PROMPTVAULT_DATABASE_URL", raising=False)
    accounts.create_first_admin(ws.db, ws.keyring, ADMIN, PASSWORD)
    admin_ctx = ws.local_context()
    library.create_prompt(admin_ctx, "greet")
    versioning.commit(admin_ctx, "greet", "Hello {{ name }}")
    refs.set_label(admin_ctx, "greet", "production", "1")
    accounts.add_user(admin_ctx, "stranger@example.com")
    teams.create_team(_user_level(ws, "stranger@example.com"), "Elsewhere")  # a "default" project of its own
    sdk.clear_cache()
    try:
        assert sdk.get_prompt("greet").render(name="Ann") == "Hello Ann"
        monkeypatch.setenv("PROMPTVAULT_USER", "stranger@example.com")
        with pytest.raises(NotFoundError, match="no prompt named 'greet'"):
            sdk.get_prompt("greet")
    finally:
        sdk.clear_cache()


def _user_level(ws, email):
    """A context for a user with no project yet (to create their first team)."""
    from promptvault.context import Context

    return Context(db=ws.db, actor=accounts.actor_for_email(ws.db, email), project_id=0, keyring=ws.keyring)


def unlock(workspace) -> None:
    """Move the back-off lock into the past, as if its time had passed."""
    with workspace.db.write() as session:
        session.execute(update(LoginThrottle).values(locked_until=utcnow() - timedelta(seconds=1)))

