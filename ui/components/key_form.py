"""The "Add a key" form: provider, label, optional API base, the key in a password field, shared or personal."""

from __future__ import annotations

import streamlit as st

from promptvault import vault
from promptvault.context import Context
from promptvault.vault import KeyInfo
from ui.components import fresh_form
from ui.errors import showing_errors

PROVIDERS = ["openai", "anthropic", "openrouter", "gemini", "mistral", "groq", "azure", "ollama", "custom"]
SHARED, PERSONAL = "Shared with the team", "Personal (only you)"


def show(ctx: Context, team_id: int, may_share: bool, key: str) -> KeyInfo | None:
    """Seal and store a key; the saved key's info (never the key) once stored. The key field is always cleared."""
    form = fresh_form.name(key)
    fresh_form.show_error(key)
    scopes = [SHARED, PERSONAL] if may_share else [PERSONAL]
    typed = fresh_form.kept(key, "provider", PROVIDERS[0])
    providers = PROVIDERS if typed in PROVIDERS else [typed, *PROVIDERS]  # a provider typed before stays chosen
    with st.form(form):
        left, right = st.columns(2)
        provider = left.selectbox(
            "Provider", providers, key=f"{form}.provider", accept_new_options=True, index=_index(providers, typed),
            help="Any litellm provider name (type another one), or `custom` for an OpenAI-compatible server.",
        )
        label = right.text_input("Label", key=f"{form}.label", value=fresh_form.kept(key, "label"), placeholder="e.g. production")
        api_base = st.text_input("API base URL (optional)", key=f"{form}.api_base", value=fresh_form.kept(key, "api_base"),
                                 placeholder="https://gateway.example.com/v1", help="Needed for `custom`; the provider's default otherwise.")
        secret = st.text_input("API key", key=f"{form}.secret", type="password", autocomplete="off",
                               help="Encrypted when saved; afterwards only its last four characters are ever shown.")
        scope = st.radio("Who may use it", scopes, key=f"{form}.scope", horizontal=True,
                         index=_index(scopes, fresh_form.kept(key, "scope", scopes[0])))
        if not may_share:
            st.caption("Only admins and owners add keys shared with the team.")
        submitted = st.form_submit_button("Save key", type="primary", key=f"{form}.submit", icon=":material/lock:")
    if not submitted:
        return None
    fresh_form.consume(key)
    with showing_errors() as outcome:
        info = vault.add_key(ctx, team_id, provider or "", secret, label.strip(), api_base.strip() or None, personal=scope == PERSONAL)
    if outcome.ok:
        return info
    fresh_form.retry(key, outcome.error, provider=provider, label=label, api_base=api_base, scope=scope)
    return None


def _index(options: list[str], value: str) -> int:
    """The position of a kept value among the options (the first when it is not one of them)."""
    return options.index(value) if value in options else 0
