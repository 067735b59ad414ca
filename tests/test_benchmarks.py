"""The benchmark scripts run end to end in their quick mode (their figures are for the README, not asserted)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def load(name: str):
    """Import a benchmark script by path."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_versioning_benchmark_quick_run_completes(capsys):
    assert load("versioning").main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "search, 10 of" in out and "log, 100 versions" in out


def test_vault_benchmark_quick_run_completes(capsys):
    assert load("vault").main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "SQLite      use_key" in out and "audit append" in out



def test_runner_benchmark_quick_run_completes(capsys):
    assert load("runner").main(["--quick"]) == 0
    out = capsys.readouterr().out
    ours = re.findall(r"^(clean|5% errors) +ours +[\d.]+ +([\d.]+)x +([\d.]+)x +[\d.]+ +(\d+) +(\d+)", out, re.M)
    assert [row[0] for row in ours] == ["clean", "5% errors"], out
    for _, vs_ideal, vs_bare, ok, failed in ours:
        assert float(vs_ideal) > 0 and float(vs_bare) > 0 and int(ok) + int(failed) == 200
    assert ours[0][3] == "200" and "ours/ideal" in out and "ours/bare" in out and "RSS peaked" in out


def test_analytics_benchmark_quick_run_completes(capsys):
    assert load("analytics").main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "check: 200,000 calls" in out and "ours and bare agree" in out, out
    rows = re.findall(r"^(totals|versions|dashboard \(7 queries\)|latency|raw_rows week) +([\d.]+) +([\d.]+) +([\d.]+) ", out, re.M)
    assert [r[0] for r in rows] == ["totals", "versions", "dashboard (7 queries)", "latency", "raw_rows week"], out
    assert all(float(v) > 0 for r in rows for v in r[1:])
    assert re.search(r"writer: 200,000 rows in [\d.]+ s = [\d,]+ rows/s .* -> \d+ files", out), out
    assert "peak RSS of (a)" in out and "dashboard after a flush" in out and out.count("PASS") + out.count("MISS") == 7


def test_scoring_benchmark_quick_run_completes(capsys):
    assert load("scoring").main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "check: ours and bare agree on the passes per check of 500 outputs" in out, out
    rows = re.findall(r"^(load_matrix \(a\)|bare checks \(b\)|rescore, 8 checks|evaluate_run|judge ideal|llm-judge"
                      r"|llm-judge, cached) +([\d,]+) +([\d.]+) +([\d.]+) ", out, re.M)
    assert [r[0] for r in rows] == ["load_matrix (a)", "bare checks (b)", "rescore, 8 checks", "evaluate_run",
                                    "judge ideal", "llm-judge", "llm-judge, cached"], out
    assert all(float(r[2]) > 0 for r in rows) and [r[1] for r in rows] == ["500"] * 4 + ["40"] * 3
    assert "none during the cached re-scorings" in out and "faster than calling the judge" in out
    assert out.count("PASS") + out.count("MISS") == 3 and "rescore/((a)+(b))" in out and "Summary: " in out
