"""Scores on the command line: pass rates in run summaries, `runs compare RUN BASELINE`, `runs rescore RUN FILE`."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import click

from promptvault.cli.acting import workspace
from promptvault.cli.output import echo_json, echo_table
from promptvault.errors import ValidationError

REGRESSION_EXIT = 3


def pct(rate: float | None) -> str:
    """'83%', or '-' for no rate."""
    return "-" if rate is None else f"{rate * 100:.0f}%"


def pass_rate(column) -> str:
    """'5/6 83% (44-97%)': passed of outputs, the rate and its 95 % interval."""
    if not column.outputs:
        return "-"
    return f"{column.passed}/{column.outputs} {pct(column.pass_rate)} ({pct(column.ci_low)}–{pct(column.ci_high)})"


def _ms(value: float | None) -> str:
    """Milliseconds, or '-'."""
    return "-" if value is None else f"{value:,.0f}"


def print_scores(scored) -> None:
    """The per-column table with pass rates, then each check's pass rate per column."""
    rows = [[f"#{i} {c.label}" + (" *" if c.on_front else ""), pass_rate(c),
             "-" if c.mean_score is None else f"{c.mean_score:.2f}", f"{c.errors:,}", _ms(c.latency_p50_ms),
             _ms(c.latency_p95_ms), f"{c.input_tokens:,}/{c.output_tokens:,}", f"${c.cost_usd:,.4f}",
             "-" if c.agreement is None else pct(c.agreement)] for i, c in enumerate(scored.columns, 1)]
    echo_table(["COLUMN", "PASSED (95% CI)", "SCORE", "ERRORS", "P50 MS", "P95 MS", "TOKENS IN/OUT", "COST", "AGREE"],
               rows)
    click.echo("* on the Pareto front of pass rate, cost and latency")
    names = scored.check_names
    echo_table(["CHECK PASS RATE", *[f"#{i}" for i in range(1, len(scored.columns) + 1)]],
               [[name, *[pct(c.check_pass_rates.get(name)) for c in scored.columns]] for name in names])
    if scored.scoring.judge_calls:
        click.echo(f"judges: {scored.scoring.judge_calls:,} calls, ${scored.scoring.cost_usd:,.4f}")


def print_comparison(result) -> None:
    """Per column: pass rate then and now, the test's verdict; then the regressions."""
    click.echo(f"run {result.run_id} against baseline run {result.baseline_id} "
               "(two-sided two-proportion z-test, 5% level):")
    rows = []
    for c in result.columns:
        change = "-" if c.delta is None else f"{c.delta * 100:+.0f} pts"
        p_value = "-" if c.test is None else f"{c.test.p_value:.3g}"
        rows.append([c.label, c.baseline_label or "-", f"{c.baseline_passed}/{c.baseline_outputs}",
                     f"{c.passed}/{c.outputs}", change, p_value, c.verdict])
    echo_table(["COLUMN", "BASELINE COLUMN", "BASELINE", "NOW", "CHANGE", "P", "VERDICT"], rows)
    if not result.same_checks:
        click.echo(f"note: runs {result.run_id} and {result.baseline_id} were scored with different checks, so "
                   f"their pass rates measure different things (re-score one with the other's checks)")
    regressions = result.regressions
    click.echo(f"{len(regressions)} newly failing case{'' if len(regressions) == 1 else 's'}"
               + (":" if regressions else ""))
    echo_table(["CASE", "COLUMN", "BASELINE", "NOW", "FAILED CHECKS"],
               [[f"#{c.case}", c.label, pct(c.baseline_rate), pct(c.rate), ", ".join(c.failed_checks)]
                for c in regressions]) if regressions else None


def scored_run(ctx, run_id: int):
    """The run's evaluation, or None when it has no finished scoring."""
    from promptvault import evaluation

    return evaluation.evaluate_run(ctx, workspace().settings.data_dir, run_id)


def comparison(ctx, run_id: int, baseline_id: int):
    """The comparison of two scored runs; ValidationError naming a run without scores."""
    from promptvault import evaluation

    found = {}
    for which in (run_id, baseline_id):
        found[which] = scored_run(ctx, which)
        if found[which] is None:
            raise ValidationError(f"run {which} has no scores: give it checks with `promptvault runs rescore "
                                  f"{which} CHECKS.yaml`")
    return evaluation.compare(found[run_id], found[baseline_id])


def comparison_json(result) -> dict:
    """A comparison as JSON-safe data (verdicts and deltas included)."""
    columns = [{**dataclasses.asdict(c), "delta": c.delta, "verdict": c.verdict} for c in result.columns]
    cases = [{**dataclasses.asdict(c), "status": c.status} for c in result.cases]
    return {"run_id": result.run_id, "baseline_id": result.baseline_id, "same_checks": result.same_checks,
            "columns": columns, "cases": cases, "regressions": len(result.regressions)}


def scores_json(scored) -> list[dict]:
    """Per-column scores as JSON-safe data."""
    return [{**dataclasses.asdict(c), "pass_rate": c.pass_rate} for c in scored.columns]


@click.command()
@click.argument("run_id", type=int)
@click.argument("baseline_id", type=int)
@click.option("--fail-on-regression", is_flag=True,
              help=f"Exit {REGRESSION_EXIT} when a case newly fails or a column is worse beyond noise (for CI).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def compare(click_ctx, run_id, baseline_id, fail_on_regression, as_json) -> None:
    """Compare run RUN_ID's pass rates with BASELINE_ID's: per column with a test, then newly failing cases."""
    from promptvault.cli.runs import _ctx

    result = comparison(_ctx(click_ctx), run_id, baseline_id)
    if as_json:
        echo_json(comparison_json(result))
    else:
        print_comparison(result)
    worse = any(c.verdict == "worse" for c in result.columns)
    if fail_on_regression and (result.regressions or worse):
        sys.exit(REGRESSION_EXIT)


@click.command()
@click.argument("run_id", type=int)
@click.argument("checks_file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def rescore(click_ctx, run_id, checks_file, as_json) -> None:
    """Score finished run RUN_ID again with the checks in CHECKS_FILE (a YAML list, or a spec's `checks:`)."""
    from promptvault import scorer
    from promptvault.cli.runs import _ctx

    ctx = _ctx(click_ctx)
    found = scorer.rescore(ctx, workspace().settings.data_dir, run_id, read_checks(checks_file))
    if found.status != "done":
        raise ValidationError(f"scoring {found.id} of run {run_id} failed: {found.error}")
    scored = scored_run(ctx, run_id)
    if as_json:
        return echo_json({"scoring": found, "scores": scores_json(scored)})
    click.echo(f"run {run_id}: scoring {found.id} with {len(found.checks)} checks")
    print_scores(scored)


def read_checks(path: Path) -> list:
    """The checks in a YAML (or JSON) file: a list of checks, or a mapping with a `checks:` list."""
    from promptvault.checks import checks_from_yaml

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"cannot read checks from {path.name}: {getattr(exc, 'strerror', None) or exc}") from None
    return checks_from_yaml(text, path.name)
