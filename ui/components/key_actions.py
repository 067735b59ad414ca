"""Replace (rotate) or delete a key: offered only for keys the user may manage."""

from __future__ import annotations

import streamlit as st

from promptvault import vault
from promptvault.context import Context
from promptvault.vault import KeyInfo
from ui import plain, session
from ui.components import fresh_form, key_table
from ui.errors import showing_errors


def show(ctx: Context, keys: list[KeyInfo], key: str) -> None:
    """Pick a key (one that is due for rotation first), then replace its secret or destroy it."""
    labels = {k.id: key_table.label_of(k) for k in keys}
    due = [k.id for k in keys if k.needs_rotation]
    ids = due + [k.id for k in keys if k.id not in due]
    chosen = st.selectbox("Key", ids, key=f"{key}.pick", format_func=lambda key_id: labels.get(key_id, "?"))
    left, right = st.columns(2)
    with left:
        _replace(ctx, chosen, labels[chosen], key=f"{key}.replace")
    with right:
        _delete(ctx, chosen, labels[chosen], key=f"{key}.delete")


def _replace(ctx: Context, key_id: int, label: str, key: str) -> None:
    """Rotate by replacement: paste the new secret; the old ciphertext is destroyed and the change audited."""
    form = fresh_form.name(key)
    fresh_form.show_error(key)
    with st.form(form):
        st.markdown("**Replace (rotate)**")
        secret = st.text_input("New API key", key=f"{form}.secret", type="password", autocomplete="off")
        submitted = st.form_submit_button("Replace key", key=f"{form}.submit", icon=":material/autorenew:")
    if not submitted:
        return
    fresh_form.consume(key)
    with showing_errors() as outcome:
        info = vault.replace_key(ctx, key_id, secret)
    if not outcome.ok:
        fresh_form.retry(key, outcome.error)  # reruns
    session.flash(f"Replaced {label}: the new key ends in …{info.last4}." if info.last4 else f"Replaced {label}.")
    st.rerun()


def _delete(ctx: Context, key_id: int, label: str, key: str) -> None:
    """Destroy a key after an explicit confirmation."""
    with st.form(key):
        st.markdown("**Delete**")
        sure = st.checkbox("Yes, destroy this key", key=f"{key}.sure", help=plain(label))
        submitted = st.form_submit_button("Delete key", key=f"{key}.submit", icon=":material/delete:")
    if not submitted:
        return
    if not sure:
        st.warning("Tick “Yes, destroy this key” first.", icon=":material/warning:")
        return
    with showing_errors() as outcome:
        vault.delete_key(ctx, key_id)
    if outcome.ok:
        session.flash(f"Deleted {label}.")
        st.rerun()
