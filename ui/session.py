"""The one place the UI builds long-lived things: the workspace (engine) once per process, the acting user."""

from __future__ import annotations

import streamlit as st

from promptvault.config import load_settings
from promptvault.context import Context
from promptvault.workspace import Workspace, open_workspace
from ui import plain

_FLASH_KEY = "pv.flash"


def workspace() -> Workspace:
    """The installation named by the environment, opened once per process (shared by every session)."""
    settings = load_settings()
    return _open(str(settings.data_dir), settings.database_url, settings)


@st.cache_resource(show_spinner=False, on_release=lambda ws: ws.db.dispose())
def _open(data_dir: str, database_url: str, _settings) -> Workspace:
    """Open a workspace; keyed on where it lives so a changed environment opens a new one (never on secrets)."""
    return open_workspace(_settings)


def context() -> Context:
    """The acting user's context; until accounts land, the local default user acts."""
    return workspace().local_context()


def flash(message: str) -> None:
    """Keep a success message to show after the next rerun."""
    st.session_state[_FLASH_KEY] = message


def show_flash() -> None:
    """Show (once) the message a previous run kept with `flash`, in a slot that is always there."""
    slot = st.empty()  # so the message coming and going never shifts the elements below it
    message = st.session_state.pop(_FLASH_KEY, None)
    if message:
        slot.success(plain(message), icon=":material/check_circle:")
