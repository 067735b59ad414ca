"""Printing for the CLI: JSON for scripts, aligned tables for people."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from typing import Any

import click


def to_jsonable(value: Any) -> Any:
    """Dataclasses, datetimes and containers as plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value


def echo_json(value: Any) -> None:
    """Print a value as indented JSON."""
    click.echo(json.dumps(to_jsonable(value), indent=2, ensure_ascii=False))


def echo_table(headers: list[str], rows: list[list[Any]]) -> None:
    """Print rows as a left-aligned table (or a note when empty)."""
    if not rows:
        click.echo("(none)")
        return
    cells = [[str(c) for c in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for index, row in enumerate(cells):
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
        if index == 0:
            click.echo("  ".join("-" * width for width in widths))


def short_time(value: datetime) -> str:
    """A timestamp to the minute, in UTC."""
    return value.strftime("%Y-%m-%d %H:%M")


def conflict_lines(conflicts: list) -> list[str]:
    """Readable lines for merge conflicts: the field, then base, ours and theirs."""
    lines = []
    for conflict in conflicts:
        data = to_jsonable(conflict)
        data = data if isinstance(data, dict) else {"conflict": data}
        lines.append(f"conflict in {data.get('field', '?')}:")
        for side in ("base", "ours", "theirs"):
            if side in data:
                lines.append(f"  {side}: {json.dumps(data[side], ensure_ascii=False)[:500]}")
    return lines
