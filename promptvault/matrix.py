"""One run as a comparison matrix: test cases × (version × model) columns, per-column summaries, exports, cell diffs."""

from __future__ import annotations

import io
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import select

from promptvault import gcpause, runs
from promptvault.context import Context
from promptvault.csv_export import to_csv
from promptvault.diff_render import render_inline_html, render_side_by_side_html
from promptvault.diffing import VersionDiff, diff_versions
from promptvault.errors import NotFoundError, ValidationError
from promptvault.history import JUDGE_PREFIX, PLAYGROUND_PREFIX, HistoryReader
from promptvault.providers import OFFLINE_MODEL, is_offline
from promptvault.run_spec import ModelSpec
from promptvault.store.tables import Version

NOT_A_REAL_MODEL = " (not a real model)"
SUMMARY_CASE = "summary"
_READ = ["cell_key", "output", "error", "error_kind", "attempts", "latency_ms", "input_tokens", "output_tokens",
         "cost_usd", "cache_hit"]  # only what a cell shows: outputs can be large, rendered inputs larger
_METRICS: dict[str, pl.DataType] = {"latency_ms": pl.Float64(), "input_tokens": pl.Int64(),
                                    "output_tokens": pl.Int64(), "cost_usd": pl.Float64()}
CellIndex = tuple[int, int, str]  # (case position, repeat, column key)


@dataclass(frozen=True)
class Column:
    """One version × model of a run, as a matrix column."""

    key: str
    version_id: int
    version_number: int | None
    version_ref: str | None
    model: str
    label: str
    offline: bool


@dataclass(frozen=True)
class Cell:
    """One call's result as the matrix shows it."""

    output: str | None
    error: str | None
    error_kind: str | None
    latency_ms: float | None
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None
    attempts: int | None
    cache_hit: bool | None

    @property
    def failed(self) -> bool:
        """Whether the call ended in an error."""
        return self.error is not None


@dataclass(frozen=True)
class Matrix:
    """A run's cells by (case position, repeat, column key); a cell not written yet is absent."""

    columns: list[Column]
    cases: list[int]
    repeats: int
    cells: dict[CellIndex, Cell]

    def column(self, key: str) -> Column:
        """The column with this key (NotFoundError otherwise)."""
        for column in self.columns:
            if column.key == key:
                return column
        raise NotFoundError(f"no column '{key}' in this run")

    def cell(self, case_position: int, repeat: int, column_key: str) -> Cell | None:
        """One cell, or None if it was not written (yet)."""
        return self.cells.get((case_position, repeat, self.column(column_key).key))


@dataclass(frozen=True)
class ColumnSummary:
    """One column's totals; latencies are of successful calls, None when there are none."""

    column_key: str
    label: str
    calls: int
    errors: int
    mean_latency_ms: float | None
    p95_latency_ms: float | None
    input_tokens: int
    output_tokens: int
    cost_usd: float


@dataclass(frozen=True)
class CellDiff:
    """The diff of two cells' texts (as the version diff models it) and its HTML renderings."""

    diff: VersionDiff

    @property
    def inline_html(self) -> str:
        """GitHub-style unified HTML."""
        return render_inline_html(self.diff)

    @property
    def side_by_side_html(self) -> str:
        """GitHub-style split HTML."""
        return render_side_by_side_html(self.diff)


def parse_cell_key(key: str) -> tuple[int, str, int, int]:
    """(version id, model label, case position, repeat) of a cell key; the model label may contain ':'."""
    try:
        version, rest = key.split(":", 1)
        model, case, repeat = rest.rsplit(":", 2)
        return int(version), model, int(case), int(repeat)
    except ValueError:
        raise ValidationError(f"malformed cell key: {key!r}") from None


def cell_key_of(index: CellIndex) -> str:
    """The run's cell key of a matrix index (the column key is the cell key's prefix)."""
    case, repeat, column = index
    return f"{column}:{case}:{repeat}"


def column_key(version_id: int, model: str) -> str:
    """A column's key: the cell key's prefix."""
    return f"{version_id}:{model}"


def column_label(version_id: int, number: int | None, ref: str | None, model: str) -> str:
    """A column's heading, e.g. 'v3 (main) × openai/gpt-4o-mini'; the offline echo is said not to be a model."""
    version = f"v{number}" if number is not None else f"version #{version_id}"
    if ref and ref != str(number):
        version += f" ({ref})"
    return f"{version} × {model}" + (NOT_A_REAL_MODEL if _offline(model) else "")


def _offline(model: str) -> bool:
    """Whether a model label names the offline echo (with or without a base URL)."""
    return is_offline(model) or model.startswith(OFFLINE_MODEL + "@")


def load_matrix(ctx: Context, root: Path | str, run_id: int) -> Matrix:
    """The matrix of a run the actor may read (NotFoundError otherwise), from the history under root."""
    run = runs.get_run(ctx, run_id)
    frame = HistoryReader(Path(root)).rows(columns=_READ, order_by="finished_at", team_id=run.team_id, run_id=run.id)
    cells: dict[CellIndex, Cell] = {}
    models: dict[str, tuple[int, str]] = {}
    with gcpause.paused():  # many small objects, no cycles
        for row in frame.iter_rows(named=True):  # by finished_at, so a cell written twice keeps its last result
            if row["cell_key"].startswith((JUDGE_PREFIX, PLAYGROUND_PREFIX)):  # judge or playground calls
                continue
            version_id, model, case, repeat = parse_cell_key(row.pop("cell_key"))
            key = column_key(version_id, model)
            models[key] = (version_id, model)
            cells[(case, repeat, key)] = Cell(**row)
    columns = _columns(ctx, run, models)
    cases = sorted({case for case, _, _ in cells})
    return Matrix(columns, cases, max((repeat for _, repeat, _ in cells), default=1), cells)


def _columns(ctx: Context, run: runs.RunInfo, found: dict[str, tuple[int, str]]) -> list[Column]:
    """The columns found in the history, ordered as the run named its versions and models."""
    versions = _versions(ctx, run, {version_id for version_id, _ in found.values()})
    version_rank = {vid: i for i, vid in enumerate(versions)}
    model_rank = {label: i for i, label in enumerate(_spec_models(run.spec))}
    columns = []
    for key, (vid, model) in found.items():
        number, ref = versions.get(vid, (None, None))
        columns.append(Column(key, vid, number, ref, model, column_label(vid, number, ref, model), _offline(model)))
    return sorted(columns, key=lambda c: (version_rank.get(c.version_id, len(version_rank)), c.version_id,
                                          model_rank.get(c.model, len(model_rank)), c.model))


def _versions(ctx: Context, run: runs.RunInfo, ids: set[int]) -> dict[int, tuple[int | None, str | None]]:
    """(number, ref) by version id, in the run's order: from the estimate, else the run's prompt in the store."""
    known: dict[int, tuple[int | None, str | None]] = {}
    for v in run.estimate.get("versions") or []:
        if isinstance(v, dict) and isinstance(v.get("id"), int):
            known[v["id"]] = (v.get("number"), v.get("ref"))
    missing = ids - known.keys()
    if missing and run.prompt_id is not None:  # only the run's own prompt: no other prompt's versions are named
        query = (select(Version.id, Version.number).where(Version.id.in_(missing), Version.prompt_id == run.prompt_id)
                 .order_by(Version.number))
        with ctx.db.read() as session:
            known.update({vid: (number, None) for vid, number in session.execute(query)})
    return known


def _spec_models(spec: dict[str, Any]) -> list[str]:
    """The model labels of a stored run spec, in its order (entries that no longer parse are skipped)."""
    labels = []
    for entry in spec.get("models") or []:
        try:
            labels.append(ModelSpec.model_validate({"model": entry} if isinstance(entry, str) else entry).label)
        except ValueError:
            continue
    return labels


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between ranks, as numpy's default."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(matrix: Matrix) -> list[ColumnSummary]:
    """Calls, errors, latency (mean, p95), tokens and cost of every column."""
    by_column: dict[str, list[Cell]] = defaultdict(list)
    for (_, _, key), cell in matrix.cells.items():
        by_column[key].append(cell)
    return [_column_summary(column, by_column[column.key]) for column in matrix.columns]


def _column_summary(column: Column, cells: list[Cell]) -> ColumnSummary:
    """One column's totals."""
    latencies = [c.latency_ms for c in cells if not c.failed and c.latency_ms is not None]
    return ColumnSummary(
        column.key, column.label, len(cells), sum(c.failed for c in cells),
        sum(latencies) / len(latencies) if latencies else None, percentile(latencies, 95) if latencies else None,
        sum(c.input_tokens or 0 for c in cells), sum(c.output_tokens or 0 for c in cells),
        sum(c.cost_usd or 0.0 for c in cells),
    )


def cell_text(cell: Cell | None) -> str:
    """What a cell shows: its output, 'ERROR (kind): message', or '' when not written."""
    if cell is None:
        return ""
    if cell.failed:
        return f"ERROR ({cell.error_kind}): {cell.error}" if cell.error_kind else f"ERROR: {cell.error}"
    return cell.output or ""


def metric_header(column: Column, metric: str) -> str:
    """The frame's heading of one column's metric, e.g. 'v1 × m [latency_ms]'."""
    return f"{column.label} [{metric}]"


def to_frame(matrix: Matrix) -> pl.DataFrame:
    """One row per case (and repeat when there are several), a text column and metric columns per version × model,
    and a last row whose case is 'summary'."""
    schema: dict[str, pl.DataType] = {"case": pl.String()}
    if matrix.repeats > 1:
        schema["repeat"] = pl.Int64()
    for column in matrix.columns:
        schema[column.label] = pl.String()
        schema.update({metric_header(column, m): dtype for m, dtype in _METRICS.items()})
    rows = [_case_row(matrix, case, repeat) for case in matrix.cases for repeat in range(1, matrix.repeats + 1)]
    return pl.DataFrame([*rows, _summary_row(matrix)], schema=schema, orient="row")


def _case_row(matrix: Matrix, case: int, repeat: int) -> list[Any]:
    """One case × repeat as a frame row."""
    row: list[Any] = [str(case)] + ([repeat] if matrix.repeats > 1 else [])
    for column in matrix.columns:
        cell = matrix.cells.get((case, repeat, column.key))
        row.append(cell_text(cell) if cell else None)
        row.extend(getattr(cell, m) if cell else None for m in _METRICS)
    return row


def _summary_row(matrix: Matrix) -> list[Any]:
    """The totals row: calls and errors as text, mean latency, total tokens and cost."""
    row: list[Any] = [SUMMARY_CASE] + ([None] if matrix.repeats > 1 else [])
    for s in summary(matrix):
        row += [f"{s.calls} calls, {s.errors} errors", s.mean_latency_ms, s.input_tokens, s.output_tokens, s.cost_usd]
    return row


def export_csv(matrix: Matrix) -> bytes:
    """The frame as UTF-8 CSV, every field quoted and formula-like cells defanged."""
    frame = to_frame(matrix)
    return to_csv(frame.columns, frame.iter_rows()).encode("utf-8")


def export_parquet(matrix: Matrix) -> bytes:
    """The frame as a Parquet file."""
    buffer = io.BytesIO()
    to_frame(matrix).write_parquet(buffer)
    return buffer.getvalue()


def cell_diff(matrix: Matrix, column_a: str, column_b: str, case_position: int, repeat: int = 1) -> CellDiff:
    """The diff from column_a's cell to column_b's cell of one case and repeat (an absent cell is empty text)."""
    old, new = (cell_text(matrix.cell(case_position, repeat, key)) for key in (column_a, column_b))
    return CellDiff(diff_versions({"content": old}, {"content": new}))
