"""Change, add and delete one test case of a dataset through the core (which checks the role again)."""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from promptvault import datasets
from promptvault.context import Context
from promptvault.datasets import Case
from promptvault.errors import ValidationError
from ui import plain
from ui.components.dataset_table import cell_text
from ui.errors import showing_errors

LONG = 80  # a value longer than this (or on several lines) gets a text area


def edit(ctx: Context, name: str, cases: list[Case], revision: str, key: str) -> str | None:
    """Pick a case, change its variables, expected output and tags, or delete it; what was done, once done.

    The fields are keyed on the dataset's revision, so after any change (here or elsewhere) they show what is stored.
    """
    if not 1 <= st.session_state.get(f"{key}.position", 1) <= len(cases):  # e.g. the last case was deleted
        st.session_state[f"{key}.position"] = len(cases)
    position = int(st.number_input(f"Case (1–{len(cases):,})", 1, len(cases), step=1, key=f"{key}.position"))
    case = cases[position - 1]
    form = f"{key}.{revision}.{position}"
    with st.form(form):
        typed = {var: _field(var, value, f"{form}.var.{var}") for var, value in case.variables.items()}
        expected = st.text_area("Expected output", case.expected or "", key=f"{form}.expected", height=100)
        tags = st.text_input("Tags", ", ".join(case.tags), key=f"{form}.tags", help="Comma-separated.")
        saved = st.form_submit_button(f"Save case {position}", type="primary", key=f"{form}.save", icon=":material/save:")
    deleted = st.button(f"Delete case {position}", key=f"{form}.delete", icon=":material/delete:",
                        help="The cases after it move up one number.")
    with showing_errors() as outcome:
        if saved:
            variables = {var: _parsed(var, text, case.variables[var]) for var, text in typed.items()}
            datasets.update_case(ctx, name, position, variables=variables, expected=expected or None, tags=split_tags(tags))
        elif deleted:
            datasets.delete_case(ctx, name, position)
    if not outcome.ok or not (saved or deleted):
        return None
    return f"Saved case {position} of {name}." if saved else f"Deleted case {position} of {name}."


def add(ctx: Context, name: str, variables: list[str], key: str) -> str | None:
    """A new case with a field for each of the dataset's variables (and one more, optional); what was done, once done."""
    with st.form(key, clear_on_submit=False):
        values = {var: st.text_input(plain(var), key=f"{key}.var.{var}") for var in variables}
        left, right = st.columns(2)
        extra = left.text_input("Another variable (optional)", key=f"{key}.extra_name", placeholder="name")
        extra_value = right.text_input("Its value", key=f"{key}.extra_value")
        expected = st.text_area("Expected output", key=f"{key}.expected", height=100)
        tags = st.text_input("Tags", key=f"{key}.tags", help="Comma-separated.")
        added = st.form_submit_button("Add case", key=f"{key}.submit", icon=":material/add:")
    if not added:
        return None
    if extra.strip():
        values[extra.strip()] = extra_value
    with showing_errors() as outcome:
        case = datasets.add_case(ctx, name, values, expected or None, split_tags(tags))
    return f"Added case {case.position} to {name}." if outcome.ok else None


def split_tags(text: str) -> list[str]:
    """Tags typed as comma-separated text."""
    return [tag.strip() for tag in text.split(",") if tag.strip()]


def _field(var: str, value: Any, key: str) -> str:
    """An input for one variable: non-text values (numbers, lists) are edited as JSON."""
    text = cell_text(value)
    label = plain(var) if isinstance(value, str) else f"{plain(var)} (JSON)"
    if len(text) > LONG or "\n" in text:
        return st.text_area(label, text, key=key, height=100)
    return st.text_input(label, text, key=key)


def _parsed(var: str, text: str, before: Any) -> Any:
    """A typed value back: text stays text; a variable that held JSON must still be valid JSON."""
    if isinstance(before, str):
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"variable '{var}' holds JSON ({cell_text(before)}); '{text}' is not JSON: {exc.msg}") from None
