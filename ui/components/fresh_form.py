"""Forms that hold secrets: every submit draws a new form (new widget keys), so a typed password or key never
outlives the run that used it, neither on the page nor in st.session_state (Streamlit drops the state of a widget
that a run no longer draws)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from ui import plain


def name(key: str) -> str:
    """The current form's name: `key.<generation>`; its widgets' keys start with it."""
    return f"{key}.{st.session_state.setdefault(f'{key}.generation', 0)}"


def kept(key: str, field: str, default: Any = "") -> Any:
    """A value the last failed submit kept for the new form (never a secret)."""
    return st.session_state.get(f"{key}.kept", {}).get(field, default)


def show_error(key: str) -> None:
    """Show (once) the error of the last failed submit."""
    message = st.session_state.pop(f"{key}.error", None)
    if message:
        st.error(plain(message), icon=":material/error:")


def consume(key: str) -> None:
    """Call as soon as the form was submitted: whatever happens next, the next run draws a new, empty form."""
    st.session_state[f"{key}.generation"] = st.session_state.get(f"{key}.generation", 0) + 1
    st.session_state.pop(f"{key}.kept", None)


def retry(key: str, error: object, **keep: Any) -> None:
    """After a failed submit: rerun with the error above the new form, which keeps the non-secret fields."""
    st.session_state[f"{key}.error"] = str(error)
    st.session_state[f"{key}.kept"] = keep
    st.rerun()
