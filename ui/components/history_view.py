"""A branch's versions (refs, author, time, message) and every recorded move of the prompt's refs."""

from __future__ import annotations

import json

import streamlit as st

from promptvault import refs, versioning
from promptvault.context import Context
from ui import plain, utc_text
from ui.components import version_picker
from ui.errors import showing_errors



def show(ctx: Context, name: str, branch: str, options: dict[str, str], key: str) -> None:
    """Log of `branch`, a viewer for any version, and the ref move history."""
    with showing_errors():
        entries = versioning.log(ctx, name, branch)
        moves = refs.ref_history(ctx, name)
        st.markdown(f"**Versions on {plain(branch)}**")
        st.dataframe(
            [{"Version": f"v{e.number}", "Refs": ", ".join(e.refs), "Message": e.message, "Author": e.author,
              "When (UTC)": utc_text(e.created_at), "Parents": _parents(e.parent, e.merge_parent)} for e in entries],
            hide_index=True, key=f"{key}.log",
        )
        _version_viewer(ctx, name, options, key)
        st.markdown("**Ref moves**")
        st.dataframe(
            [{"Ref": m.ref, "Kind": m.kind, "From": f"v{m.from_version}" if m.from_version else "—",
              "To": f"v{m.to_version}", "Why": m.reason, "Who": m.actor, "When (UTC)": utc_text(m.at)} for m in moves],
            hide_index=True, key=f"{key}.moves",
        )


def _parents(parent: int | None, merge_parent: int | None) -> str:
    """'v2', 'v2 + v4' for a merge, '—' for the first version."""
    return " + ".join(f"v{p}" for p in (parent, merge_parent) if p) or "—"


def _version_viewer(ctx: Context, name: str, options: dict[str, str], key: str) -> None:
    """Show any one version's content and config as plain text."""
    with st.expander("View a version"):
        spec = version_picker.show("Version", options, key=f"{key}.view")
        version = versioning.show(ctx, name, spec)
        variables = ", ".join(version.variables) or "none"
        st.caption(plain(f"v{version.number} by {version.author} · {version.kind} · variables: {variables}"))
        if isinstance(version.content, str):
            st.code(version.content, language=None, wrap_lines=True)
        else:
            for message in version.content:
                st.code(f"[{message['role']}]\n{message['content']}", language=None, wrap_lines=True)
        st.code(json.dumps(version.config, indent=2, ensure_ascii=False), language="json")
