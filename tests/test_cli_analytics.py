"""`promptvault stats`, `export` and `history compact|prune` on a demo run plus old rows written to the history."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone

import pyarrow.parquet as pq
import pytest

from promptvault import history

HOSTILE = '=HYPERLINK("http://evil.example","click")'
OLD_DAYS = 40  # the old rows' age; `prune --older-than 30` drops them
DEMO_CALLS, OLD_CALLS = 12, 4
ALL_CALLS = DEMO_CALLS + OLD_CALLS


@pytest.fixture
def cli(cli_each_backend, tmp_path):
    """The demo's run (12 ok calls today, by the local user), then 4 old `fake/cheap` calls (one failed), a part each."""
    assert cli_each_backend("demo")[0] == 0
    root = tmp_path / "data"
    demo_row = history.HistoryReader(root).rows(limit=1, order_by="version_id").to_dicts()[0]
    finished = datetime.now(timezone.utc).replace(hour=12) - timedelta(days=OLD_DAYS)
    for i in range(OLD_CALLS):
        writer = history.HistoryWriter(root)
        writer.append([old_row(demo_row, i, finished)])
        writer.flush()
    return cli_each_backend


def old_row(demo_row: dict, i: int, finished: datetime) -> dict:
    """An old call on the demo's team, project, prompt v1 and user; call 0 is hostile, call 3 failed."""
    keep = ("run_id", "prompt_id", "version_id", "team_id", "project_id", "user_id")
    failed = i == 3
    return {**{k: demo_row[k] for k in keep}, "cell_key": f"old:{i}", "model": "fake/cheap", "provider": "fake",
            "output": None if failed else (HOSTILE if i == 0 else f"answer {i}"),
            "error": "429 slow down" if failed else None, "error_kind": "rate_limit" if failed else None,
            "attempts": 1, "latency_ms": 100.0 + i, "input_tokens": 10, "output_tokens": 0 if failed else 20,
            "cost_usd": 0.0 if failed else 0.01, "cache_hit": False, "started_at": finished, "finished_at": finished}


def stats_json(cli, *args) -> dict:
    """`promptvault stats --json` with extra arguments, parsed."""
    code, out, err = cli("stats", "--json", *args)
    assert code == 0, err
    return json.loads(out)


def raw_csv(cli, *args) -> list[dict]:
    """The raw rows `export --raw --format csv --out -` prints, parsed."""
    code, out, err = cli("export", "--raw", "--format", "csv", "--out", "-", *args)
    assert code == 0, err
    return list(csv.DictReader(io.StringIO(out, newline="")))


def test_stats_prints_totals_matching_the_rows_then_each_view(cli):
    code, out, _ = cli("stats")
    assert code == 0
    assert out.startswith(f"calls {ALL_CALLS}  errors 1  tokens ")
    assert "cost $0.0300" in out.splitlines()[0]
    for name in ("cost_over_time", "latency", "tokens", "errors", "versions", "top_users", "top_prompts", "budgets"):
        assert f"\n{name}\n" in out
    tokens = out.split("\ntokens\n")[1].splitlines()
    assert tokens[0].split() == ["MODEL", "CALLS", "INPUT", "TOKENS", "OUTPUT", "TOKENS"]
    assert {line.split()[0]: line.split()[1] for line in tokens[2:4]} == {"offline/echo": "12", "fake/cheap": "4"}


def test_stats_json_parses_and_matches_the_history(cli, tmp_path):
    rows = history.HistoryReader(tmp_path / "data").rows()
    result = stats_json(cli)
    totals = result["totals"]
    assert (totals["calls"], totals["errors"]) == (rows.height, rows["error_kind"].is_not_null().sum())
    assert totals["input_tokens"] == rows["input_tokens"].sum() and totals["cost_usd"] == pytest.approx(0.03)
    assert sum(r["calls"] for r in result["views"]["tokens"]) == ALL_CALLS
    assert set(result["views"]) == {"cost_over_time", "latency", "tokens", "errors", "versions", "top_users",
                                    "top_prompts", "budgets"}


def test_stats_one_view(cli):
    result = stats_json(cli, "--view", "errors")
    assert list(result["views"]) == ["errors"]
    [row] = result["views"]["errors"]
    assert (row["provider"], row["error_kind"], row["errors"]) == ("fake", "rate_limit", 1)


def days_ago(days: int) -> str:
    """A day `days` before today (UTC) as YYYY-MM-DD."""
    return (datetime.now(timezone.utc) - timedelta(days=days)).date().isoformat()


@pytest.mark.parametrize("args, calls", [
    ((), ALL_CALLS),
    (("--model", "fake/cheap"), OLD_CALLS),
    (("--provider", "offline"), DEMO_CALLS),
    (("--status", "error"), 1),
    (("--status", "ok", "--model", "fake/cheap"), OLD_CALLS - 1),
    (("--since", days_ago(1)), DEMO_CALLS),
    (("--until", days_ago(OLD_DAYS)), OLD_CALLS),
    (("--prompt", "summarize-ticket", "--version", "5"), DEMO_CALLS // 2),
    (("--team", "Default", "--project", "default", "--user", "local@promptvault", "--run", "1"), ALL_CALLS),
    (("--run", "99"), 0),
])
def test_filters_narrow_stats_and_raw_export(cli, args, calls):
    result = stats_json(cli, "--view", "tokens", *args)
    assert result["totals"]["calls"] == sum(r["calls"] for r in result["views"]["tokens"]) == calls
    assert len(raw_csv(cli, *args)) == calls


def test_export_csv_defangs_a_hostile_output_and_round_trips(cli, tmp_path):
    code, out, _ = cli("export", "--raw", "--model", "fake/cheap", "--out", "raw.csv")
    assert code == 0 and out == "wrote 4 raw rows as csv to raw.csv\n"
    with open(tmp_path / "raw.csv", encoding="utf-8", newline="") as f:
        text = f.read()
    assert text.startswith('"') and text.endswith('"\r\n') and HOSTILE not in text.replace("'" + HOSTILE, "")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert sorted(r["output"] for r in rows) == ["", "'" + HOSTILE, "answer 1", "answer 2"]
    assert {r["model"] for r in rows} == {"fake/cheap"}


def test_export_view_csv_to_stdout(cli):
    code, out, err = cli("export", "--view", "tokens", "--out", "-")
    rows = list(csv.DictReader(io.StringIO(out, newline="")))
    assert code == 0 and err == "wrote 2 rows of tokens as csv\n"
    assert {r["model"]: int(r["calls"]) for r in rows} == {"offline/echo": DEMO_CALLS, "fake/cheap": OLD_CALLS}


def test_export_parquet_round_trips(cli, tmp_path):
    assert cli("export", "--view", "tokens", "--format", "parquet", "--out", "tokens.parquet")[0] == 0
    table = pq.read_table(tmp_path / "tokens.parquet")
    assert table.column_names == ["model", "calls", "input_tokens", "output_tokens"]
    assert sum(table.column("calls").to_pylist()) == ALL_CALLS
    assert cli("export", "--raw", "--format", "parquet", "--out", "raw.parquet")[0] == 0
    raw = pq.read_table(tmp_path / "raw.parquet")
    assert raw.num_rows == ALL_CALLS and HOSTILE in raw.column("output").to_pylist()  # Parquet keeps the value


@pytest.mark.parametrize("args, message", [
    (("stats", "--view", "nope"), "nope"),
    (("export", "--view", "nope", "--out", "x.csv"), "nope"),
    (("export", "--out", "x.csv"), "error: give either --view NAME or --raw (exactly one)\n"),
    (("export", "--raw", "--view", "tokens", "--out", "x.csv"), "error: give either --view NAME or --raw"),
    (("export", "--raw", "--format", "parquet", "--out", "-"), "error: Parquet is binary: give --out FILE"),
])
def test_bad_requests_are_one_line_errors(cli, args, message):
    code, out, err = cli(*args)
    assert code == 1 and out == "" and err.startswith("error: ") and message in err and err.count("\n") == 1


def test_a_team_the_user_is_not_in_is_refused(cli, cheap_hashing):
    assert cli("users", "add", "admin@example.com", "--password-stdin", input="correct horse battery staple\n")[0] == 0
    for args in (("teams", "add", "Secret"), ("users", "add", "bob@example.com", "--no-password"),
                 ("members", "add", "Default", "bob@example.com", "--role", "viewer")):
        assert cli(*args)[0] == 0
    assert stats_json(cli, "--team", "Secret")["totals"]["calls"] == 0  # the owner sees an empty team
    for args in (("stats", "--team", "Secret"), ("export", "--raw", "--team", "Secret", "--out", "-")):
        code, out, err = cli("--as", "bob@example.com", *args)
        assert code == 1 and out == "" and err.startswith("error: ") and "no such team" in err
    assert stats_json(cli, "--team", "Default")["totals"]["calls"] == ALL_CALLS


def old_partition_parts(tmp_path) -> int:
    """How many visible parts the old rows' day has."""
    return len(history.list_parts(tmp_path / "data", since=datetime.fromisoformat(days_ago(OLD_DAYS)).date(),
                                  until=datetime.fromisoformat(days_ago(OLD_DAYS)).date()))


def test_history_compact_merges_the_small_parts(cli, tmp_path):
    assert old_partition_parts(tmp_path) == OLD_CALLS
    code, out, _ = cli("history", "compact", "--json")
    result = json.loads(out)
    assert code == 0 and old_partition_parts(tmp_path) == 1
    assert result["parts_before"] - result["parts_after"] == OLD_CALLS - 1 and result["rows_merged"] == OLD_CALLS
    assert stats_json(cli)["totals"]["calls"] == ALL_CALLS
    after = result["parts_after"]
    assert cli("history", "compact")[1] == f"parts: {after} → {after} (0 merged parts, 0 rows)\n"


def test_history_prune_drops_old_raw_rows_and_keeps_the_totals(cli):
    counted = ("calls", "errors", "input_tokens", "output_tokens", "cost_usd")
    before = {k: stats_json(cli, "--view", "tokens")["totals"][k] for k in counted}
    code, out, err = cli("history", "prune", "--older-than", "30", input="n\n")
    assert code == 1 and "nothing dropped" in err and len(raw_csv(cli)) == ALL_CALLS
    code, out, _ = cli("history", "prune", "--older-than", "30", "--yes")
    assert code == 0 and out.startswith(f"dropped {OLD_CALLS} raw rows of days before {days_ago(30)};")
    assert len(raw_csv(cli)) == DEMO_CALLS
    assert {k: stats_json(cli, "--view", "tokens")["totals"][k] for k in counted} == before  # from the rollups
    assert json.loads(cli("history", "prune", "--older-than", "30", "--yes", "--json")[1])["rows_dropped"] == 0
