"""Session-only keys: pasted for this browser session, sealed in memory, never written anywhere."""

from __future__ import annotations

import streamlit as st

from promptvault.errors import ValidationError
from promptvault.session_keys import SESSION_KEYRING, SessionKey
from ui import plain, session
from ui.components import fresh_form, key_form, key_table
from ui.errors import showing_errors

ITEMS_KEY = "pv.session_keys"  # list[SessionKey]: ciphertext under the process key, gone at log-out or restart


def stored() -> list[SessionKey]:
    """This session's session-only keys (sealed; the runner reveals one just for its call)."""
    return st.session_state.setdefault(ITEMS_KEY, [])


def show(key: str) -> None:
    """The session's keys with a Forget button each, and a form to paste another."""
    items = stored()
    for index, item in enumerate(items):
        text, forget = st.columns([5, 1], vertical_alignment="center")
        text.markdown(":material/timer: " + plain(" · ".join(filter(None, [item.provider, item.label, key_table.tail(item.last4)]))))
        if forget.button("Forget", key=f"{key}.forget.{index}", icon=":material/close:"):
            items.pop(index)
            st.rerun()
    added = _form(key=f"{key}.add")
    if added is not None:
        items.append(added)
        session.flash(f"Kept the {added.provider} key {key_table.tail(added.last4)} for this session only.")
        st.rerun()


def _form(key: str) -> SessionKey | None:
    """Paste a key for this session; it is sealed at once and the field cleared."""
    form = fresh_form.name(key)
    fresh_form.show_error(key)
    with st.form(form):
        left, middle, right = st.columns([1, 1, 2])
        provider = left.selectbox("Provider", key_form.PROVIDERS, key=f"{form}.provider", accept_new_options=True)
        label = middle.text_input("Label", key=f"{form}.label", placeholder="optional")
        api_base = right.text_input("API base URL (optional)", key=f"{form}.api_base")
        secret = st.text_input("API key", key=f"{form}.secret", type="password", autocomplete="off")
        submitted = st.form_submit_button("Keep for this session", key=f"{form}.submit", icon=":material/timer:")
    if not submitted:
        return None
    fresh_form.consume(key)
    with showing_errors() as outcome:
        if not (provider or "").strip():
            raise ValidationError("choose or type a provider")
        sealed = SESSION_KEYRING.put(provider, secret, label.strip(), api_base.strip() or None)
    if outcome.ok:
        return sealed
    fresh_form.retry(key, outcome.error)
    return None
