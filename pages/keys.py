"""Keys: the team's provider keys (never shown after saving), personal keys, and keys for this session only."""

import streamlit as st

from promptvault import vault
from promptvault.authz import can
from ui import plain, session
from ui.components import key_actions, key_form, key_table, session_keys_panel
from ui.errors import showing_errors

st.title("Keys")
session.show_flash()
ctx = session.context()
team = session.team(ctx)
is_admin = can(team.role, "key.manage")
st.caption(plain(f"Provider API keys of team {team.name}. Keys are encrypted at rest and write-only: after saving, "
                 "only their last four characters are ever shown."))

keys = []
with showing_errors():
    keys = vault.list_keys(ctx, team.id)
stale = [k for k in keys if k.needs_rotation]
if stale:
    st.warning(f"**{len(stale)} key{'s are' if len(stale) > 1 else ' is'} older than {vault.KEY_MAX_AGE_DAYS} days.** "
               "Rotate: create a new key at the provider, paste it under **Replace (rotate)** below, then revoke the "
               "old one at the provider.", icon=":material/autorenew:")
if keys:
    key_table.show(keys, vault.KEY_MAX_AGE_DAYS, key="keys.table")
else:
    st.info("No keys yet. Add one below, or paste a key for this session only.", icon=":material/key:")

manageable = [k for k in keys if k.owner or is_admin]  # listed personal keys are the user's own
if manageable:
    with st.expander("Replace (rotate) or delete a key", expanded=bool(stale), icon=":material/manage_accounts:"):
        key_actions.show(ctx, manageable, key="keys.manage")

with st.expander("Add a key", expanded=not keys, icon=":material/add:"):
    saved = key_form.show(ctx, team.id, may_share=is_admin, key="keys.add")
    if saved is not None:
        tail = key_table.tail(saved.last4)
        session.flash(f"Saved the {saved.provider} key {tail}. It is encrypted and will not be shown again.")
        st.rerun()

with st.expander("Session only", icon=":material/timer:"):
    st.caption("A key pasted here stays in this server's memory for your session only: it is never written to "
               "disk and is forgotten when you log out or the server restarts.")
    session_keys_panel.show(key="keys.session")
