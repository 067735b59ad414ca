"""Daily rollups of the run history, so the default dashboard never scans raw rows; and retention.

One file per (team, day): ``<root>/history/_rollups/team=<id>/day=<YYYY-MM-DD>/rollup.parquet`` (inside the
folder DuckDB may read; ``_rollups`` never matches the raw ``team=*`` glob). Each row is one group of
ROLLUP_KEYS and of ``latency_bucket`` (a log-scale latency histogram stored as rows: the bucket of the
latency, null for failed calls or calls without a latency) with calls, errors, tokens, cost and the latency
sum. Only successful calls with a latency count in the histogram and the latency sum.

Freshness: a sidecar ``rollup.json`` names the visible raw parts the rollup was built from (its
fingerprint). ``refresh`` rebuilds a day only when that list differs from the parts visible now (a flush
or a compaction changed them); the analytics module calls it for a team when the team's generation token
changed (see promptvault.history.generation), which costs two directory listings and one small JSON read
per fresh day; stale days are rebuilt BUILD_DAYS at a time, so memory stays bounded on a cold history.
Writes take a per-day ``flock`` and go temp file + fsync + rename (parquet first, sidecar second: a crash
in between only causes one extra rebuild).

Retention: ``drop_raw_before(root, cutoff)`` rebuilds each older day's rollup from exactly the parts it is
about to delete (under the partition's compaction lock), marks it final (never rebuilt again), then deletes
those raw parts. Rollup-based views keep their figures; raw-only views (latency percentiles, raw rows,
raw export) cover only the days still retained. Rows written later for a day already dropped stay raw
until the next ``drop_raw_before`` for that day, which adds them to the final rollup.

Percentiles from histograms: bucket 0 holds latencies below 1 ms, bucket i (1..60) holds
[1.25**(i-1), 1.25**i) ms, bucket 61 everything from 1.25**60 ms (about 10.9 minutes). ``percentile``
answers the nearest-rank percentile with the geometric middle of its bucket, so for latencies between
1 ms and 10.9 min the answer is within a factor sqrt(1.25) (relative error at most 11.8 %) of the exact
nearest-rank value; below 1 ms it answers 0.5 ms, beyond 10.9 min the bucket's lower bound.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from contextlib import ExitStack
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from promptvault import filelock, history
from promptvault.errors import ValidationError

RATIO = 1.25
BUCKETS = 62
ROLLUP_KEYS = ("team_id", "project_id", "prompt_id", "version_id", "model", "provider", "user_id", "day",
               "status", "error_kind")
ROLLUPS_DIR = "_rollups"
_I64, _S = pa.int64(), pa.string()
ROLLUP_SCHEMA = pa.schema(
    [("team_id", _I64), ("project_id", _I64), ("prompt_id", _I64), ("version_id", _I64), ("model", _S),
     ("provider", _S), ("user_id", _I64), ("day", pa.date32()), ("status", _S), ("error_kind", _S),
     ("latency_bucket", pa.int32()), ("calls", _I64), ("errors", _I64), ("input_tokens", _I64),
     ("output_tokens", _I64), ("cost_usd", pa.float64()), ("latency_sum_ms", pa.float64())]
)
ROLLUP_COLUMNS = frozenset(ROLLUP_SCHEMA.names)
# 'error' for a row with an error message or kind, else 'ok' (the Filters.status values)
STATUS_SQL = "CASE WHEN \"error\" IS NOT NULL OR error_kind IS NOT NULL THEN 'error' ELSE 'ok' END"
_BUCKET_SQL = (
    "CASE WHEN status <> 'ok' OR latency_ms IS NULL OR isnan(latency_ms) THEN NULL "
    f"WHEN latency_ms < 1 THEN 0 ELSE least({BUCKETS - 1}, 1 + floor(ln(latency_ms) / ln({RATIO})))::INTEGER END"
)
_RETRIES = 5
BUILD_DAYS = 8


def bucket_bounds(i: int) -> tuple[float, float]:
    """The [lower, upper) latency range in ms of histogram bucket i."""
    if i == 0:
        return 0.0, 1.0
    return RATIO ** (i - 1), (RATIO ** i if i < BUCKETS - 1 else math.inf)


def percentile(counts: Sequence[int], q: float) -> float | None:
    """The nearest-rank q-quantile (0 < q <= 1) estimated from histogram counts; None when empty."""
    total = sum(counts)
    if not total:
        return None
    rank, seen = max(1, math.ceil(q * total)), 0
    for i, n in enumerate(counts):
        seen += n
        if seen >= rank:
            lo, hi = bucket_bounds(i)
            return 0.5 if i == 0 else (lo if math.isinf(hi) else math.sqrt(lo * hi))
    return None


def aggregate_sql(where: str = "") -> str:
    """SQL grouping the `history` view (with `status` derived) into rollup rows; `where` filters raw rows."""
    keys = ", ".join(ROLLUP_KEYS)
    return (
        f"SELECT {keys}, b AS latency_bucket, count(*)::BIGINT AS calls, "
        "count(*) FILTER (WHERE status = 'error')::BIGINT AS errors, "
        "coalesce(sum(input_tokens), 0)::BIGINT AS input_tokens, "
        "coalesce(sum(output_tokens), 0)::BIGINT AS output_tokens, coalesce(sum(cost_usd), 0)::DOUBLE AS cost_usd, "
        "coalesce(sum(latency_ms) FILTER (WHERE b IS NOT NULL), 0)::DOUBLE AS latency_sum_ms "
        f"FROM (SELECT *, {_BUCKET_SQL} AS b FROM (SELECT *, {STATUS_SQL} AS status FROM history){where}) "
        f"GROUP BY {keys}, b"
    )


def dense_counts(buckets: Sequence[int] | None, counts: Sequence[int] | None) -> list[int]:
    """A histogram as BUCKETS counts from (bucket, count) pairs."""
    out = [0] * BUCKETS
    for b, n in zip(buckets or (), counts or ()):
        out[b] += n
    return out


def rollup_dir(root: Path, team_id: int, day: date) -> Path:
    """The folder of one (team, day) rollup."""
    return Path(root) / "history" / ROLLUPS_DIR / f"team={int(team_id)}" / f"day={day.isoformat()}"


def rollup_files(root: Path, team_ids: Sequence[int] | None = None, since: date | None = None,
                 until: date | None = None) -> list[Path]:
    """The rollup files of the given teams (None: all) and day range."""
    base = Path(root) / "history" / ROLLUPS_DIR
    found = []
    for team_dir in sorted(base.glob("team=*")) if base.is_dir() else []:
        m = history._TEAM_RE.match(team_dir.name)
        if not m or (team_ids is not None and int(m.group(1)) not in team_ids):
            continue
        for day_dir in sorted(team_dir.glob("day=*")):
            day = history._parse_day(day_dir.name)
            path = day_dir / "rollup.parquet"
            if day and (since is None or day >= since) and (until is None or day <= until) and path.is_file():
                found.append(path)
    return found


def read_meta(folder: Path) -> dict | None:
    """A rollup's sidecar (sources, final, calls), or None when there is no rollup yet."""
    try:
        meta = json.loads((folder / "rollup.json").read_text())
    except (FileNotFoundError, ValueError):
        return None
    return meta if (folder / "rollup.parquet").is_file() else None


def refresh(root: Path, team_id: int | None = None, since: date | None = None, until: date | None = None) -> int:
    """Rebuild the rollups of the days whose visible raw parts changed since they were built; how many."""
    stale = [(t, d, folder) for t, d, folder in history.partitions(root, team_id, since, until)
             if not _is_fresh(read_meta(rollup_dir(root, t, d)), history.visible_parts(folder))]
    # a few days at a time, so building a cold history's rollups holds only a few days' rows in memory
    return sum(_rebuild(root, stale[i:i + BUILD_DAYS]) for i in range(0, len(stale), BUILD_DAYS))


def _rebuild(root: Path, stale: list[tuple[int, date, Path]]) -> int:
    """Rebuild the given (team, day) rollups that are still stale under their locks; how many."""
    with ExitStack() as stack:  # locks taken in partition order, so two refreshers never deadlock
        for t, d, _ in stale:
            out = rollup_dir(root, t, d)
            out.mkdir(parents=True, exist_ok=True)
            stack.enter_context(_lock(out))
        for attempt in range(_RETRIES):
            todo = {(t, d): history.visible_parts(folder) for t, d, folder in stale}
            todo = {k: parts for k, parts in todo.items() if not _is_fresh(read_meta(rollup_dir(root, *k)), parts)}
            try:
                table = _build(root, [p for parts in todo.values() for p in parts])
                break
            except duckdb.IOException:  # a compaction replaced a part meanwhile: list again
                if attempt == _RETRIES - 1:
                    raise
        for (t, d), parts in todo.items():
            day_rows = table.filter((pc.field("team_id") == t) & (pc.field("day") == d))
            _write(rollup_dir(root, t, d), day_rows, [p.name for p in parts], final=False)
    return len(todo)


def _is_fresh(meta: dict | None, parts: list[Path]) -> bool:
    """Whether a rollup is final or was built from exactly these parts."""
    return meta is not None and (meta.get("final") or meta.get("sources") == [p.name for p in parts])


def _build(root: Path, parts: list[Path]) -> pa.Table:
    """The rollup rows of exactly these raw parts."""
    con = history.HistoryReader(root).connect_parts(parts, shared=True)
    try:
        return con.sql(aggregate_sql()).to_arrow_table().select(ROLLUP_SCHEMA.names).cast(ROLLUP_SCHEMA)
    finally:
        con.close()


def _lock(folder: Path):
    """An exclusive flock on the rollup folder's lock file, so two refreshers never interleave their writes."""
    return filelock.exclusive(folder / ".lock")


def _replace(folder: Path, name: str, write) -> None:
    """Write a file through a temp name, fsync it, rename it into place and fsync the folder."""
    tmp = folder / f".{name}.tmp"
    with open(tmp, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, folder / name)
    history._fsync_dir(folder)


def _write(folder: Path, table: pa.Table, sources: list[str], final: bool) -> None:
    """Atomically replace a day's rollup, then its sidecar."""
    meta = {"sources": sources, "final": final, "calls": int(pc.sum(table["calls"]).as_py() or 0)}
    _replace(folder, "rollup.parquet", lambda f: pq.write_table(table, f, compression="zstd"))
    _replace(folder, "rollup.json", lambda f: f.write(json.dumps(meta).encode()))


def drop_raw_before(root: Path, cutoff: date, team_id: int | None = None) -> int:
    """Delete raw rows of days before `cutoff` after freezing their rollups (kept for good); rows deleted."""
    if not isinstance(cutoff, date):
        raise ValidationError(f"cutoff must be a date, not {cutoff!r}")
    dropped = 0
    for team, day, _ in history.partitions(root, team_id, None, cutoff - timedelta(days=1)):
        dropped += history.drop_partition(root, team, day, lambda parts, t=team, d=day: _finalize(root, t, d, parts))
    return dropped


def _finalize(root: Path, team_id: int, day: date, parts: list[Path]) -> None:
    """Make the day's rollup final and cover `parts` (added to an earlier final rollup, if any)."""
    out = rollup_dir(root, team_id, day)
    out.mkdir(parents=True, exist_ok=True)
    with _lock(out):
        meta = read_meta(out)
        if meta and meta.get("final"):
            table = pa.concat_tables([pq.read_table(out / "rollup.parquet").cast(ROLLUP_SCHEMA), _build(root, parts)])
            sources = meta["sources"] + [p.name for p in parts]
        else:
            table, sources = _build(root, parts), [p.name for p in parts]
        _write(out, table, sources, final=True)
