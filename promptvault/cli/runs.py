"""`promptvault run ...` and `promptvault runs ...`: estimate, execute and resume runs; list, show and cancel them."""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import click

from promptvault.cli.acting import context, workspace
from promptvault.cli.output import echo_json, echo_table, short_time
from promptvault.errors import ValidationError

json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
project_option = click.option("--project", default="default", show_default=True,
                              help="Project the prompt and dataset belong to.")
BAR_WIDTH = 20
PLAIN_EVERY_SECONDS = 10.0
INTERRUPTED_EXIT = 130
OFFLINE_LABEL = "offline/echo (not a real model, free)"


@click.command("run")
@click.argument("spec_file", required=False, metavar="[SPEC]", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--resume", "resume_id", type=int, metavar="RUN_ID", help="Finish a run that was stopped or killed.")
@click.option("--estimate", "estimate_only", is_flag=True, help="Print calls, tokens and cost; call nothing.")
@click.option("--no-cache", is_flag=True, help="Call every cell even when an identical answer is cached.")
@project_option
@json_option
def run_cmd(spec_file, resume_id, estimate_only, no_cache, project, as_json) -> None:
    """Run the prompt versions × models × cases of SPEC (a YAML run spec), or --resume RUN_ID."""
    if (spec_file is None) == (resume_id is None):
        raise ValidationError("give either a run spec file or --resume RUN_ID (exactly one)")
    if resume_id is not None and (estimate_only or no_cache):
        raise ValidationError("--estimate and --no-cache apply to a new run, not to --resume")
    ctx = context(project=project)
    if resume_id is not None:
        return _execute(ctx, resume_id, as_json)
    from promptvault import runner
    from promptvault.run_spec import load_spec

    spec = load_spec(spec_file)
    if no_cache:
        spec = spec.model_copy(update={"cache": False})
    if estimate_only:
        prepared = runner.prepare(ctx, spec)
        return echo_json(prepared.estimate.to_dict()) if as_json else _print_estimate(prepared)
    info = runner.start(ctx, spec)
    if not as_json:
        click.echo(f"run {info.id}: {info.total_cells:,} cells", err=True)
    _execute(ctx, info.id, as_json)


def _execute(ctx, run_id: int, as_json: bool) -> None:
    """Execute (or resume) a run in the foreground with a progress line, then print its summary."""
    from promptvault import runner, runs

    info = runs.get_run(ctx, run_id)  # NotFoundError for a run of another team
    if info.project_id != ctx.project_id:  # the run's prompt and dataset are named in its own project
        ctx = dataclasses.replace(ctx, project_id=info.project_id)
    progress = _Progress(sys.stderr)
    try:
        runner.run_to_end(ctx, run_id, workspace().settings.data_dir, on_progress=progress)
    except KeyboardInterrupt:
        progress.end()
        click.echo(f"interrupted: resume with `promptvault run --resume {run_id}`", err=True)
        sys.exit(INTERRUPTED_EXIT)
    progress.end()
    info = runs.get_run(ctx, run_id)  # read after the loop closed, when every writer thread has finished
    _print_run(ctx, info, as_json)
    if info.status != "done":
        sys.exit(1)


class _Progress:
    """The progress callback: a redrawn line on a terminal, else a plain line every few seconds."""

    def __init__(self, stream):
        self.stream = stream
        self.tty = stream.isatty()
        self.drawn = False
        self.last_plain = time.monotonic()

    def __call__(self, stats) -> None:
        """Show the latest counters."""
        if self.tty:
            self.stream.write("\r\x1b[K" + progress_line(stats))
            self.stream.flush()
            self.drawn = True
        elif time.monotonic() - self.last_plain >= PLAIN_EVERY_SECONDS:
            self.last_plain = time.monotonic()
            print(progress_line(stats), file=self.stream, flush=True)

    def end(self) -> None:
        """Leave the terminal on a fresh line."""
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False


def progress_line(stats) -> str:
    """`[#####.....] 120/400 done 118 failed 2 retrying 3 $0.0123 ETA 14s` for a RunStats."""
    total = max(stats.total, 1)
    filled = min(BAR_WIDTH, stats.finished_cells * BAR_WIDTH // total)
    line = (f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {stats.finished_cells:,}/{stats.total:,} "
            f"done {stats.skipped + stats.done:,} failed {stats.failed:,} retrying {stats.retrying:,} "
            f"${stats.cost_usd:,.4f}")
    if stats.cached:
        line += f" cached {stats.cached:,}"
    eta = stats.eta_seconds
    return line + (f" ETA {eta:.0f}s" if eta is not None and stats.status == "running" else "")


def _print_estimate(prepared) -> None:
    """What a run would call and cost, per model and in all, and the budget it is held to."""
    plan, est = prepared.plan, prepared.estimate
    factors = [(len(plan.versions), "version"), (len(plan.spec.models), "model"), (len(plan.cases), "case"),
               (plan.spec.repeats, "repeat")]
    click.echo(f"planned: {_n(est.calls, 'call')} = " + " × ".join(_n(n, word) for n, word in factors))
    rows = [[OFFLINE_LABEL if m.offline else m.model, f"{m.calls:,}", f"{m.input_tokens:,}", f"{m.output_tokens:,}",
             _cost(m.cost_usd)] for m in est.models]
    rows.append(["total", f"{est.calls:,}", f"{est.input_tokens:,}", f"{est.output_tokens:,}",
                 _cost(est.cost_usd) if est.cost_usd is not None else f"≥ ${est.known_cost_usd:,.4f}"])
    echo_table(["MODEL", "CALLS", "INPUT TOKENS", "OUTPUT TOKENS", "COST"], rows)
    if est.unknown_price:
        click.echo(f"unknown price for {', '.join(est.unknown_price)}: litellm's price map has none and the team "
                   "has no price override for it, so its cost is not counted")
    if est.run_budget_usd is not None:
        click.echo(f"budget: the spec caps this run at ${est.run_budget_usd:,.2f}")
    if prepared.budget is not None:
        b = prepared.budget
        click.echo(f"budget: the team has ${b.left_usd:,.2f} left of ${b.limit_usd:,.2f} this month")
    judges = judge_calls(plan)
    if judges:
        click.echo(f"checks: up to {_n(judges, 'judge call')} after the run, not in this estimate")
    click.echo("tokens and cost are estimates (output assumed to reach max_tokens, or 256 without it)")


def judge_calls(plan) -> int:
    """How many judge calls the spec's model-graded checks make at most: one per output, or per row for pick-best."""
    outputs, rows = plan.total_cells, len(plan.cases) * plan.spec.repeats
    return sum(outputs if c.type == "llm-judge" else rows for c in plan.spec.checks if c.type in ("llm-judge", "pick-best"))


def _n(count: int, word: str) -> str:
    """'1 case', '3 cases'."""
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def _cost(value: float | None) -> str:
    """A cost for a table cell, or 'unknown price'."""
    return "unknown price" if value is None else f"${value:,.4f}"


def _print_run(ctx, info, as_json: bool) -> None:
    """A run's record and its per-column summary (with pass rates once scored), as a table or JSON."""
    from promptvault import evaluation, matrix
    from promptvault.cli import scores

    root = workspace().settings.data_dir
    loaded = matrix.load_matrix(ctx, root, info.id)
    columns = matrix.summary(loaded)
    scored = evaluation.evaluate_run(ctx, root, info.id, matrix=loaded) if info.finished else None
    base = _baseline(ctx, info) if scored is not None else None
    compared = evaluation.compare(scored, base) if base is not None else None
    if as_json:
        return echo_json({"run": info, "summary": columns, "scores": scores.scores_json(scored) if scored else None,
                          "comparison": scores.comparison_json(compared) if compared else None})
    click.echo(f"run {info.id}: {info.status}  {info.done_cells:,} done, {info.failed_cells:,} failed of "
               f"{info.total_cells:,} cells  ${info.cost_usd:,.4f}  tokens {info.input_tokens:,} in / "
               f"{info.output_tokens:,} out")
    if info.error:
        click.echo(f"error: {info.error}", err=True)
    if scored is not None:
        scores.print_scores(scored)
    else:
        rows = [[c.label, f"{c.calls:,}", f"{c.errors:,}", _ms(c.mean_latency_ms), _ms(c.p95_latency_ms),
                 f"{c.input_tokens:,}", f"{c.output_tokens:,}", f"${c.cost_usd:,.4f}"] for c in columns]
        echo_table(["COLUMN", "CALLS", "ERRORS", "MEAN MS", "P95 MS", "TOKENS IN", "TOKENS OUT", "COST"], rows)
    if compared is not None:
        scores.print_comparison(compared)


def _ms(value: float | None) -> str:
    """Milliseconds, or '-' when no call succeeded."""
    return "-" if value is None else f"{value:,.0f}"


def _baseline(ctx, info):
    """The evaluation of the run spec's baseline, or None (no baseline, not scored, or no longer there)."""
    from promptvault import evaluation
    from promptvault.errors import NotFoundError

    if not info.spec.get("baseline"):
        return None
    try:
        return evaluation.evaluate_run(ctx, workspace().settings.data_dir, info.spec["baseline"])
    except NotFoundError:
        return None


@click.group("runs")
@project_option
@click.pass_context
def runs_group(click_ctx: click.Context, project: str) -> None:
    """List, show and cancel runs."""
    click_ctx.obj = {**(click_ctx.obj or {}), "project": project}


def _ctx(click_ctx: click.Context):
    """The acting user's service context for this invocation."""
    return context(project=click_ctx.obj["project"])


@runs_group.command("list")
@click.option("--limit", default=50, show_default=True, help="Runs to list, newest first.")
@json_option
@click.pass_context
def list_cmd(click_ctx, limit, as_json) -> None:
    """List the project's runs, newest first."""
    from promptvault import runs

    infos = runs.list_runs(_ctx(click_ctx), limit=limit)
    if as_json:
        return echo_json(infos)
    rows = [[r.id, r.status, r.spec.get("prompt", ""), f"{r.done_cells + r.failed_cells:,}/{r.total_cells:,}",
             f"{r.failed_cells:,}", f"${r.cost_usd:,.4f}", r.created_by, short_time(r.created_at)] for r in infos]
    echo_table(["ID", "STATUS", "PROMPT", "CELLS", "FAILED", "COST", "CREATED BY", "CREATED"], rows)


@runs_group.command()
@click.argument("run_id", type=int)
@json_option
@click.pass_context
def show(click_ctx, run_id, as_json) -> None:
    """Show run RUN_ID: status, counters and the per-column summary."""
    from promptvault import runs

    ctx = _ctx(click_ctx)
    info = runs.get_run(ctx, run_id)
    if not as_json:
        models = ", ".join(m if isinstance(m, str) else m.get("model", "?") for m in info.spec.get("models", []))
        click.echo(f"prompt {info.spec.get('prompt')} versions {info.spec.get('versions')} models {models}")
        click.echo(f"created {short_time(info.created_at)} by {info.created_by}"
                   + (f", finished {short_time(info.finished_at)}" if info.finished_at else ""))
    _print_run(ctx, info, as_json)


@runs_group.command()
@click.argument("run_id", type=int)
@json_option
@click.pass_context
def cancel(click_ctx, run_id, as_json) -> None:
    """Cancel run RUN_ID: a pending run at once, a running one at its next flush."""
    from promptvault import runs

    info = runs.request_cancel(_ctx(click_ctx), run_id)
    if as_json:
        return echo_json(info)
    if info.status == "cancelled":
        click.echo(f"run {info.id}: cancelled")
    else:
        click.echo(f"run {info.id}: cancel requested; the process executing it stops within seconds")


def _attach_score_commands() -> None:
    """`runs compare` and `runs rescore` live in cli/scores.py."""
    from promptvault.cli import scores

    runs_group.add_command(scores.compare)
    runs_group.add_command(scores.rescore)


_attach_score_commands()
