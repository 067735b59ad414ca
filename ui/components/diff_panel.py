"""The editor's Diff tab: pick any two versions or refs, A and B, and see what changed."""

from __future__ import annotations

import streamlit as st

from promptvault import versioning
from promptvault.context import Context
from promptvault.versioning import VersionInfo
from ui.components import diff_view, version_picker
from ui.errors import showing_errors


def show(ctx: Context, name: str, branch: str, head: VersionInfo | None, options: dict[str, str], key: str) -> None:
    """A and B pickers (default: the head's parent against the head) and the diff between them."""
    picks = f"{key}.{name}.{branch}.{head.number if head else 0}"  # a new head starts a fresh comparison
    left, right = st.columns(2)
    with left:
        spec_a = version_picker.show("A (old)", options, key=f"{picks}.a",
                                     default=f"v{head.parent}" if head and head.parent else None)
    with right:
        spec_b = version_picker.show("B (new)", options, key=f"{picks}.b", default=branch)
    with showing_errors():
        diff_view.show(versioning.diff(ctx, name, spec_a, spec_b), key=key)
