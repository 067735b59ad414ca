"""The library's table of prompts."""

from __future__ import annotations

import streamlit as st

from promptvault.library import PromptInfo
from ui import utc_text


def refs_text(refs: dict[str, int]) -> str:
    """Refs as `main→v3, production→v2` (main first)."""
    names = sorted(refs, key=lambda name: (name != "main", name))
    return ", ".join(f"{name}→v{refs[name]}" for name in names)


def show(prompts: list[PromptInfo], key: str) -> None:
    """Name, description, tags, versions, refs and last update of each prompt (plain cells, nothing rendered)."""
    rows = [
        {"Name": p.name + (" (archived)" if p.archived else ""), "Description": p.description, "Tags": p.tags,
         "Versions": p.versions, "Refs": refs_text(p.refs), "Updated (UTC)": utc_text(p.updated_at)}
        for p in prompts
    ]
    st.dataframe(
        rows, key=key, hide_index=True, width="stretch",
        column_config={
            "Tags": st.column_config.ListColumn(),
            "Versions": st.column_config.NumberColumn(width="small"),
        },
    )
