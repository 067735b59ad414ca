"""First-run setup, login, single sign-on and log-out through the app shell (AppTest on a real workspace)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from apptest import ADMIN, APP, PASSWORD, checked, errors, open_page, page, pages
from promptvault import accounts, teams
from ui import auth, session

pytestmark = pytest.mark.usefixtures("cheap_hashing")


@pytest.fixture(autouse=True)
def server_like(monkeypatch):
    """Make every AppTest run start at app.py, as the server does once st.navigation ran (without this, AppTest
    treats the pages/ folder as an old-style multipage app and reruns a finished page without the shell)."""
    from streamlit.runtime.pages_manager import PagesManager

    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)


@pytest.fixture
def admin(app_ctx):
    """The first admin, set up through the service (with a display name, as the setup form would); their actor."""
    return accounts.create_first_admin(app_ctx.db, app_ctx.keyring, ADMIN, PASSWORD, "Ada")


def widget_values(at: AppTest) -> list[str]:
    """Every text input's value and every session-state value, as text."""
    return [str(t.value) for t in at.text_input] + [repr(at.session_state[k]) for k in at.session_state]


def submit_setup(at: AppTest, email: str, name: str, password: str, again: str, generation: int = 0) -> AppTest:
    """Fill and submit the first-run form."""
    form = f"setup.{generation}"
    at.text_input(key=f"{form}.email").input(email)
    at.text_input(key=f"{form}.name").input(name)
    at.text_input(key=f"{form}.password").input(password)
    at.text_input(key=f"{form}.again").input(again)
    return checked(at.button(key=f"{form}.submit").click().run())


def submit_login(at: AppTest, email: str, password: str) -> AppTest:
    """Fill and submit the login form (whatever its generation)."""
    generation = at.session_state["login.generation"]
    at.text_input(key=f"login.{generation}.email").input(email)
    at.text_input(key=f"login.{generation}.password").input(password)
    return checked(at.button(key=f"login.{generation}.submit").click().run())


def test_first_run_offers_only_setup(app_ctx):
    at = open_page(APP)
    assert at.title[0].value == "Welcome to PromptVault"
    assert pages(at) == ["Set up PromptVault"]
    assert [t.label for t in at.text_input] == ["E-mail", "Display name", "Password", "Password again"]
    assert all(t.value == "" for t in at.text_input)  # no default password anywhere


def test_setup_creates_the_first_admin_and_logs_in(app_ctx):
    at = submit_setup(open_page(APP), "Admin@Example.com", "Ada", PASSWORD, PASSWORD)
    assert not accounts.needs_setup(app_ctx.db)
    assert at.session_state[auth.USER_KEY] == {"id": app_ctx.actor.user_id, "email": ADMIN}
    assert at.title[0].value == "Library"  # the shell now shows the app
    assert set(pages(at)) == {"Library", "Editor", "Playground", "Compare", "Datasets", "Analytics", "Keys", "Team", "Audit"}
    assert "Welcome, admin@example.com" in " ".join(s.value.replace("\\", "") for s in at.success)
    assert any(ADMIN in c.value.replace("\\", "") and "owner of Default" in c.value for c in at.sidebar.caption)
    assert not any(PASSWORD in v for v in widget_values(at))
    assert accounts.authenticate(app_ctx.db, app_ctx.keyring, ADMIN, PASSWORD).email == ADMIN


def test_setup_refuses_different_passwords_and_clears_both(app_ctx):
    at = submit_setup(open_page(APP), ADMIN, "Ada", PASSWORD, PASSWORD + "!")
    assert any("two passwords differ" in e for e in errors(at))
    assert accounts.needs_setup(app_ctx.db)
    assert at.text_input(key="setup.1.email").value == ADMIN  # what was typed stays, except the passwords
    assert at.text_input(key="setup.1.password").value == "" and at.text_input(key="setup.1.again").value == ""
    assert not any(PASSWORD in v for v in widget_values(at))


def test_setup_refuses_a_short_password(app_ctx):
    at = submit_setup(open_page(APP), ADMIN, "Ada", "short", "short")
    assert any("at least 12 characters" in e for e in errors(at))
    assert accounts.needs_setup(app_ctx.db)


def test_after_setup_only_the_login_page_is_offered(admin):
    at = open_page(APP)
    assert pages(at) == ["Log in"]
    assert at.title[0].value == "Log in to PromptVault"
    assert "login.sso.login" not in [b.key for b in at.button]  # no [auth] secrets: no single sign-on


def test_login_with_wrong_password_shows_the_error_and_clears_the_password(admin):
    at = submit_login(open_page(APP), ADMIN, "not the password at all")
    assert errors(at) == ["wrong e-mail or password"]
    assert auth.USER_KEY not in at.session_state
    assert at.text_input(key="login.1.email").value == ADMIN
    assert at.text_input(key="login.1.password").value == ""
    assert pages(at) == ["Log in"]


def test_login_unknown_user_gets_the_same_answer(admin):
    at = submit_login(open_page(APP), "nobody@example.com", PASSWORD)
    assert errors(at) == ["wrong e-mail or password"]


def test_login_shows_the_back_off_as_is(admin):
    at = open_page(APP)
    for _ in range(accounts.FAILURES_BEFORE_LOCK):
        at = submit_login(at, ADMIN, "wrong password, again")
    at = submit_login(at, ADMIN, PASSWORD)  # even the right password waits
    assert any("too many failed sign-ins; try again in" in e for e in errors(at))
    assert auth.USER_KEY not in at.session_state


def test_login_with_the_right_password_opens_the_app(admin):
    at = submit_login(open_page(APP), " ADMIN@example.com ", PASSWORD)
    assert at.session_state[auth.USER_KEY] == {"id": admin.user_id, "email": ADMIN}
    assert at.title[0].value == "Library"
    assert not any(PASSWORD in v for v in widget_values(at))


def test_log_out_forgets_the_user_and_everything_of_theirs(admin):
    at = open_page(APP, admin)
    at.session_state["pv.session_keys"] = ["something of this user"]
    at = checked(at.button(key="pv.sidebar.logout").click().run())
    assert auth.USER_KEY not in at.session_state and "pv.session_keys" not in at.session_state
    assert pages(at) == ["Log in"]


def test_a_disabled_account_is_logged_out_on_its_next_click(admin, app_ctx):
    at = open_page(APP, admin)
    with app_ctx.db.write() as db_session:
        from promptvault.store.tables import User

        db_session.get(User, admin.user_id).is_active = False
    at = checked(at.run())
    assert pages(at) == ["Log in"] and auth.USER_KEY not in at.session_state


def test_a_user_in_no_team_sees_only_the_team_page(admin, app_ctx):
    ctx = session.workspace().context_for(admin)
    accounts.add_user(ctx, "loner@example.com", PASSWORD)
    loner = accounts.actor_for_email(app_ctx.db, "loner@example.com")
    at = open_page(APP, loner)
    assert pages(at) == ["Team"]
    assert "not a member of any team" in at.info[0].value
    at.text_input(key="team.create.name").input("Loners")
    at = checked(at.button(key="team.create.submit").click().run())
    assert [t.name for t in teams.list_teams(session.user_context(loner))] == ["Loners"]
    assert set(pages(at)) == {"Library", "Editor", "Playground", "Compare", "Datasets", "Analytics", "Keys", "Team", "Audit"}  # owner of the new team


def test_sso_identity_with_a_local_user_is_logged_in(admin, monkeypatch):
    monkeypatch.setattr(auth, "sso_configured", lambda: True)
    at = page(APP)
    at.user = {"is_logged_in": True, "email": "Admin@example.com", "name": "Ada"}
    at = checked(at.run())
    assert at.session_state[auth.USER_KEY] == {"id": admin.user_id, "email": ADMIN}
    assert at.title[0].value == "Library"


def test_sso_identity_without_a_local_user_gets_no_access(admin, monkeypatch):
    monkeypatch.setattr(auth, "sso_configured", lambda: True)
    at = page(APP)
    at.user = {"is_logged_in": True, "email": "stranger@example.com"}
    at = checked(at.run())
    assert pages(at) == ["Log in"] and auth.USER_KEY not in at.session_state
    assert any("no active PromptVault account for 'stranger@example.com'" in e for e in errors(at))
    assert "login.sso.logout" in [b.key for b in at.button]


def test_sso_identity_with_an_unverified_email_gets_no_access(admin, monkeypatch):
    monkeypatch.setattr(auth, "sso_configured", lambda: True)
    at = page(APP)
    at.user = {"is_logged_in": True, "email": ADMIN, "email_verified": False}
    at = checked(at.run())
    assert pages(at) == ["Log in"] and auth.USER_KEY not in at.session_state
    assert any("has not verified the e-mail" in e for e in errors(at))


def test_sso_configured_shows_the_button_to_a_logged_out_visitor(admin, monkeypatch):
    monkeypatch.setattr(auth, "sso_configured", lambda: True)
    at = page(APP)
    at.user = {"is_logged_in": False}
    at = checked(at.run())
    assert "login.sso.login" in [b.key for b in at.button]
