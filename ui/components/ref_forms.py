"""Forms that move refs: create a branch, merge branches, set a label, revert a branch to a version."""

from __future__ import annotations

import streamlit as st

from promptvault import refs, versioning
from promptvault.context import Context
from promptvault.errors import MergeConflictError
from promptvault.refs import RefInfo
from ui import plain, session
from ui.components import merge_resolver, version_picker
from ui.errors import showing_errors


def _done(message: str) -> None:
    """Keep the success message and reload the page so every panel shows the new refs."""
    session.flash(message)
    st.rerun()


def create_branch(ctx: Context, name: str, options: dict[str, str], key: str) -> None:
    """Start a new branch at any version."""
    with st.form(key):
        st.markdown("**New branch**")
        branch = st.text_input("Branch name", key=f"{key}.name", placeholder="e.g. experiment/shorter")
        start = version_picker.show("Start from", options, key=f"{key}.from", default="main")
        submitted = st.form_submit_button("Create branch", key=f"{key}.submit")
    if submitted:
        with showing_errors() as outcome:
            created = refs.create_branch(ctx, name, branch.strip(), start)
        if outcome.ok:
            _done(f"Created branch {created.name} at v{created.version}.")


def merge(ctx: Context, name: str, branches: list[str], key: str) -> None:
    """Three-way merge one branch into another; conflicts are listed side by side, nothing is dropped."""
    if len(branches) < 2:
        with st.container(border=True):
            st.markdown("**Merge**")
            st.caption("Only one branch so far: create a branch, commit on it, then merge it back here.")
        return
    into_default = branches.index("main") if "main" in branches else 0
    with st.form(key):
        st.markdown("**Merge**")
        left, right = st.columns(2)
        source = left.selectbox("Merge branch", branches, key=f"{key}.source", index=1 if into_default == 0 else 0)
        into = right.selectbox("Into", branches, key=f"{key}.into", index=into_default)
        message = st.text_input("Message", key=f"{key}.message", placeholder="Merge branch … into …")
        submitted = st.form_submit_button("Merge", key=f"{key}.submit")
    if submitted:
        with showing_errors() as outcome:
            merged = versioning.merge(ctx, name, source, into, message)
        if outcome.ok:
            _done(f"Merged {source} into {into} as v{merged.number}.")
        elif isinstance(outcome.error, MergeConflictError):
            merge_resolver.start(f"{key}.resolve", source, into)
    merge_resolver.show(ctx, name, key=f"{key}.resolve")


def set_label(ctx: Context, name: str, existing: list[RefInfo], options: dict[str, str], key: str) -> None:
    """Create a label or move it to a version (every move is recorded)."""
    labels = [r.name for r in existing if r.kind == "label"]
    with st.form(key):
        st.markdown("**Label**")
        label = st.text_input("Label", key=f"{key}.name", value=labels[0] if labels else "production",
                              help=plain("Existing labels: " + (", ".join(labels) or "none yet")))
        target = version_picker.show("Point at", options, key=f"{key}.to")
        submitted = st.form_submit_button("Set label", key=f"{key}.submit")
    if submitted:
        with showing_errors() as outcome:
            moved = refs.set_label(ctx, name, label.strip(), target)
        if outcome.ok:
            _done(f"Label {moved.name} now points at v{moved.version}.")


def revert(ctx: Context, name: str, branches: list[str], heads: dict[str, int], options: dict[str, str], key: str) -> None:
    """Commit an older version again on top of a branch."""
    seen = st.session_state.get(f"{key}.heads", heads)  # heads as shown when the form was last drawn
    st.session_state[f"{key}.heads"] = heads
    with st.form(key):
        st.markdown("**Revert**")
        left, right = st.columns(2)
        branch = left.selectbox("Branch", branches, key=f"{key}.branch", index=branches.index("main") if "main" in branches else 0)
        with right:
            target = version_picker.show("Back to", options, key=f"{key}.to", default=_previous(options))
        message = st.text_input("Message", key=f"{key}.message", placeholder="Revert to vN")
        submitted = st.form_submit_button("Revert", key=f"{key}.submit")
    if submitted:
        with showing_errors() as outcome:
            version = versioning.revert(ctx, name, target, message, branch=branch, expected_head=seen.get(branch))
        if outcome.ok:
            _done(f"Reverted {branch} to {target}: new version v{version.number}.")


def _previous(options: dict[str, str]) -> str | None:
    """The second-newest version number among the options (refs never look like `v3`)."""
    numbers = [spec for spec in options if spec[:1] == "v" and spec[1:].isdigit()]
    return numbers[1] if len(numbers) > 1 else None


def protect_label(ctx: Context, name: str, existing: list[RefInfo], key: str) -> None:
    """Protect a label so that only admins move it, or lift the protection (shown to admins only)."""
    labels = [r for r in existing if r.kind == "label"]
    if not labels:
        return
    with st.form(key):
        st.markdown("**Protection**")
        label = st.selectbox("Label", [r.name for r in labels], key=f"{key}.name")
        protected = next(r.protected for r in labels if r.name == label)
        st.caption("Protected labels move only by an admin; every move is in the audit log.")
        submitted = st.form_submit_button("Lift protection" if protected else "Protect", key=f"{key}.submit")
    if submitted:
        with showing_errors() as outcome:
            refs.protect_label(ctx, name, label, protected=not protected)
        if outcome.ok:
            _done(f"Label {label} is now {'unprotected' if protected else 'protected'}.")
