"""The benchmark scripts run end to end in their quick mode (their figures are for the README, not asserted)."""

from __future__ import annotations

import importlib.util
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
