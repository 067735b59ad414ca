"""Pick a version of a prompt by ref (branch, label) or number."""

from __future__ import annotations

import streamlit as st

from promptvault.refs import RefInfo


def choices(refs: list[RefInfo], latest: int) -> dict[str, str]:
    """{spec: label} for every ref and every version number, refs first.

    Labels never change for a spec (a browser keeps the labels a keyed selectbox was first drawn with),
    so where a ref points is shown next to the picker, not in it.
    """
    ordered = sorted(refs, key=lambda ref: (ref.name != "main", ref.kind != "branch", ref.name))
    options = {ref.name: f"{ref.name} ({ref.kind})" for ref in ordered}
    options.update({f"v{number}": f"v{number}" for number in range(latest, 0, -1)})
    return options


def show(label: str, options: dict[str, str], key: str, default: str | None = None) -> str:
    """A selectbox over `options` (from `choices`); returns the chosen spec (e.g. `main`, `v3`)."""
    specs = list(options)
    if st.session_state.get(key) not in specs:
        st.session_state[key] = default if default in specs else specs[0]
    return st.selectbox(label, specs, key=key, format_func=options.__getitem__)
