"""Plain helpers for the page tests: open a page as a user through Streamlit's AppTest, then read what it shows."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from promptvault.context import Actor, Context
from ui import auth

ROOT = Path(__file__).resolve().parent.parent
APP = "app.py"  # the shell, where st.navigation, st.page_link and st.switch_page know every page
RUN_TIMEOUT = 30
ADMIN, EDITOR, PASSWORD = "admin@example.com", "ed@example.com", "correct horse battery staple"


def page(path: str) -> AppTest:
    """A page (or the shell, APP) by its path in the repository, not run yet."""
    return AppTest.from_file(str(ROOT / path), default_timeout=RUN_TIMEOUT)


def open_page(path: str, who: Actor | Context | None = None, **query: str) -> AppTest:
    """Run a page once as a browser opens it: logged in as `who` (None: nobody), with these query parameters."""
    at = page(path)
    if who is not None:
        log_in(at, who)
    for name, value in query.items():
        at.query_params[name] = value
    return checked(at.run())


def log_in(at: AppTest, who: Actor | Context) -> AppTest:
    """Log the session in as the actor (or the context's actor), as the login page would."""
    actor = who.actor if isinstance(who, Context) else who
    at.session_state[auth.USER_KEY] = {"id": actor.user_id, "email": actor.email}
    return at


def checked(at: AppTest) -> AppTest:
    """Fail on any uncaught exception in the last run."""
    assert not at.exception, at.exception
    return at


def errors(at: AppTest) -> list[str]:
    """Error messages shown, with the markdown escapes removed."""
    return [e.value.replace("\\", "") for e in at.error]


def texts(at: AppTest) -> str:
    """Every message, markdown and caption on the page, markdown escapes removed."""
    shown = [*at.markdown, *at.caption, *at.success, *at.error, *at.warning, *at.info]
    return "\n".join(e.value.replace("\\", "") for e in shown)


def pages(at: AppTest) -> list[str]:
    """The menu's page titles: what the shell registered with st.navigation (AppTest keeps it privately)."""
    return [info.get("page_name") or "" for info in at._registered_pages.values()]
