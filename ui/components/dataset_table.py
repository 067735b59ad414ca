"""The Datasets page's tables: the project's datasets, and one dataset's cases (plain cells, nothing rendered)."""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from promptvault.datasets import Case, DatasetInfo
from ui import utc_text


def variables_of(cases: list[Case]) -> list[str]:
    """Every variable name the cases use, in first-seen order (the columns of an export)."""
    return list(dict.fromkeys(name for case in cases for name in case.variables))


def cell_text(value: Any) -> str:
    """A variable's value as a cell: text as is, anything else (numbers, lists) as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def show(datasets: list[DatasetInfo], key: str) -> None:
    """Name, case count, variables, description, creator and last update of each dataset."""
    rows = [
        {"Name": d.name, "Cases": d.cases, "Variables": d.variables, "Description": d.description,
         "Created by": d.created_by, "Updated (UTC)": utc_text(d.updated_at)}
        for d in datasets
    ]
    st.dataframe(
        rows, key=key, hide_index=True, width="stretch",
        column_config={"Variables": st.column_config.ListColumn(), "Cases": st.column_config.NumberColumn(width="small")},
    )


def show_cases(cases: list[Case], key: str) -> None:
    """One row per case: its number, each variable as `{{ name }}` (never clashing with the fixed columns), expected, tags."""
    if not cases:
        st.caption("This dataset has no cases yet: add one below, or import some.")
        return
    names = variables_of(cases)
    rows = [
        {"#": c.position, **{_header(n): cell_text(c.variables[n]) if n in c.variables else None for n in names},
         "Expected": c.expected, "Tags": c.tags}
        for c in cases
    ]
    st.dataframe(
        rows, key=key, hide_index=True, width="stretch",
        column_config={"#": st.column_config.NumberColumn(width="small"), "Tags": st.column_config.ListColumn()},
    )


def _header(name: str) -> str:
    """A variable's column header, written as the template uses it."""
    return f"{{{{ {name} }}}}"
