"""A diff of two versions, side by side or inline, drawn from the diffing module's escaped HTML."""

from __future__ import annotations

import streamlit as st

from promptvault.diff_render import render_inline_html, render_side_by_side_html
from promptvault.diffing import VersionDiff

LAYOUTS = {"Side by side": render_side_by_side_html, "Inline": render_inline_html}


def show(diff: VersionDiff, key: str) -> str:
    """Render a diff with a layout switch; returns the chosen layout."""
    left, right = st.columns([1, 1], vertical_alignment="center")
    layout = left.radio("Layout", list(LAYOUTS), key=f"{key}.layout", horizontal=True, label_visibility="collapsed")
    if diff.has_changes:
        stats = diff.stats
        config = f" · {len(diff.config)} config change{'s' if len(diff.config) != 1 else ''}" if diff.config else ""
        right.caption(f"+{stats.chars_inserted:,} / −{stats.chars_deleted:,} characters{config}")
    st.html(LAYOUTS[layout](diff))  # every user-written character is escaped by render_*_html
    return layout
