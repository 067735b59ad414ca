"""PromptVault web app: the page shell. Run it with `promptvault serve` (or `streamlit run app.py`).

What the menu offers follows who is here: the first-run setup, the login, or the pages the user's role in the
chosen team can use. The menu only hides what the core refuses anyway; every service checks the role itself.
"""

import streamlit as st

from promptvault.authz import can
from ui import auth, session
from ui.components import sidebar

# An emoji favicon is drawn in the browser; a ":material/...:" one would be fetched from fonts.gstatic.com.
st.set_page_config(page_title="PromptVault", page_icon="🗂️", layout="wide")
session.executor()  # created once per process on the first script run: runs a restart interrupted resume now


def page(name: str, title: str, icon: str, default: bool = False) -> st.Page:
    """A page script of pages/ (the default page is served at the root URL)."""
    return st.Page(f"pages/{name}.py", title=title, icon=f":material/{icon}:", default=default)


if session.needs_setup():
    pages = [page("setup", "Set up PromptVault", "rocket_launch", default=True)]
elif (actor := auth.current()) is None:
    pages = [page("login", "Log in", "login", default=True)]
else:
    role = getattr(sidebar.show(actor, key="pv.sidebar"), "role", None)
    pages = []
    if can(role, "prompt.read"):
        pages += [page("library", "Library", "library_books", default=True), page("editor", "Editor", "edit_note"),
                  page("playground", "Playground", "science"), page("compare", "Compare", "compare"),
                  page("datasets", "Datasets", "dataset"), page("analytics", "Analytics", "monitoring")]
    if can(role, "key.read"):
        pages.append(page("keys", "Keys", "key"))
    pages.append(page("team", "Team", "group", default=not pages))  # a user in no team can still create one
    if can(role, "audit.read"):
        pages.append(page("audit", "Audit", "policy"))

st.navigation(pages, position="sidebar" if len(pages) > 1 else "hidden").run()
