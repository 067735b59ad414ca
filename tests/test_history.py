"""The run history on real Parquet files and a real DuckDB in a temp folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from promptvault.errors import ValidationError
from promptvault.history import (
    ALLOWED_COLUMNS,
    HISTORY_SCHEMA,
    HistoryReader,
    HistoryWriter,
    compact,
    finished_cells,
    list_parts,
    visible_parts,
)

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 11, 26, 10, 0, tzinfo=timezone.utc)


def make_row(i: int, run_id: int = 1, team_id: int = 1, day_offset: int = 0, **extra) -> dict:
    """One complete, realistic history row."""
    row = dict(
        run_id=run_id, cell_key=f"v1|gpt|case{i}|0", prompt_id=3, version_id=7, model="openai/gpt-4o-mini",
        provider="openai", rendered_input='[{"role": "user", "content": "hi"}]', output=f"answer {i}",
        finish_reason="stop", error=None, error_kind=None, attempts=1, latency_ms=123.5, ttft_ms=40.25,
        input_tokens=12, output_tokens=34, cost_usd=0.00012, cache_hit=False, evaluations='{"exact": true}',
        team_id=team_id, project_id=2, user_id=9, started_at=T0 + timedelta(days=day_offset),
        finished_at=T0 + timedelta(days=day_offset, seconds=1),
    )
    row.update(extra)
    return row


def write(root: Path, rows: list[dict]) -> list:
    """Append and flush rows with a fresh writer."""
    writer = HistoryWriter(root)
    writer.append(rows)
    return writer.flush()


def all_parquet(root: Path) -> list[Path]:
    """Every file under the history folder whose name ends in .parquet."""
    return sorted((root / "history").rglob("*.parquet"))


def cell_counts(root: Path) -> Counter:
    """How many times the reader sees each cell key."""
    return Counter(HistoryReader(root).rows(columns=["cell_key"])["cell_key"].to_list())


def test_history_round_trip_preserves_values_and_types(tmp_path):
    row = make_row(1, error="boom", error_kind="timeout", cache_hit=True, attempts=3)
    write(tmp_path, [row])
    frame = HistoryReader(tmp_path).rows()
    assert frame.columns == HISTORY_SCHEMA.names
    got = frame.to_dicts()[0]
    assert got == {**row, "day": date(2026, 11, 26)}
    assert str(frame.schema["attempts"]) == "Int32" and str(frame.schema["day"]) == "Date"
    assert frame.schema["finished_at"].time_zone == "UTC"


def test_history_json_columns_accept_structures(tmp_path):
    write(tmp_path, [make_row(1, rendered_input=[{"role": "user", "content": "x"}], evaluations={"ok": 1})])
    got = HistoryReader(tmp_path).rows().to_dicts()[0]
    assert got["rendered_input"] == '[{"role": "user", "content": "x"}]' and got["evaluations"] == '{"ok": 1}'


def test_history_day_is_utc_date_of_finished_at(tmp_path):
    late = datetime(2026, 11, 27, 1, 0, tzinfo=timezone(timedelta(hours=5)))  # 20:00 UTC the day before
    write(tmp_path, [make_row(1, finished_at=late)])
    assert HistoryReader(tmp_path).rows()["day"].to_list() == [date(2026, 11, 26)]


def test_history_partition_layout_one_part_per_partition_per_flush(tmp_path):
    rows = [make_row(i, team_id=i % 2 + 1, day_offset=i % 3) for i in range(600)]
    written = write(tmp_path, rows)
    assert len(written) == 6 and sum(w.rows for w in written) == 600
    names = {p.relative_to(tmp_path).parent.as_posix() for p in all_parquet(tmp_path)}
    assert names == {f"history/team={t}/day=2026-11-{26 + d}" for t in (1, 2) for d in range(3)}
    assert len(all_parquet(tmp_path)) == 6  # not one file per row
    write(tmp_path, rows[:10])
    assert len(all_parquet(tmp_path)) == 12  # the second flush adds parts, rewrites none
    assert HistoryReader(tmp_path).count() == 610


def test_history_flush_returns_what_it_wrote_and_empties_buffer(tmp_path):
    writer = HistoryWriter(tmp_path)
    writer.append([make_row(i) for i in range(5)])
    writer.append([make_row(i + 5) for i in range(5)])
    assert writer.pending_rows() == 10
    (part,) = writer.flush()
    assert part.rows == 10 and part.team_id == 1 and part.day == date(2026, 11, 26) and part.path.exists()
    assert writer.flush() == [] and writer.pending_rows() == 0


def test_history_writer_is_thread_safe(tmp_path):
    writer = HistoryWriter(tmp_path)

    def work(n):
        writer.append([make_row(n * 100 + i) for i in range(100)])
        writer.flush()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, range(40)))
    writer.flush()
    counts = cell_counts(tmp_path)
    assert len(counts) == 4000 and set(counts.values()) == {1}


@pytest.mark.parametrize(
    "change, column",
    [
        ({"run_id": "1"}, "run_id"),
        ({"run_id": None}, "run_id"),
        ({"attempts": 1.5}, "attempts"),
        ({"attempts": 2**40}, "attempts"),
        ({"attempts": True}, "attempts"),
        ({"cache_hit": 1}, "cache_hit"),
        ({"latency_ms": "fast"}, "latency_ms"),
        ({"output": 42}, "output"),
        ({"finished_at": datetime(2026, 1, 1)}, "finished_at"),  # naive: which zone?
        ({"finished_at": "2026-01-01"}, "finished_at"),
        ({"team_id": None}, "team_id"),
        ({"day": date(2020, 1, 1)}, "day"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_history_schema_violation_names_the_column(tmp_path, change, column):
    writer = HistoryWriter(tmp_path)
    with pytest.raises(ValidationError, match=column):
        writer.append([make_row(1), make_row(2, **change)])
    assert writer.pending_rows() == 0 and not all_parquet(tmp_path)


def test_history_reader_skips_temp_and_foreign_files(tmp_path):
    write(tmp_path, [make_row(i) for i in range(3)])
    folder = all_parquet(tmp_path)[0].parent
    (folder / ".part-0000000000000000-0000000000000000.parquet.tmp").write_bytes(b"PAR1 half-writ")
    (folder / "notes.parquet").write_bytes(b"not ours")
    assert HistoryReader(tmp_path).count() == 3


def test_history_empty_history_has_zero_rows_and_all_columns(tmp_path):
    reader = HistoryReader(tmp_path)
    frame = reader.rows()
    assert frame.height == 0 and frame.columns == HISTORY_SCHEMA.names
    assert reader.count() == 0 and finished_cells(tmp_path, 1) == set()


@pytest.mark.parametrize(
    "filters",
    [
        {"model": "1 OR 1=1"},
        {"model": "'; DROP TABLE x; --"},
        {"provider": "openai' OR '1'='1"},
        {"cell_key": ["x", "') OR true --"]},
        {"output": "answer 1\"; SELECT 1; --"},
    ],
)
def test_history_filter_values_are_literals(tmp_path, filters):
    write(tmp_path, [make_row(i) for i in range(3)])
    reader = HistoryReader(tmp_path)
    assert reader.count(**filters) == 0 and reader.rows(**filters).height == 0
    assert reader.count() == 3


def test_history_filter_value_of_wrong_type_is_refused(tmp_path):
    write(tmp_path, [make_row(1)])
    with pytest.raises(ValidationError):
        HistoryReader(tmp_path).rows(run_id="1 OR 1=1")


def test_history_filters_select_matching_rows(tmp_path):
    rows = [make_row(i, run_id=i % 3, team_id=i % 2 + 1, day_offset=i % 4) for i in range(120)]
    write(tmp_path, rows)
    reader = HistoryReader(tmp_path)
    assert reader.count(run_id=1) == 40
    assert reader.count(team_id=2, run_id=[0, 1]) == sum(1 for r in rows if r["team_id"] == 2 and r["run_id"] < 2)
    assert reader.count(since=date(2026, 11, 27), until=date(2026, 11, 28)) == 60
    assert reader.count(error=None) == 120
    assert reader.rows(columns=["cell_key"], order_by="cell_key", limit=2).height == 2


@pytest.mark.parametrize(
    "call",
    [
        lambda r: r.rows(columns=["cell_key; DROP TABLE x"]),
        lambda r: r.rows(columns=["*"]),
        lambda r: r.rows(order_by="1; SELECT 1"),
        lambda r: r.rows(**{"model = model OR 1": "x"}),
        lambda r: r.count(colour="red"),
        lambda r: r.count(since="2026-11-26 OR 1=1"),
    ],
)
def test_history_identifiers_come_from_allowlist(tmp_path, call):
    with pytest.raises(ValidationError):
        call(HistoryReader(tmp_path))
    assert "cell_key" in ALLOWED_COLUMNS


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/hostname')",
        "SELECT * FROM read_parquet('{root}/outside.parquet')",
        "SELECT * FROM read_parquet('{root}/history/../outside.parquet')",
        "SELECT * FROM glob('/etc/*')",
        "ATTACH '{root}/other.db'",
        "COPY (SELECT 1) TO '{root}/out.csv'",
        "SELECT * FROM read_parquet('https://example.com/x.parquet')",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access = true",
        "SET allowed_directories = ['/']",
        "SET autoload_known_extensions = true",
    ],
)
def test_history_duckdb_cannot_leave_the_history_folder(tmp_path, sql):
    write(tmp_path, [make_row(1)])
    pq.write_table(pa.table({"a": [1]}), tmp_path / "outside.parquet")
    con = HistoryReader(tmp_path).connect()
    with pytest.raises(duckdb.Error):
        con.execute(sql.format(root=tmp_path))
    assert con.execute("SELECT count(*) FROM history").fetchone()[0] == 1


def test_history_duckdb_extension_autoload_is_off(tmp_path):
    con = HistoryReader(tmp_path).connect()
    settings = dict(con.execute(
        "SELECT name, value FROM duckdb_settings() WHERE name IN ('autoload_known_extensions', "
        "'autoinstall_known_extensions', 'enable_external_access', 'lock_configuration')").fetchall())
    assert settings == {"autoload_known_extensions": "false", "autoinstall_known_extensions": "false",
                        "enable_external_access": "false", "lock_configuration": "true"}


def test_history_finished_cells(tmp_path):
    write(tmp_path, [make_row(i, run_id=5) for i in range(3)] + [make_row(9, run_id=6)])
    assert finished_cells(tmp_path, 5) == {f"v1|gpt|case{i}|0" for i in range(3)}
    assert finished_cells(tmp_path, 6) == {"v1|gpt|case9|0"} and finished_cells(tmp_path, 7) == set()


def flush_in_batches(root: Path, batches: int, size: int = 5, **kw) -> None:
    """Flush `batches` small parts into one partition."""
    for b in range(batches):
        write(root, [make_row(b * size + i, **kw) for i in range(size)])


def test_history_compact_merges_parts_and_keeps_rows(tmp_path):
    flush_in_batches(tmp_path, 6)
    flush_in_batches(tmp_path, 2, team_id=2)
    before = HistoryReader(tmp_path).rows().sort("cell_key")
    written = compact(tmp_path, min_parts=4)
    assert len(written) == 1 and written[0].rows == 30 and written[0].team_id == 1
    assert len(all_parquet(tmp_path)) == 3  # team 1 merged; team 2 has too few parts to bother
    after = HistoryReader(tmp_path).rows().sort("cell_key")
    assert after.equals(before)
    assert sorted(p.name for p in (tmp_path / "history/team=1/day=2026-11-26").iterdir()) == [
        ".compact.lock", written[0].path.name]


def test_history_compact_respects_target_rows(tmp_path):
    flush_in_batches(tmp_path, 10)
    written = compact(tmp_path, min_parts=2, target_rows=20)
    assert [w.rows for w in written] == [20, 20, 10]
    assert HistoryReader(tmp_path).count() == 50 and len(all_parquet(tmp_path)) == 3


class Crash(Exception):
    """Stands in for a SIGKILL at one step of a compaction."""


def compaction_steps(tmp_path) -> list[str]:
    """The hook calls of one full compaction of three parts."""
    flush_in_batches(tmp_path / "probe", 3)
    steps: list[str] = []
    compact(tmp_path / "probe", min_parts=2, hook=steps.append)
    return steps


def test_history_compaction_has_the_documented_steps(tmp_path):
    assert compaction_steps(tmp_path) == ["start", "temp-written", "marker-written", "published",
                                          "old-deleted", "old-deleted", "old-deleted", "done"]


@pytest.mark.parametrize("crash_at", range(8))
def test_history_compaction_crash_at_any_step_loses_and_repeats_nothing(tmp_path, crash_at):
    root = tmp_path / "data"
    flush_in_batches(root, 3)
    expected = {f"v1|gpt|case{i}|0": 1 for i in range(15)}
    calls = []

    def hook(step):
        calls.append(step)
        if len(calls) == crash_at + 1:
            raise Crash(step)

    with pytest.raises(Crash):
        compact(root, min_parts=2, hook=hook)
    assert cell_counts(root) == expected  # between the crash and the re-run
    compact(root, min_parts=2)
    assert cell_counts(root) == expected
    folder = root / "history/team=1/day=2026-11-26"
    assert len(visible_parts(folder)) == 1 and len(all_parquet(root)) == 1
    assert not [p for p in folder.iterdir() if p.name.startswith("_compacted") or p.name.endswith(".tmp")]


def test_history_compaction_leaves_fresh_temp_files_of_live_writers(tmp_path):
    flush_in_batches(tmp_path, 2)
    folder = all_parquet(tmp_path)[0].parent
    fresh, stale = folder / ".part-a.parquet.tmp", folder / ".part-b.parquet.tmp"
    fresh.write_bytes(b"in progress")
    stale.write_bytes(b"left by a killed writer")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    compact(tmp_path)
    assert fresh.exists() and not stale.exists()


KILL_CHILD = """
import sys, time
sys.path.insert(0, {root!r})
sys.path.insert(0, {tests!r})
from test_history import make_row
from promptvault.history import HistoryWriter
calls = []
def hook(step):
    calls.append(step)
    if len(calls) == 3:
        print("MIDWAY", flush=True)
        time.sleep(60)
writer = HistoryWriter({data!r}, hook=hook, row_group_rows=10)
writer.append([make_row(100 + i) for i in range(100)])
writer.flush()
"""


def test_history_sigkill_mid_flush_leaves_no_visible_part(tmp_path):
    write(tmp_path, [make_row(i) for i in range(5)])
    script = KILL_CHILD.format(root=str(ROOT), tests=str(ROOT / "tests"), data=str(tmp_path))
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "MIDWAY"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    folder = all_parquet(tmp_path)[0].parent
    temps = [p for p in folder.iterdir() if p.name.endswith(".tmp")]
    assert len(temps) == 1 and temps[0].stat().st_size > 0  # a half-written file is really there
    assert len(all_parquet(tmp_path)) == 1 and HistoryReader(tmp_path).count() == 5
    assert len(list_parts(tmp_path)) == 1 and compact(tmp_path, min_parts=1) == []


def test_history_compaction_crash_during_rerun_then_rerun_completes(tmp_path):
    flush_in_batches(tmp_path, 4)
    expected = {f"v1|gpt|case{i}|0": 1 for i in range(20)}

    def crash_when(wanted):
        def hook(step):
            if step == wanted:
                raise Crash(step)
        return hook

    with pytest.raises(Crash):
        compact(tmp_path, min_parts=2, hook=crash_when("published"))
    write(tmp_path, [make_row(99)])  # a flush between the crash and the re-run
    expected["v1|gpt|case99|0"] = 1
    with pytest.raises(Crash):
        compact(tmp_path, min_parts=2, hook=crash_when("marker-written"))
    assert cell_counts(tmp_path) == expected
    compact(tmp_path, min_parts=2)
    assert cell_counts(tmp_path) == expected and len(all_parquet(tmp_path)) == 1


def test_history_readers_during_compaction_see_every_row_once(tmp_path):
    flush_in_batches(tmp_path, 40, size=3)
    stop, rounds = threading.Event(), []

    def churn():
        while not stop.is_set():  # every round rewrites the run-1 rows into a new part
            write(tmp_path, [make_row(1000 + i, run_id=2) for i in range(3)])
            rounds.append(compact(tmp_path, min_parts=2, target_rows=10_000))

    worker = threading.Thread(target=churn)
    worker.start()
    try:
        reader, reads, deadline = HistoryReader(tmp_path), 0, time.monotonic() + 60
        while (reads < 40 or len(rounds) <= 5) and time.monotonic() < deadline:  # overlap many compactions
            assert reader.count(run_id=1) == 120
            reads += 1
    finally:
        stop.set()
        worker.join()
    assert len(rounds) > 5 and all(rounds)


KILL_COMPACT_CHILD = """
import sys, time
sys.path.insert(0, {root!r})
from promptvault.history import compact
def hook(step):
    if step == {step!r}:
        print("AT STEP", flush=True)
        time.sleep(60)
compact({data!r}, min_parts=2, hook=hook)
"""


@pytest.mark.parametrize("step", ["start", "temp-written", "marker-written", "published", "old-deleted"])
def test_history_sigkill_mid_compaction_then_rerun(tmp_path, step):
    flush_in_batches(tmp_path, 3)
    expected = cell_counts(tmp_path)
    script = KILL_COMPACT_CHILD.format(root=str(ROOT), data=str(tmp_path), step=step)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "AT STEP"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert cell_counts(tmp_path) == expected
    compact(tmp_path, min_parts=2)  # the kernel released the dead process's lock
    assert cell_counts(tmp_path) == expected and len(all_parquet(tmp_path)) == 1


@pytest.mark.parametrize("fail_at", [1, 2])
def test_history_failed_flush_keeps_unwritten_rows_buffered(tmp_path, fail_at):
    seen = []

    def hook(step):
        seen.append(step)
        if seen.count("temp-written") == fail_at and step == "temp-written" and len(seen) < 100:
            seen.extend(["x"] * 100)  # fail once only
            raise OSError("disk full")

    writer = HistoryWriter(tmp_path, hook=hook)
    writer.append([make_row(i, team_id=i % 2 + 1) for i in range(10)])
    with pytest.raises(OSError):
        writer.flush()
    assert writer.pending_rows() == (10 if fail_at == 1 else 5)
    assert not list((tmp_path / "history").rglob("*.tmp"))
    assert len(writer.flush()) == 3 - fail_at
    assert cell_counts(tmp_path) == {f"v1|gpt|case{i}|0": 1 for i in range(10)}


def test_history_root_with_quote_and_space_in_path(tmp_path):
    root = tmp_path / "it's a data folder"
    write(root, [make_row(i) for i in range(3)])
    assert HistoryReader(root).count() == 3
    compact(root, min_parts=1)
    write(root, [make_row(9)])
    assert finished_cells(root, 1) == {f"v1|gpt|case{i}|0" for i in (0, 1, 2, 9)}


def test_history_limit_must_be_a_count(tmp_path):
    with pytest.raises(ValidationError):
        HistoryReader(tmp_path).rows(limit="1; DROP TABLE x")
