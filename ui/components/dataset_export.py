"""Download a dataset as CSV or JSON lines."""

from __future__ import annotations

import streamlit as st

from promptvault import datasets
from promptvault.context import Context

FORMATS = {"csv": "text/csv", "jsonl": "application/jsonl"}


def show(ctx: Context, name: str, key: str) -> None:
    """A download button per format; the file is built when clicked, so a large dataset costs nothing on each run."""
    columns = st.columns(len(FORMATS) + 2)
    for column, (fmt, mime) in zip(columns, FORMATS.items()):
        column.download_button(
            f"Download {fmt.upper()}", _exporter(ctx, name, fmt), file_name=f"{name}.{fmt}", mime=mime,
            key=f"{key}.{fmt}", icon=":material/download:", on_click="ignore",
        )
    st.caption("In the CSV every cell is quoted, and one starting with =, +, - or @ gets a leading ' so that "
               "spreadsheets do not run it as a formula.")


def _exporter(ctx: Context, name: str, fmt: str):
    """The deferred export Streamlit calls on a click."""
    return lambda: datasets.export_cases(ctx, name, fmt)
