"""CSV for exports: RFC 4180 quoting of every field, and formula cells defanged for spreadsheets."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def defang(value: object) -> str:
    """A cell as text; one a spreadsheet would run as a formula gets a leading apostrophe."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def to_csv(headers: list[str], rows: Iterable[Iterable[object]]) -> str:
    """Rows as CSV text with every field quoted and every cell defanged."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow([defang(h) for h in headers])
    writer.writerows([defang(cell) for cell in row] for row in rows)
    return buffer.getvalue()
