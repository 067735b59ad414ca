"""Daily rollups and retention on real Parquet files and a real DuckDB in a temp folder."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal

from promptvault import analytics, rollups
from promptvault.analytics import Filters
from promptvault.history import HistoryReader, HistoryWriter, compact, generation, list_parts, partitions

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)
DAY0 = T0.date()


def make_row(i: int, team_id: int = 1, day_offset: int = 0, **extra) -> dict:
    """One history row; every fifth an error."""
    row = dict(run_id=1, cell_key=f"k{i}-{day_offset}", prompt_id=1, version_id=1 + i % 2,
               model=["m/a", "m/b"][i % 2], provider="p", error="x" if i % 5 == 0 else None,
               error_kind="timeout" if i % 10 == 0 else None, latency_ms=1.0 + i * 7.5, input_tokens=i,
               output_tokens=i + 1, cost_usd=0.01 * i, team_id=team_id, project_id=1, user_id=1 + i % 3,
               finished_at=T0 + timedelta(days=day_offset, seconds=i))
    row.update(extra)
    return row


def write(root: Path, rows: list[dict]) -> None:
    """Append and flush rows with a fresh writer."""
    writer = HistoryWriter(root)
    writer.append(rows)
    writer.flush()


def summed(root: Path, team_id: int | None = None) -> dict:
    """Calls, errors, tokens, cost and histogram counts summed over every rollup file."""
    files = rollups.rollup_files(root, None if team_id is None else [team_id])
    out: dict = {"hist": [0] * rollups.BUCKETS, "latency_calls": 0}
    for f in files:
        for row in pq.read_table(f).to_pylist():
            for k in ("calls", "errors", "input_tokens", "output_tokens", "cost_usd"):
                out[k] = out.get(k, 0) + row[k]
            if row["latency_bucket"] is not None:
                out["hist"][row["latency_bucket"]] += row["calls"]
                out["latency_calls"] += row["calls"]
    return out


def expected(rows: list[dict]) -> dict:
    """The same figures computed from the rows."""
    ok = [r for r in rows if r["error"] is None and r["error_kind"] is None]
    return {"calls": len(rows), "errors": len(rows) - len(ok), "input_tokens": sum(r["input_tokens"] for r in rows),
            "output_tokens": sum(r["output_tokens"] for r in rows), "cost_usd": sum(r["cost_usd"] for r in rows),
            "latency_calls": len(ok)}


def check(root: Path, rows: list[dict]) -> None:
    """The rollups hold exactly the figures of `rows`."""
    got, want = summed(root), expected(rows)
    assert {k: got.get(k, 0) for k in want} == {**want, "cost_usd": pytest.approx(want["cost_usd"])}
    assert sum(got["hist"]) == want["latency_calls"]


def test_rollups_refresh_builds_each_day_once_and_after_new_parts(tmp_path):
    rows = [make_row(i, day_offset=i % 3) for i in range(30)]
    write(tmp_path, rows)
    assert rollups.refresh(tmp_path) == 3
    assert rollups.refresh(tmp_path) == 0
    check(tmp_path, rows)
    more = [make_row(100 + i, day_offset=1) for i in range(7)]
    write(tmp_path, more)
    assert rollups.refresh(tmp_path) == 1  # only the day that got a new part
    check(tmp_path, rows + more)


def test_rollups_compaction_makes_a_day_stale_with_the_same_figures(tmp_path):
    rows = [make_row(i) for i in range(40)]
    for k in range(4):
        write(tmp_path, rows[k * 10:(k + 1) * 10])
    rollups.refresh(tmp_path)
    before = summed(tmp_path)
    assert compact(tmp_path, min_parts=2)
    meta = rollups.read_meta(rollups.rollup_dir(tmp_path, 1, DAY0))
    assert len(meta["sources"]) == 4 and not meta["final"]
    assert rollups.refresh(tmp_path) == 1
    assert summed(tmp_path) == {**before, "cost_usd": pytest.approx(before["cost_usd"])}
    assert rollups.read_meta(rollups.rollup_dir(tmp_path, 1, DAY0))["sources"] == [p.name for p in list_parts(tmp_path)]


def test_rollups_prune_by_team_and_day(tmp_path):
    write(tmp_path, [make_row(i, team_id=1 + i % 2, day_offset=(i // 2) % 4) for i in range(40)])
    assert rollups.refresh(tmp_path, team_id=2, since=DAY0 + timedelta(days=1), until=DAY0 + timedelta(days=2)) == 2
    assert [f.parent.parent.name + "/" + f.parent.name for f in rollups.rollup_files(tmp_path)] == [
        "team=2/day=2026-11-21", "team=2/day=2026-11-22"]
    assert rollups.refresh(tmp_path) == 6


def test_rollups_folder_is_not_a_raw_partition(tmp_path):
    write(tmp_path, [make_row(i) for i in range(5)])
    rollups.refresh(tmp_path)
    assert [(t, d) for t, d, _ in partitions(tmp_path)] == [(1, DAY0)]
    assert HistoryReader(tmp_path).count() == 5
    assert (tmp_path / "history" / "_rollups" / "team=1" / f"day={DAY0}" / "rollup.parquet").is_file()


def test_rollups_write_is_atomic_when_the_rename_fails(tmp_path, monkeypatch):
    rows = [make_row(i) for i in range(10)]
    write(tmp_path, rows)
    rollups.refresh(tmp_path)
    write(tmp_path, [make_row(50)])
    real = os.replace

    def failing(src, dst):
        if str(dst).endswith("rollup.parquet"):
            raise OSError("disk gone")
        return real(src, dst)

    monkeypatch.setattr(rollups.os, "replace", failing)
    with pytest.raises(OSError):
        rollups.refresh(tmp_path)
    monkeypatch.setattr(rollups.os, "replace", real)
    check(tmp_path, rows)  # the old rollup is whole, and still marked stale
    assert rollups.refresh(tmp_path) == 1
    check(tmp_path, rows + [make_row(50)])
    folder = rollups.rollup_dir(tmp_path, 1, DAY0)
    assert sorted(p.name for p in folder.iterdir() if not p.name.endswith(".tmp")) == [
        ".lock", "rollup.json", "rollup.parquet"]


def test_rollups_sidecar_names_the_visible_parts(tmp_path):
    write(tmp_path, [make_row(1)])
    write(tmp_path, [make_row(2)])
    rollups.refresh(tmp_path)
    meta = json.loads((rollups.rollup_dir(tmp_path, 1, DAY0) / "rollup.json").read_text())
    assert meta == {"sources": [p.name for p in list_parts(tmp_path)], "final": False, "calls": 2}


def test_rollups_retention_keeps_figures_and_drops_raw_rows(ctx, tmp_path):
    team = 1
    rows = [make_row(i, team_id=team, day_offset=i % 4, user_id=ctx.actor.user_id, prompt_id=None,
                     version_id=None, project_id=ctx.project_id) for i in range(80)]
    write(tmp_path, rows[:40])
    write(tmp_path, rows[40:])
    views = ("cost_over_time", "tokens", "errors", "top_users", "top_prompts", "versions")
    before = {v: analytics.view(ctx, tmp_path, v, Filters()) for v in views}
    totals = analytics.totals(ctx, tmp_path, Filters())
    cutoff = DAY0 + timedelta(days=2)
    assert rollups.drop_raw_before(tmp_path, cutoff) == 40
    assert [d for _, d, _ in partitions(tmp_path)] == [DAY0 + timedelta(days=2), DAY0 + timedelta(days=3)]
    assert HistoryReader(tmp_path).count() == 40
    after = analytics.totals(ctx, tmp_path, Filters())
    assert dataclasses.replace(after, cost_usd=pytest.approx(totals.cost_usd)) == totals
    for v in views:
        assert_frame_equal(analytics.view(ctx, tmp_path, v, Filters()), before[v])
    assert rollups.read_meta(rollups.rollup_dir(tmp_path, team, DAY0))["final"] is True
    assert rollups.refresh(tmp_path) == 0
    assert rollups.drop_raw_before(tmp_path, cutoff) == 0
    kept = [r for r in rows if r["finished_at"].date() >= cutoff]
    assert analytics.raw_rows(ctx, tmp_path, Filters()).height == len(kept)  # raw views: retained days only


def test_rollups_rows_written_after_a_drop_join_the_final_rollup(tmp_path):
    rows = [make_row(i) for i in range(10)]
    write(tmp_path, rows)
    rollups.drop_raw_before(tmp_path, DAY0 + timedelta(days=1))
    late = [make_row(20 + i) for i in range(3)]
    write(tmp_path, late)
    assert rollups.drop_raw_before(tmp_path, DAY0 + timedelta(days=1)) == 3
    check(tmp_path, rows + late)
    assert not list_parts(tmp_path)


def test_rollups_retention_refuses_a_non_date(tmp_path):
    with pytest.raises(Exception, match="date"):
        rollups.drop_raw_before(tmp_path, "2026-01-01")


@pytest.mark.parametrize("q", [0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 1.0])
def test_rollups_percentile_within_the_stated_bound(tmp_path, q):
    rng = random.Random(7)
    latencies = [math.exp(rng.uniform(0, math.log(600_000))) for _ in range(2000)]
    write(tmp_path, [make_row(1000 + i, latency_ms=x, error=None, error_kind=None) for i, x in enumerate(latencies)])
    rollups.refresh(tmp_path)
    counts = summed(tmp_path)["hist"]
    xs = sorted(latencies)
    exact = xs[max(1, math.ceil(q * len(xs))) - 1]
    assert abs(rollups.percentile(counts, q) - exact) / exact <= math.sqrt(rollups.RATIO) - 1 + 1e-9


@pytest.mark.parametrize("counts, q, want", [
    ([0] * rollups.BUCKETS, 0.5, None),
    ([3] + [0] * (rollups.BUCKETS - 1), 0.5, 0.5),
    ([0] * (rollups.BUCKETS - 1) + [1], 0.99, rollups.RATIO ** 60),
    ([0, 1] + [0] * (rollups.BUCKETS - 2), 0.5, math.sqrt(1.25)),
])
def test_rollups_percentile_edges(counts, q, want):
    assert rollups.percentile(counts, q) == (want if want is None else pytest.approx(want))


@pytest.mark.parametrize("ms, bucket", [(0.2, 0), (1.0, 1), (1.24, 1), (1.26, 2), (10_000_000.0, 61)])
def test_rollups_bucket_of_a_latency(tmp_path, ms, bucket):
    write(tmp_path, [make_row(1, latency_ms=ms, error=None)])
    rollups.refresh(tmp_path)
    got = summed(tmp_path)
    assert [i for i, n in enumerate(got["hist"]) if n] == [bucket]
    lo, hi = rollups.bucket_bounds(bucket)
    assert lo <= ms < hi


def test_rollups_generation_changes_on_flush_compaction_and_drop(tmp_path):
    assert generation(tmp_path, 1) is None
    seen = []
    for k in range(4):
        write(tmp_path, [make_row(10 * k + i) for i in range(10)])
        seen.append(generation(tmp_path, 1))
    assert compact(tmp_path, team_id=1, min_parts=2)
    seen.append(generation(tmp_path, 1))
    assert not compact(tmp_path, team_id=1, min_parts=2)  # nothing to merge: nothing changed
    assert generation(tmp_path, 1) == seen[-1]
    rollups.drop_raw_before(tmp_path, DAY0 + timedelta(days=1))
    seen.append(generation(tmp_path, 1))
    assert None not in seen and len(set(seen)) == len(seen)
    assert generation(tmp_path, 2) is None  # another team's token is its own


def test_rollups_views_follow_compaction_and_retention_through_the_cache(ctx, tmp_path):
    rows = [make_row(i, user_id=ctx.actor.user_id, project_id=ctx.project_id, prompt_id=None, version_id=None,
                     day_offset=i % 2) for i in range(40)]
    for k in range(4):
        write(tmp_path, rows[k * 10:(k + 1) * 10])
    before = analytics.totals(ctx, tmp_path, Filters())
    assert analytics.raw_rows(ctx, tmp_path, Filters()).height == 40
    assert compact(tmp_path, min_parts=2)
    assert analytics.raw_rows(ctx, tmp_path, Filters()).height == 40  # the cached listing was dropped
    rollups.drop_raw_before(tmp_path, DAY0 + timedelta(days=1))
    assert analytics.raw_rows(ctx, tmp_path, Filters()).height == 20
    after = analytics.totals(ctx, tmp_path, Filters())
    assert dataclasses.replace(after, cost_usd=pytest.approx(before.cost_usd)) == before
