"""Import test cases from an uploaded CSV/JSONL file or a pasted table into a new or existing dataset."""

from __future__ import annotations

import streamlit as st

from promptvault import dataset_io, datasets
from promptvault.context import Context
from promptvault.dataset_io import MAX_CASES, MAX_CELL_CHARS, MAX_COLUMNS, MAX_IMPORT_BYTES
from promptvault.datasets import DatasetInfo
from promptvault.errors import ValidationError
from ui.errors import showing_errors

NEW = "➕ New dataset"
UPLOAD, PASTE = "Upload a file", "Paste a table"
APPEND, REPLACE = "Append to its cases", "Replace its cases"
FILE_TYPES = ["csv", "tsv", "jsonl", "ndjson", "json"]
LIMITS = (f"Limits: {MAX_IMPORT_BYTES // (1024 * 1024)} MB per file, {MAX_CASES:,} cases per dataset, "
          f"{MAX_COLUMNS} variables per case, {MAX_CELL_CHARS:,} characters per cell.")
FORMAT_HELP = ("The first row names the variables; a column `expected` (or `expected_output`) holds the expected "
               "output and `tags` comma-separated tags. JSONL: one object per line, flat or "
               '`{"vars": {...}, "expected": "...", "tags": [...]}`. An import is all or nothing.')


def show(ctx: Context, names: list[str], key: str) -> DatasetInfo | None:
    """Pick the target and the source, import on click; the dataset once imported (the fields are then cleared)."""
    generation = st.session_state.setdefault(f"{key}.generation", 0)  # new, empty widgets after each success
    form = f"{key}.{generation}"
    left, right = st.columns(2)
    target = left.selectbox("Import into", [NEW, *names], key=f"{key}.target")
    if target == NEW:
        name = right.text_input("New dataset name", key=f"{form}.name", max_chars=100, placeholder="support-questions",
                                help="Letters, digits, '_', '.', '-'.").strip()
        replace = False
    else:
        name = target
        replace = right.radio("Existing cases", [APPEND, REPLACE], key=f"{form}.mode", horizontal=True) == REPLACE
    source = st.radio("Source", [UPLOAD, PASTE], key=f"{key}.source", horizontal=True)
    st.caption(FORMAT_HELP + " " + LIMITS)
    if source == UPLOAD:
        upload = st.file_uploader("CSV, tab-separated or JSONL file", type=FILE_TYPES, key=f"{form}.file",
                                  max_upload_size=MAX_IMPORT_BYTES // (1024 * 1024))
        payload = (upload.getvalue(), upload.name) if upload is not None else None
    else:
        text = st.text_area("Table", key=f"{form}.text", height=180,
                            placeholder="question\texpected\nWhere is my order?\tAsk for the order number",
                            help="Paste cells copied from a spreadsheet (tab-separated), or CSV or JSONL text.")
        payload = pasted(text) if text.strip() else None
    if not st.button("Import", key=f"{key}.submit", type="primary", icon=":material/upload:"):
        return None
    with showing_errors() as outcome:
        if payload is None:
            raise ValidationError("nothing to import: choose a file or paste a table first")
        info = datasets.import_cases(ctx, name, payload[0], payload[1], replace=replace)
    if not outcome.ok:
        return None
    st.session_state[f"{key}.generation"] = generation + 1
    return info


def summary(info: DatasetInfo) -> str:
    """What an import did, for the message after it."""
    plural = "s" if info.imported != 1 else ""
    return f"Imported {info.imported:,} case{plural} into {info.name} ({info.cases:,} in all)."


def pasted(text: str) -> tuple[bytes, str]:
    """Pasted text and a file name that says its format (tab-separated as copied from a spreadsheet, CSV or JSONL)."""
    return text.encode("utf-8"), f"pasted.{dataset_io.detect_format('', text)}"
