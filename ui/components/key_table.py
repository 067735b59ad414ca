"""The Keys page's table: what a stored key is, never the key (at most its last four characters)."""

from __future__ import annotations

import streamlit as st

from promptvault.vault import KeyInfo
from ui import utc_text


def tail(last4: str) -> str:
    """How a key's visible tail is shown: `…abcd`, or a mask for a key too short to show any of it."""
    return f"…{last4}" if last4 else "••••"


def label_of(key: KeyInfo) -> str:
    """A one-line name for a key in pickers: provider, label and tail."""
    scope = "personal" if key.owner else "shared"
    return " · ".join(filter(None, [key.provider, key.label, tail(key.last4), scope]))


def show(keys: list[KeyInfo], max_age_days: int, key: str) -> None:
    """Provider, label, tail, shared or personal, who added it, age (flagged past the max age) and last use."""
    rows = [
        {
            "Provider": k.provider, "Label": k.label, "Key": tail(k.last4),
            "Scope": "Personal (only you)" if k.owner else "Shared with the team",
            "API base": k.api_base or "", "Added by": k.created_by,
            "Age": f"{k.age_days} d" + ("  ⚠ rotate" if k.needs_rotation else ""),
            "Last used (UTC)": utc_text(k.last_used_at) if k.last_used_at else "never",
        }
        for k in keys
    ]
    st.dataframe(
        rows, key=key, hide_index=True, width="stretch",
        column_config={"Age": st.column_config.TextColumn(help=f"Days since added or last replaced; over {max_age_days} d: rotate it")},
    )
