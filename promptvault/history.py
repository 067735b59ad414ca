"""Run history: immutable Parquet parts written in batches, compacted safely, read through a locked DuckDB.

Layout: ``<root>/history/team=<id>/day=<YYYY-MM-DD>/part-<time>-<uuid>.parquet``. A part is written to a
hidden ``.part-….parquet.tmp`` in the same folder, fsynced, then renamed into place (and the folder
fsynced), so a reader, which only takes names matching ``part-….parquet``, never sees a half-written file.

Compaction of a partition (under an exclusive ``flock`` on ``.compact.lock``):

1. merge the small parts into a hidden temp file, fsync;
2. write the marker ``_compacted-<new>.json`` (temp + rename) naming the new part and the parts it replaces;
3. rename the temp file to ``<new>`` -- this rename is the switch: readers hide every part a marker lists
   only while the marker's new part exists, so before it they see the old parts, after it the new one;
4. delete the old parts; 5. delete the marker.

A crash before 3 leaves the old parts visible (a re-run deletes the orphan marker and temp file); a crash
after 3 leaves the new part visible (a re-run deletes the listed old parts and the marker). Either way the
next ``compact`` finishes the job, and no reader ever counts a row twice or misses one.

Every change of a team's visible parts (a flush, a compaction, a drop) then rewrites the team's
``.generation`` token, so a reader that cached a listing revalidates it with one small read.

Readers list a partition until two listings agree, apply the markers, and give DuckDB the resulting list
of files (never a glob of its own); if a compaction deletes a listed part before DuckDB opens it, the query
is retried on a fresh listing. DuckDB runs with external access off except for the history folder, with
extension autoload and install off and its configuration locked.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from promptvault import filelock
from promptvault.errors import ValidationError

_TS = pa.timestamp("us", tz="UTC")
_S, _I64, _F64 = pa.string(), pa.int64(), pa.float64()
HISTORY_SCHEMA = pa.schema([
    pa.field("run_id", _I64, nullable=False), pa.field("cell_key", _S, nullable=False),
    ("prompt_id", _I64), ("version_id", _I64), ("model", _S), ("provider", _S), ("rendered_input", _S),
    ("output", _S), ("finish_reason", _S), ("error", _S), ("error_kind", _S), ("attempts", pa.int32()),
    ("latency_ms", _F64), ("ttft_ms", _F64), ("input_tokens", _I64), ("output_tokens", _I64),
    ("cost_usd", _F64), ("cache_hit", pa.bool_()), ("evaluations", _S),
    pa.field("team_id", _I64, nullable=False), ("project_id", _I64), ("user_id", _I64), ("started_at", _TS),
    pa.field("finished_at", _TS, nullable=False), pa.field("day", pa.date32(), nullable=False),
])
ALLOWED_COLUMNS = frozenset(HISTORY_SCHEMA.names)
JSON_COLUMNS = frozenset({"rendered_input", "evaluations"})
ROW_GROUP_ROWS = 100_000
STALE_TEMP_SECONDS = 3600
RETRIES = 5  # a reader re-lists when a compaction deleted a part it had listed
_PART_RE = re.compile(r"^part-[0-9a-f]{16}-[0-9a-f]{16}\.parquet$")
_MARKER_RE = re.compile(r"^_compacted-(part-[0-9a-f]{16}-[0-9a-f]{16}\.parquet)\.json$")
_TEAM_RE = re.compile(r"^team=(\d+)$")
_DAY_RE = re.compile(r"^day=(\d{4}-\d{2}-\d{2})$")
JUDGE_PREFIX = "judge:"  # the cell key prefix of a scoring's judge calls, which are no cells of their run
PLAYGROUND_PREFIX = "pg:"  # the cell key prefix of playground calls (their run is a notebook's call record)
GENERATION_FILE = ".generation"  # per team folder; rewritten whenever the team's visible parts change
_DUCK_TYPES = {"int64": "BIGINT", "int32": "INTEGER", "string": "VARCHAR", "double": "DOUBLE",
               "bool": "BOOLEAN", "timestamp[us, tz=UTC]": "TIMESTAMPTZ", "date32[day]": "DATE"}

Hook = Callable[[str], None]


@dataclass(frozen=True)
class WrittenPart:
    """One part file a flush or a compaction made visible."""

    path: Path
    team_id: int
    day: date
    rows: int



def _compatible(got: pa.DataType, want: pa.DataType) -> bool:
    """Whether values inferred as `got` may be stored in a column of type `want` without loss of meaning."""
    if pa.types.is_null(got) or got == want:
        return True
    if pa.types.is_integer(want):
        return pa.types.is_integer(got)
    if pa.types.is_floating(want):
        return pa.types.is_integer(got) or pa.types.is_floating(got)
    if pa.types.is_timestamp(want):
        return pa.types.is_timestamp(got)
    return pa.types.is_string(want) and pa.types.is_large_string(got)


def _column(field: pa.Field, values: list) -> pa.Array:
    """Convert one column's values to `field`'s type, or raise ValidationError naming the column."""
    if field.name in JSON_COLUMNS:
        values = [v if v is None or isinstance(v, str) else json.dumps(v) for v in values]
    if pa.types.is_timestamp(field.type) and any(v is not None and getattr(v, "tzinfo", None) is None
                                                 for v in values):
        raise ValidationError(f"column '{field.name}': needs timezone-aware datetimes")
    try:
        arr = pa.array(values)
        if not _compatible(arr.type, field.type):
            raise ValidationError(f"column '{field.name}': expected {field.type}, got {arr.type}")
        arr = arr.cast(field.type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError) as exc:
        raise ValidationError(f"column '{field.name}': {exc}") from None
    if not field.nullable and arr.null_count:
        raise ValidationError(f"column '{field.name}' is required")
    return arr


def to_table(rows: list[dict]) -> pa.Table:
    """Validate rows against HISTORY_SCHEMA and return them as a table; `day` is derived from finished_at."""
    for i, row in enumerate(rows):
        if not ALLOWED_COLUMNS.issuperset(row):
            unknown = row.keys() - ALLOWED_COLUMNS
            raise ValidationError(f"row {i}: unknown column(s) {', '.join(sorted(map(str, unknown)))}")
    arrays = {}
    for field in HISTORY_SCHEMA:
        if field.name != "day":
            arrays[field.name] = _column(field, [r.get(field.name) for r in rows])
    arrays["day"] = pc.cast(arrays["finished_at"], pa.date32())
    given = [r.get("day") for r in rows]
    if any(v is not None for v in given):
        given_day = _column(HISTORY_SCHEMA.field("day").with_nullable(True), given)
        if not pc.all(pc.or_kleene(pc.is_null(given_day), pc.equal(given_day, arrays["day"]))).as_py():
            raise ValidationError("column 'day' must be the UTC date of finished_at")
    return pa.table(arrays, schema=HISTORY_SCHEMA)



def _fsync_dir(path: Path) -> None:
    """Make a rename or unlink inside `path` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _partition_dir(root: Path, team_id: int, day: date) -> Path:
    """The folder of one (team, day) partition, created (and made durable) if missing."""
    base = Path(root) / "history"
    path = base / f"team={int(team_id)}" / f"day={day.isoformat()}"
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True)
        for d in (path.parent, base, base.parent):
            _fsync_dir(d)
    return path


def _new_part_name() -> str:
    """A fresh part name that sorts by creation time."""
    return f"part-{time.time_ns():016x}-{uuid.uuid4().hex[:16]}.parquet"


def _write_part(folder: Path, batches: Iterable[pa.Table], hook: Hook, tmp_name: str) -> Path:
    """Write batches to a hidden temp file, fsync it and return the temp path (not yet visible)."""
    tmp = folder / tmp_name
    with open(tmp, "wb") as f:
        with pq.ParquetWriter(f, HISTORY_SCHEMA, compression="zstd") as writer:
            for batch in batches:
                writer.write_table(batch, row_group_size=ROW_GROUP_ROWS)
                hook("write")
        f.flush()
        os.fsync(f.fileno())
    return tmp


def _publish(tmp: Path, name: str) -> Path:
    """Atomically rename a finished temp file to its visible part name."""
    final = tmp.with_name(name)
    os.replace(tmp, final)
    _fsync_dir(tmp.parent)
    return final


def _slices(table: pa.Table, size: int) -> Iterable[pa.Table]:
    """The table in consecutive slices of at most `size` rows."""
    for start in range(0, max(table.num_rows, 1), size):
        yield table.slice(start, size)



class HistoryWriter:
    """Buffers history rows and writes them as one immutable part per (team, day) per flush; thread-safe."""

    def __init__(self, root: Path, hook: Hook | None = None, row_group_rows: int = ROW_GROUP_ROWS):
        self.root = Path(root)
        self._hook = hook or (lambda step: None)
        self._row_group_rows = row_group_rows
        self._lock = threading.Lock()
        self._pending: list[pa.Table] = []

    def append(self, rows: list[dict]) -> None:
        """Validate rows and buffer them until the next flush."""
        table = to_table(rows)
        with self._lock:
            self._pending.append(table)

    def pending_rows(self) -> int:
        """How many rows wait for the next flush."""
        with self._lock:
            return sum(t.num_rows for t in self._pending)

    def flush(self) -> list[WrittenPart]:
        """Write the buffered rows, one part per (team, day), and return the parts written."""
        with self._lock:
            if not self._pending:
                return []
            table = pa.concat_tables(self._pending)
            self._pending = []
            written: list[WrittenPart] = []
            for team_id, day in _partition_keys(table):
                part = table.filter((pc.field("team_id") == team_id) & (pc.field("day") == day))
                try:
                    written.append(self._write(team_id, day, part))
                except BaseException:
                    done = {(w.team_id, w.day) for w in written}
                    self._pending = [_without(table, done)]
                    raise
                finally:
                    if written:
                        bump_generation(self.root, written[-1].team_id)
            return written

    def _write(self, team_id: int, day: date, table: pa.Table) -> WrittenPart:
        """Write one partition's rows as one visible part."""
        folder, name = _partition_dir(self.root, team_id, day), _new_part_name()
        try:
            tmp = _write_part(folder, _slices(table, self._row_group_rows), self._hook, f".{name}.tmp")
            self._hook("temp-written")
        except Exception:  # an error, not a kill: leave no temp file behind
            (folder / f".{name}.tmp").unlink(missing_ok=True)
            raise
        return WrittenPart(_publish(tmp, name), team_id, day, table.num_rows)


def bump_generation(root: Path, team_id: int) -> None:
    """Record that the team's visible parts changed (after the change), so cached readers look again."""
    folder = Path(root) / "history" / f"team={int(team_id)}"
    if not folder.is_dir():
        return
    tmp = folder / f".{GENERATION_FILE}-{uuid.uuid4().hex}.tmp"
    tmp.write_text(uuid.uuid4().hex)
    os.replace(tmp, folder / GENERATION_FILE)


def generation(root: Path, team_id: int) -> str | None:
    """The team's current generation token (None before its first part); it changes on every flush,
    compaction or drop, so an unchanged token means the visible parts are those seen with it.

    Read the token before listing: a change published after the read then shows as a new token."""
    try:
        return (Path(root) / "history" / f"team={int(team_id)}" / GENERATION_FILE).read_text()
    except FileNotFoundError:
        return None


def _partition_keys(table: pa.Table) -> list[tuple[int, date]]:
    """The distinct (team_id, day) pairs of a table, sorted."""
    keys = table.group_by(["team_id", "day"]).aggregate([]).to_pylist()
    return sorted((k["team_id"], k["day"]) for k in keys)


def _without(table: pa.Table, done: set[tuple[int, date]]) -> pa.Table:
    """The rows of `table` whose partition is not in `done`."""
    keep = [not ((t, d) in done) for t, d in zip(table["team_id"].to_pylist(), table["day"].to_pylist())]
    return table.filter(pa.array(keep, pa.bool_()))



def _partitions(root: Path, team_id: int | None = None, since: date | None = None,
                until: date | None = None) -> list[tuple[int, date, Path]]:
    """Partition folders under root, pruned by team and day range."""
    base = Path(root) / "history"
    found = []
    for team_dir in sorted(base.glob("team=*")) if base.is_dir() else []:
        tm = _TEAM_RE.match(team_dir.name)
        if not tm or (team_id is not None and int(tm.group(1)) != team_id):
            continue
        for day_dir in sorted(team_dir.glob("day=*")):
            day = _parse_day(day_dir.name)
            if day and (since is None or day >= since) and (until is None or day <= until):
                found.append((int(tm.group(1)), day, day_dir))
    return found


def _parse_day(name: str) -> date | None:
    """The date of a `day=YYYY-MM-DD` folder name, or None for anything else."""
    m = _DAY_RE.match(name)
    try:
        return date.fromisoformat(m.group(1)) if m else None
    except ValueError:
        return None


def _read_marker(path: Path) -> list[str] | None:
    """The part names a compaction marker supersedes, or None if it vanished meanwhile."""
    try:
        return [n for n in json.loads(path.read_text())["replaces"] if _PART_RE.match(n)]
    except FileNotFoundError:
        return None


def visible_parts(folder: Path) -> list[Path]:
    """The parts of one partition a reader should read: whole parts, each row exactly once."""
    for _ in range(20):
        names = set(os.listdir(folder)) if folder.is_dir() else set()
        hidden: set[str] = set()
        for name in sorted(names):
            m = _MARKER_RE.match(name)
            if m and m.group(1) in names:
                replaced = _read_marker(folder / name)
                if replaced is None:
                    break
                hidden.update(replaced)
        else:
            again = set(os.listdir(folder)) if folder.is_dir() else set()
            if again == names:  # a stable listing: no rename or unlink raced with it
                return [folder / n for n in sorted(names - hidden) if _PART_RE.match(n)]
    raise OSError(f"history partition {folder} keeps changing; try again")


def partitions(root: Path, team_id: int | None = None, since: date | None = None,
               until: date | None = None) -> list[tuple[int, date, Path]]:
    """Every raw partition as (team id, day, folder), pruned by team and day range."""
    return _partitions(root, team_id, since, until)


def list_parts(root: Path, team_id: int | None = None, since: date | None = None,
               until: date | None = None) -> list[Path]:
    """Every visible part under root, pruned by team and day range."""
    return [p for _, _, folder in _partitions(root, team_id, since, until) for p in visible_parts(folder)]



def compact(root: Path, team_id: int | None = None, day: date | None = None, min_parts: int = 4,
            target_rows: int = 1_000_000, hook: Hook | None = None) -> list[WrittenPart]:
    """Merge small parts of each partition into larger ones; safe to kill and re-run at any point."""
    hook = hook or (lambda step: None)
    written = []
    for t, d, folder in _partitions(root, team_id, day, day):
        with _partition_lock(folder):
            _finish_markers(folder)
            _sweep_temps(folder)
            before = len(written)
            try:
                for group in _groups(visible_parts(folder), min_parts, target_rows):
                    written.append(_merge(folder, t, d, group, hook))
            finally:
                if len(written) > before or sys.exc_info()[0] is not None:
                    bump_generation(root, t)
    return written


def _partition_lock(folder: Path):
    """An exclusive flock on a partition's lock file; the kernel drops it if the process dies."""
    return filelock.exclusive(folder / ".compact.lock")


def _finish_markers(folder: Path) -> None:
    """Roll every interrupted compaction forward (new part visible) or back (it never became visible)."""
    for name in sorted(os.listdir(folder)):
        m = _MARKER_RE.match(name)
        if not m:
            continue
        new = folder / m.group(1)
        if new.exists():
            for old in _read_marker(folder / name) or []:
                (folder / old).unlink(missing_ok=True)
        else:
            (folder / f".compact-{new.name}.tmp").unlink(missing_ok=True)
        _fsync_dir(folder)
        (folder / name).unlink()
        _fsync_dir(folder)


def _sweep_temps(folder: Path, older_than: float = STALE_TEMP_SECONDS) -> None:
    """Delete temp files of killed compactions (we hold the lock) and of writers killed long ago."""
    cutoff = time.time() - older_than
    for path in folder.glob(".*.tmp"):
        try:
            if path.name.startswith(".compact-") or path.stat().st_mtime < cutoff:
                path.unlink()
        except FileNotFoundError:
            pass


def _groups(parts: list[Path], min_parts: int, target_rows: int) -> list[list[Path]]:
    """Small parts packed into groups of at most target_rows rows; nothing if fewer than min_parts are small."""
    small = [(p, pq.read_metadata(p).num_rows) for p in parts]
    small = [(p, n) for p, n in small if n < target_rows]
    if len(small) < max(min_parts, 2):
        return []
    groups, current, rows = [], [], 0
    for path, n in small:
        if current and rows + n > target_rows:
            groups.append(current)
            current, rows = [], 0
        current.append(path)
        rows += n
    groups.append(current)
    return [g for g in groups if len(g) > 1]


def _read_parts(parts: list[Path]) -> Iterable[pa.Table]:
    """The rows of the given parts, regrouped into tables of about ROW_GROUP_ROWS rows."""
    buffer: list[pa.Table] = []
    for path in parts:
        buffer.append(pq.ParquetFile(path).read().cast(HISTORY_SCHEMA))
        if sum(t.num_rows for t in buffer) >= ROW_GROUP_ROWS:
            yield pa.concat_tables(buffer)
            buffer = []
    if buffer:
        yield pa.concat_tables(buffer)


def _write_marker(folder: Path, name: str, group: list[Path]) -> Path:
    """Durably record that part `name` replaces the parts of `group` (temp file + rename)."""
    marker = folder / f"_compacted-{name}.json"
    tmp = folder / f".compact-{marker.name}.tmp"
    with open(tmp, "w") as f:
        json.dump({"new": name, "replaces": [p.name for p in group]}, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, marker)
    _fsync_dir(folder)
    return marker


def _merge(folder: Path, team_id: int, day: date, group: list[Path], hook: Hook) -> WrittenPart:
    """Replace a group of parts by one part, following the protocol of the module docstring."""
    name = _new_part_name()
    hook("start")
    tmp = _write_part(folder, _read_parts(group), lambda step: None, f".compact-{name}.tmp")
    hook("temp-written")
    marker = _write_marker(folder, name, group)
    hook("marker-written")
    final = _publish(tmp, name)
    hook("published")
    for old in group:
        old.unlink()
        _fsync_dir(folder)
        hook("old-deleted")
    marker.unlink()
    _fsync_dir(folder)
    hook("done")
    return WrittenPart(final, team_id, day, pq.read_metadata(final).num_rows)



def drop_partition(root: Path, team_id: int, day: date,
                   before: Callable[[list[Path]], None] | None = None) -> int:
    """Delete one partition's visible parts under its compaction lock, `before(parts)` first; rows deleted."""
    folder = Path(root) / "history" / f"team={int(team_id)}" / f"day={day.isoformat()}"
    if not folder.is_dir():
        return 0
    with _partition_lock(folder):
        _finish_markers(folder)
        _sweep_temps(folder)
        parts = visible_parts(folder)
        if before is not None:
            before(parts)
        rows = sum(pq.read_metadata(p).num_rows for p in parts)
        try:
            for part in parts:
                part.unlink()
            _fsync_dir(folder)
        finally:
            bump_generation(root, team_id)
    try:  # a writer's temp file may still be there: then the folder stays
        (folder / ".compact.lock").unlink(missing_ok=True)
        folder.rmdir()
    except OSError:
        pass
    return rows


def check_column(name: str) -> str:
    """A column name from ALLOWED_COLUMNS, quoted for SQL; anything else is a ValidationError."""
    if not isinstance(name, str) or name not in ALLOWED_COLUMNS:
        raise ValidationError(f"unknown history column: {name!r}")
    return f'"{name}"'


def _sql_str(value: str) -> str:
    """A SQL string literal (only ever used for server-chosen file paths)."""
    return "'" + value.replace("'", "''") + "'"


def _source_sql(parts: list[Path]) -> str:
    """SQL for the history rows of the given parts, or an empty typed relation when there are none."""
    if not parts:
        cols = ", ".join(f"CAST(NULL AS {_DUCK_TYPES[str(f.type)]}) AS {check_column(f.name)}"
                         for f in HISTORY_SCHEMA)
        return f"SELECT {cols} WHERE false"
    files = ", ".join(_sql_str(str(p)) for p in parts)
    cols = ", ".join(check_column(n) for n in HISTORY_SCHEMA.names)
    return (f"SELECT {cols} FROM read_parquet([{files}], hive_partitioning=true, "
            "hive_types={'team': BIGINT, 'day': DATE})")


_SHARED: OrderedDict[tuple[int, Path], duckdb.DuckDBPyConnection] = OrderedDict()  # a few roots, least recent out
_SHARED_LOCK = threading.Lock()


class HistoryReader:
    """Reads the history through DuckDB that cannot reach files outside the history folder."""

    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self.base = self.root / "history"

    def connect(self, team_id: int | None = None, since: date | None = None,
                until: date | None = None) -> duckdb.DuckDBPyConnection:
        """A locked-down DuckDB connection with a `history` view over the visible parts (optionally pruned)."""
        con = self._locked()
        self.refresh(con, team_id, since, until)
        return con

    def connect_parts(self, parts: list[Path], shared: bool = False) -> duckdb.DuckDBPyConnection:
        """A locked-down DuckDB connection whose `history` view reads exactly `parts` (each inside the folder);
        with `shared`, a cursor of the process's one connection for this root (cheaper; close it after use)."""
        for p in parts:
            if not Path(p).resolve().is_relative_to(self.base):
                raise ValidationError(f"history part outside the history folder: {p}")
        con = self.shared().cursor() if shared else self._locked()
        con.execute(f"CREATE OR REPLACE TEMP VIEW history AS {_source_sql(list(parts))}")
        return con

    def shared(self) -> duckdb.DuckDBPyConnection:
        """This process's one locked connection for the root; query only through its cursors (one per call:
        a DuckDB connection is not safe across threads, its cursors keep their temp views to themselves)."""
        key = (os.getpid(), self.root)
        with _SHARED_LOCK:
            con = _SHARED.get(key)
            if con is None:
                con = _SHARED[key] = self._locked()
                while len(_SHARED) > 8:  # not closed: a cursor still in use keeps its database open
                    _SHARED.popitem(last=False)
            _SHARED.move_to_end(key)
            return con

    def _locked(self) -> duckdb.DuckDBPyConnection:
        """DuckDB that reads only the history folder: no other files, no network, no extensions, config locked."""
        con = duckdb.connect(":memory:", config={
            "autoload_known_extensions": False, "autoinstall_known_extensions": False,
            "allow_community_extensions": False, "python_enable_replacements": False})
        con.execute("SET GLOBAL TimeZone = 'UTC'")  # GLOBAL: cursors inherit it
        con.execute("SET temp_directory = ?", [str(self.root / ".duckdb_tmp")])
        con.execute("SET allowed_directories = ?", [[str(self.base) + os.sep]])
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        return con

    def refresh(self, con: duckdb.DuckDBPyConnection, team_id: int | None = None,
                since: date | None = None, until: date | None = None) -> None:
        """Point the `history` view at the parts visible now (re-listing if a compaction races with it)."""
        for attempt in range(RETRIES):
            try:
                sql = _source_sql(self._parts(team_id, since, until))
                con.execute(f"CREATE OR REPLACE TEMP VIEW history AS {sql}")
                return
            except duckdb.IOException:
                if attempt == RETRIES - 1:
                    raise

    def _parts(self, team_id, since, until) -> list[Path]:
        """Visible parts, pruned; every path checked to lie inside the history folder."""
        parts = list_parts(self.root, team_id, since, until)
        for p in parts:
            if not p.resolve().is_relative_to(self.base):
                raise ValidationError(f"history part outside the history folder: {p}")
        return parts

    def rows(self, columns: list[str] | None = None, since: date | None = None, until: date | None = None,
             order_by: str | None = None, limit: int | None = None, **equals) -> pl.DataFrame:
        """History rows matching the filters (a list value means any of), as a Polars frame."""
        select = ", ".join(check_column(c) for c in columns or HISTORY_SCHEMA.names)
        where, params = _where(equals, since, until)
        sql = f"SELECT {select} FROM history{where}"
        sql += f" ORDER BY {check_column(order_by)}" if order_by else ""
        if limit is not None:
            if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
                raise ValidationError(f"limit must be a non-negative whole number, not {limit!r}")
            sql, params = sql + " LIMIT ?", params + [limit]
        return self._query(sql, params, equals, since, until, lambda r: r.pl())

    def count(self, since: date | None = None, until: date | None = None, **equals) -> int:
        """How many history rows match the filters."""
        where, params = _where(equals, since, until)
        sql = f"SELECT count(*) FROM history{where}"
        return self._query(sql, params, equals, since, until, lambda r: r.fetchall()[0][0])

    def _query(self, sql: str, params: list, equals: dict, since, until, fetch):
        """Run a query on a fresh pruned view; retry if a compaction deleted a listed part meanwhile."""
        team = equals.get("team_id")
        team = team if isinstance(team, int) and not isinstance(team, bool) else None
        for attempt in range(RETRIES):
            con = self.connect(team, since, until)
            try:
                return fetch(con.sql(sql, params=params))
            except duckdb.ConversionException as exc:
                raise ValidationError(f"a filter value does not fit its column: {exc}") from None
            except duckdb.IOException:
                if attempt == RETRIES - 1:
                    raise
            finally:
                con.close()


def _where(equals: dict, since: date | None, until: date | None) -> tuple[str, list]:
    """A WHERE clause with every value bound as a parameter and every column from the allowlist."""
    clauses, params = [], []
    for name, value in equals.items():
        col = check_column(name)
        if isinstance(value, (list, tuple, set, frozenset)):
            values = list(value)
            clauses.append(f"{col} IN ({', '.join(['?'] * len(values))})" if values else "false")
            params.extend(values)
        elif value is None:
            clauses.append(f"{col} IS NULL")
        else:
            clauses.append(f"{col} = ?")
            params.append(value)
    for op, bound in ((">=", since), ("<=", until)):
        if bound is not None and not isinstance(bound, date):
            raise ValidationError(f"a day bound must be a date, not {bound!r}")
        if bound is not None:
            clauses.append(f'"day" {op} ?')
            params.append(bound)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def finished_cells(root: Path, run_id: int) -> set[str]:
    """The cell keys already written for a run, so a resumed run skips them."""
    frame = HistoryReader(root).rows(columns=["cell_key"], run_id=run_id)
    return {key for key in frame["cell_key"].to_list() if not key.startswith(JUDGE_PREFIX)}
