"""The editor's Branches & labels tab: the refs, and forms to branch, merge, label and revert."""

from __future__ import annotations

import streamlit as st

from promptvault import authz
from promptvault.context import Context
from promptvault.refs import RefInfo
from ui import session, utc_text
from ui.components import ref_forms


def show(ctx: Context, name: str, refs: list[RefInfo], options: dict[str, str], key: str) -> None:
    """The ref table, the branch, label and revert forms side by side, then the merge (wide, for conflicts)."""
    st.dataframe(
        [{"Ref": r.name, "Kind": r.kind, "Version": f"v{r.version}", "Protected": "yes" if r.protected else "",
          "Updated (UTC)": utc_text(r.updated_at)} for r in refs],
        hide_index=True, key=f"{key}.table",
    )
    heads = {r.name: r.version for r in sorted(refs, key=lambda r: (r.name != "main", r.name)) if r.kind == "branch"}
    branch_col, label_col, revert_col = st.columns(3)
    with branch_col:
        ref_forms.create_branch(ctx, name, options, key=f"{key}.new_branch")
    with label_col:
        ref_forms.set_label(ctx, name, refs, options, key=f"{key}.label")
    with revert_col:
        ref_forms.revert(ctx, name, list(heads), heads, options, key=f"{key}.revert")
    ref_forms.merge(ctx, name, list(heads), key=f"{key}.merge")
    if authz.can(session.team(ctx).role, "label.protect"):
        ref_forms.protect_label(ctx, name, refs, key=f"{key}.protect")
