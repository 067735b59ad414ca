"""Inputs for a template's variables."""

from __future__ import annotations

import streamlit as st

from ui import plain


def show(variables: list[str], key: str) -> dict[str, str]:
    """One input per variable; returns the filled ones (an empty input counts as not given)."""
    values = {}
    for name in variables:
        values[name] = st.text_area(plain(name), key=f"{key}.{name}", height=68, placeholder=f"value of {name}")
    return {name: value for name, value in values.items() if value != ""}
