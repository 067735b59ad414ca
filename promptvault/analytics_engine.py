"""The analytics engine: one locked DuckDB per history root, and per-team caches kept valid by generation tokens.

Split from promptvault.analytics (which resolves filters and shapes the views); this module only runs SQL
over the right files and remembers what an unchanged history lets it remember.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import polars as pl

from promptvault import history, rollups
from promptvault.errors import ValidationError

if TYPE_CHECKING:
    from promptvault.analytics import Scope

SUMS = ("calls", "errors", "input_tokens", "output_tokens", "cost_usd", "latency_sum_ms")
DUCK_TYPES = {"int32": "INTEGER", "int64": "BIGINT", "string": "VARCHAR", "double": "DOUBLE", "date32[day]": "DATE"}


class Engine:
    """One locked DuckDB per history root in this process, and what each team's generation token keeps valid.

    Queries run on cursors (one per call: DuckDB connections are not safe across threads; a cursor shares the
    database and its lock-down, and keeps its temp views to itself, so one actor's views never reach
    another's query). Per team it caches the visible raw parts and the rollup files, and a few aggregate
    results, all keyed by the team's generation token (see history.generation): an unchanged history costs
    one small file read per team, and any flush, compaction or drop invalidates them."""

    def __init__(self, root: Path):
        self.reader = history.HistoryReader(root)
        self.root = self.reader.root
        self.con = self.reader.shared()
        self.lock = threading.Lock()
        self.raw: dict[int, tuple[str | None, list[tuple[date, Path]]]] = {}
        self.facts: dict[int, tuple[str | None, list[tuple[date, Path]]]] = {}
        self.memo: OrderedDict[tuple, pl.DataFrame] = OrderedDict()

    def tokens(self, team_ids: tuple[int, ...]) -> tuple[tuple[int, str | None], ...]:
        """Each team's generation token, read before anything is listed."""
        return tuple((t, history.generation(self.root, t)) for t in team_ids)

    def files(self, tokens, since: date | None, until: date | None, facts: bool) -> list[Path]:
        """The raw parts (or, with `facts`, the refreshed rollup files) of the teams in the day range."""
        return [p for _, p in self.dated(tokens, since, until, facts)]

    def dated(self, tokens, since: date | None, until: date | None, facts: bool) -> list[tuple[date, Path]]:
        """Like `files`, each with its day."""
        out = []
        for team_id, token in tokens:
            cache = self.facts if facts else self.raw
            with self.lock:
                hit = cache.get(team_id)
            if hit is None or hit[0] != token:
                hit = (token, self._list(team_id, facts))
                with self.lock:
                    cache[team_id] = hit
            out += [(d, p) for d, p in hit[1] if (since is None or d >= since) and (until is None or d <= until)]
        return out

    def _list(self, team_id: int, facts: bool) -> list[tuple[date, Path]]:
        """List one team's raw parts, or refresh its rollups and list their files, with their days (checked
        to lie inside the history folder)."""
        if facts:
            rollups.refresh(self.root, team_id)
            found = [(date.fromisoformat(f.parent.name[4:]), f) for f in rollups.rollup_files(self.root, [team_id])]
        else:
            found = [(d, p) for _, d, folder in history.partitions(self.root, team_id)
                     for p in history.visible_parts(folder)]
        for _, p in found:
            if not p.resolve().is_relative_to(self.reader.base):
                raise ValidationError(f"history file outside the history folder: {p}")
        return found

    def forget(self, team_ids: tuple[int, ...]) -> None:
        """Drop the listings of these teams (a listed file vanished: list again)."""
        with self.lock:
            for t in team_ids:
                self.raw.pop(t, None)
                self.facts.pop(t, None)

    def cursor(self, scope: Scope, tokens, facts: bool, only: list[Path] | None = None) -> duckdb.DuckDBPyConnection:
        """A cursor whose temp views `history` (raw parts, unless `facts`) and `rollups` cover only the scope
        (`only`: exactly these rollup files, taken from the scope's listing)."""
        raw = [] if facts else self.files(tokens, scope.since, scope.until, facts=False)
        files = (self.files(tokens, scope.since, scope.until, facts=True) if only is None else only) if facts else []
        cur = self.con.cursor()
        try:
            cur.execute(f"CREATE TEMP VIEW history AS {history._source_sql(raw)}")
            cur.execute(f"CREATE TEMP VIEW rollups AS {_rollup_source(files)}")
        except BaseException:
            cur.close()
            raise
        return cur

    def recall(self, key: tuple) -> pl.DataFrame | None:
        """A remembered result (frames are immutable, so it is shared as is)."""
        with self.lock:
            frame = self.memo.get(key)
            if frame is not None:
                self.memo.move_to_end(key)
            return frame

    def remember(self, key: tuple, frame: pl.DataFrame) -> None:
        """Keep a small aggregate result until its teams' tokens change (least recently used go first)."""
        with self.lock:
            self.memo[key] = frame
            while len(self.memo) > _MEMO_SIZE:
                self.memo.popitem(last=False)


_MEMO_SIZE = 128
_ENGINES: OrderedDict[tuple[int, Path], Engine] = OrderedDict()
_ENGINES_LOCK = threading.Lock()


def for_root(root: Path) -> Engine:
    """The engine of this process for `root` (a few roots kept; a forked child makes its own)."""
    key = (os.getpid(), Path(root).resolve())
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = _ENGINES[key] = Engine(root)
            while len(_ENGINES) > 8:
                _ENGINES.popitem(last=False)
        _ENGINES.move_to_end(key)
        return engine


def _rollup_source(files: list[Path]) -> str:
    """SQL reading the given rollup files, or an empty relation of the rollup columns."""
    if files:
        return f"SELECT * FROM read_parquet([{', '.join(history._sql_str(str(f)) for f in files)}])"
    cols = ", ".join(f"CAST(NULL AS {DUCK_TYPES[str(f.type)]}) AS {f.name}" for f in rollups.ROLLUP_SCHEMA)
    return f"SELECT {cols} WHERE false"


def query_split(root: Path, scope: Scope, sql: str, params: list, cols: list[str], hist: bool) -> pl.DataFrame:
    """A rollup query as (older days, remembered while their rollup files stay the same) merged with (the newest
    day, run again): a flush for today re-reads one day's rollups, not every day's."""
    engine = for_root(root)
    tokens = engine.tokens(scope.team_ids)
    key = (sql, tuple(params), tokens, True)
    if (hit := engine.recall(key)) is not None:
        return hit
    dated = engine.dated(tokens, scope.since, scope.until, facts=True)
    newest = max((d for d, _ in dated), default=None)
    older = [p for d, p in dated if d != newest]
    try:
        stamp = tuple((str(p), st.st_mtime_ns, st.st_size, st.st_ino) for p in older for st in [p.stat()])
    except FileNotFoundError:  # a rollup vanished meanwhile: no split this time
        return query(root, scope, sql, params, facts=True, memo=True)
    base_key = ("older days", sql, tuple(params), stamp)
    base = engine.recall(base_key)
    if base is None:
        base = query(root, scope, sql, params, facts=True, only=older)
        engine.remember(base_key, base)
    recent = query(root, scope, sql, params, facts=True, only=[p for d, p in dated if d == newest])
    frame = _merge_grouped(base, recent, cols, hist)
    engine.remember(key, frame)
    return frame


def _merge_grouped(a: pl.DataFrame, b: pl.DataFrame, cols: list[str], hist: bool) -> pl.DataFrame:
    """Two `_grouped` results over disjoint days as one: sums added, histograms merged bucket by bucket."""
    both = pl.concat([a, b])
    sums = [pl.col(c).sum() for c in (*SUMS, "latency_calls")]
    out = both.group_by(cols, maintain_order=True).agg(sums) if cols else both.select(sums)
    if hist:
        pairs = both.select(cols + ["hist_b", "hist_n"]).explode(["hist_b", "hist_n"]).drop_nulls("hist_b")
        pairs = pairs.group_by(cols + ["hist_b"]).agg(pl.col("hist_n").sum()).sort("hist_b")
        if cols:
            lists = pairs.group_by(cols, maintain_order=True).agg("hist_b", "hist_n")
            out = out.join(lists, on=cols, how="left", nulls_equal=True)
        else:  # one row; no bucket at all stays null, as DuckDB answers
            out = out.with_columns(
                pl.Series("hist_b", [pairs["hist_b"].to_list() or None], dtype=a.schema["hist_b"]),
                pl.Series("hist_n", [pairs["hist_n"].to_list() or None], dtype=a.schema["hist_n"]))
    return out.select(a.columns).cast(a.schema)


def query(root: Path, scope: Scope, sql: str, params: list, facts: bool, memo: bool = False,
           only: list[Path] | None = None) -> pl.DataFrame:
    """Run a query on a cursor of the root's engine (remembered with `memo`); retry when a listed file vanished."""
    engine = for_root(root)
    for attempt in range(history.RETRIES):
        tokens = engine.tokens(scope.team_ids)
        key = (sql, tuple(params), tokens, facts)
        if memo and (hit := engine.recall(key)) is not None:
            return hit
        cur = engine.cursor(scope, tokens, facts, only)
        try:
            frame = cur.sql(sql, params=params).pl()
        except duckdb.ConversionException as exc:
            raise ValidationError(f"a filter value does not fit its column: {exc}") from None
        except duckdb.IOException:
            engine.forget(scope.team_ids)
            if attempt == history.RETRIES - 1:
                raise
            continue
        finally:
            cur.close()
        if memo:
            engine.remember(key, frame)
        return frame
    raise AssertionError("unreachable")


# --- export --------------------------------------------------------------------------------------------
