"""Download buttons for an analytics view, or for the raw history rows under the filters, as CSV or Parquet."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import streamlit as st

from promptvault import analytics
from promptvault.analytics import Filters
from promptvault.context import Context

FORMATS = {"csv": ("CSV", "text/csv"), "parquet": ("Parquet", "application/vnd.apache.parquet")}
RAW_LIMIT = 100_000  # rows in one download from the page; `promptvault export` streams any number to a file


def buttons(frame: pl.DataFrame, name: str, key: str) -> None:
    """One button per format; the file is built when clicked, so drawing the page serializes nothing."""
    _buttons(lambda fmt: lambda: analytics.export_frame(frame, fmt), name, key)


def raw(ctx: Context, root: Path, filters: Filters, key: str) -> None:
    """The history rows under the filters, newest first, up to RAW_LIMIT of them."""
    st.caption(f"Every history row under these filters, newest first: up to {RAW_LIMIT:,} rows. In the CSV a cell "
               "that starts like a formula (=, +, - or @) gets a leading ' so spreadsheets do not run it.")
    _buttons(lambda fmt: lambda: analytics.export_frame(analytics.raw_rows(ctx, root, filters, RAW_LIMIT), fmt),
             "raw-rows", key)


def _buttons(builder, name: str, key: str) -> None:
    """A CSV and a Parquet button, each running `builder(fmt)()` on click."""
    for column, (fmt, (title, mime)) in zip(st.columns([1, 1, 3]), FORMATS.items()):
        column.download_button(f"Download {title}", builder(fmt), file_name=f"analytics-{name}.{fmt}",
                               mime=mime, key=f"{key}.{fmt}", icon=":material/download:", on_click="ignore")
