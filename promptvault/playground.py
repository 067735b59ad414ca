"""Running a playground cell: its draft rendered with its variables and sent to its 1-4 models at once,
streamed, through the runner's dispatcher (vault keys opened once and audited, limits, retries, breaker,
cache), every call written to the run history under the notebook's call record so analytics counts it.

A cell's outputs are found again by the execution id in its `last_run`; a cell whose draft, variables,
params or models changed since is stale. A draft is committed as a version of its prompt on any branch,
or sent to a real run on a dataset once it is committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from promptvault import history, library, notebooks, response_cache, runs
from promptvault.context import Context
from promptvault.dispatch import Dispatcher, outcome_row
from promptvault.errors import NotFoundError, ValidationError
from promptvault.history import PLAYGROUND_PREFIX
from promptvault.notebooks import NotebookInfo, PlaygroundCell

DEFAULT_TIMEOUT = 60.0
_READ = ["cell_key", "model", "output", "error", "error_kind", "latency_ms", "ttft_ms", "input_tokens",
         "output_tokens", "cost_usd", "cache_hit"]


@dataclass(frozen=True)
class CellOutput:
    """One model's answer to a cell (or its error), with latency, tokens, cost and whether it was cached."""

    model: str
    output: str | None
    error: str | None
    error_kind: str | None
    latency_ms: float | None
    ttft_ms: float | None
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None
    cache_hit: bool


@dataclass(frozen=True)
class CellEvent:
    """A streamed piece of a cell's run: the answer so far of model `index`, and its final output at the end."""

    index: int
    text: str
    final: CellOutput | None = None


@dataclass(frozen=True)
class CellRun:
    """A finished execution of a cell: its id, what it ran (fingerprint), and each model's output in order."""

    id: str
    fingerprint: str
    outputs: list[CellOutput]


EventCallback = Callable[[CellEvent], None]


def fingerprint(cell: PlaygroundCell) -> str:
    """What decides a cell's outputs: draft, variables, params and models (not its title or position)."""
    data = {"content": cell.content, "variables": cell.variables, "params": cell.params,
            "models": [m.model_dump(mode="json") for m in cell.models]}
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def is_stale(cell: PlaygroundCell) -> bool:
    """Whether the cell changed since its outputs were made (or never ran)."""
    return cell.last_run is None or cell.last_run.get("fingerprint") != fingerprint(cell)


def render_cell(cell: PlaygroundCell) -> list[dict[str, str]]:
    """The messages the cell sends; TemplateError naming a missing variable or a broken template."""
    from promptvault.templates import render

    rendered = render(cell.content, dict(cell.variables))
    return [{"role": "user", "content": rendered}] if isinstance(rendered, str) else rendered


def find_cell(notebook: NotebookInfo, cell_id: str) -> PlaygroundCell:
    """A cell of the notebook by id."""
    for cell in notebook.cells:
        if cell.id == cell_id:
            return cell
    raise NotFoundError(f"no cell {cell_id} in notebook '{notebook.name}'")


async def run_cell(ctx: Context, root: Path | str, notebook_id: int, cell: PlaygroundCell,
                   on_event: EventCallback | None = None, timeout: float = DEFAULT_TIMEOUT) -> CellRun:
    """Call every model of the cell at once (streamed), record the calls, and mark the cell as run."""
    messages = render_cell(cell)
    notebook, prices = await asyncio.gather(asyncio.to_thread(notebooks.open_for_run, ctx, notebook_id),
                                            asyncio.to_thread(runs.price_overrides, ctx))  # both before any call
    run_id = notebook.run_id
    dispatcher = Dispatcher(ctx, notebook.team_id, len(cell.models), timeout, prices)
    execution = uuid.uuid4().hex[:12]
    with contextlib.ExitStack() as keys:
        await asyncio.to_thread(dispatcher.open_keys, keys, cell.models, f"playground notebook {notebook_id}")
        try:
            rows = await asyncio.gather(*[_call(dispatcher, cell, i, messages, execution, on_event)
                                          for i in range(len(cell.models))])
        finally:
            dispatcher.release_keys()
    context = {"run_id": run_id, "prompt_id": await asyncio.to_thread(_prompt_id, ctx, cell.prompt),
               "team_id": notebook.team_id, "project_id": notebook.project_id, "user_id": ctx.actor.user_id}
    rows = [{**row, **context} for row in rows]
    await asyncio.to_thread(_persist, ctx, Path(root), run_id, notebook.team_id, rows, dispatcher.take_cache_writes())
    done = CellRun(execution, fingerprint(cell), [_output(row) for row in rows])
    await asyncio.to_thread(notebooks.mark_ran, ctx, notebook_id, cell.id, {"id": done.id, "fingerprint": done.fingerprint})
    return done


async def _call(dispatcher: Dispatcher, cell: PlaygroundCell, index: int, messages: list[dict], execution: str,
                on_event: EventCallback | None) -> dict:
    """One model's call, streamed to `on_event`, as a history row (without the run and team fields)."""
    model = cell.models[index]
    started_at = datetime.now(timezone.utc)
    on_text = (lambda text: on_event(CellEvent(index, text))) if on_event is not None else None
    outcome = await dispatcher.call(model, messages, cell.params, use_cache=cell.use_cache, on_text=on_text)
    row = outcome_row(outcome, dispatcher.routes[model.label], started_at, json.dumps(messages, ensure_ascii=False),
                      cell_key=f"{PLAYGROUND_PREFIX}{cell.id}:{execution}:{index}", version_id=None)
    if on_event is not None:
        on_event(CellEvent(index, row.get("output") or "", _output(row)))
    return row


def _prompt_id(ctx: Context, name: str | None) -> int | None:
    """The id of the prompt a cell started from, when it still exists."""
    if not name:
        return None
    try:
        return library.get_prompt_info(ctx, name).id
    except NotFoundError:
        return None


def _persist(ctx: Context, root: Path, run_id: int, team_id: int, rows: list[dict], answers: list) -> None:
    """Write the calls as one history part, count them on the call record, and cache the answers."""
    writer = history.HistoryWriter(root)
    writer.append(rows)
    writer.flush()
    failed = sum(1 for r in rows if r.get("error") is not None)
    tokens = (sum(r.get("input_tokens") or 0 for r in rows), sum(r.get("output_tokens") or 0 for r in rows))
    runs.record_progress(ctx.db, run_id, len(rows) - failed, failed, math.fsum(r["cost_usd"] for r in rows), tokens)
    if answers:
        response_cache.store(ctx.db, team_id, answers)


def _output(row: dict) -> CellOutput:
    """A history row as a cell output."""
    return CellOutput(row.get("model") or "", row.get("output"), row.get("error"), row.get("error_kind"),
                      row.get("latency_ms"), row.get("ttft_ms"), row.get("input_tokens"), row.get("output_tokens"),
                      row.get("cost_usd"), bool(row.get("cache_hit")))


def last_outputs(ctx: Context, root: Path | str, notebook: NotebookInfo) -> dict[str, list[CellOutput]]:
    """Each cell's outputs from its last run (by cell id), read from the history."""
    runs_by_cell = {c.id: c.last_run["id"] for c in notebook.cells if c.last_run}
    if notebook.run_id is None or not runs_by_cell:
        return {}
    wanted = [f"{PLAYGROUND_PREFIX}{cell}:{execution}:{i}" for cell, execution in runs_by_cell.items()
              for i in range(notebooks.MAX_MODELS)]
    frame = history.HistoryReader(Path(root)).rows(columns=_READ, team_id=notebook.team_id, run_id=notebook.run_id,
                                                    cell_key=wanted)
    found: dict[str, dict[int, CellOutput]] = {}
    for row in frame.iter_rows(named=True):
        _, cell_id, _, index = row["cell_key"].split(":")
        found.setdefault(cell_id, {})[int(index)] = _output(row)
    return {cell_id: [outputs[i] for i in sorted(outputs)] for cell_id, outputs in found.items()}


def commit_cell(ctx: Context, cell: PlaygroundCell, prompt: str, branch: str, message: str):
    """Commit the cell's draft (and params as config) as a new version of `prompt` on `branch`, creating the
    prompt or the branch (from the cell's base version) when needed; the new version."""
    from promptvault import refs, versioning

    if _prompt_id(ctx, prompt) is None:
        if branch != versioning.MAIN:
            raise ValidationError(f"'{prompt}' is a new prompt: its first version goes on main")
        library.create_prompt(ctx, prompt)
    elif branch != versioning.MAIN and not _has_ref(ctx, prompt, branch):
        refs.create_branch(ctx, prompt, branch, str(cell.base_version) if cell.base_version else None)
    return versioning.commit(ctx, prompt, cell.content, cell.params or None, message, branch=branch)


def _has_ref(ctx: Context, prompt: str, name: str) -> bool:
    """Whether the prompt has a branch or label of that name."""
    from promptvault import versioning

    try:
        versioning.show(ctx, prompt, name)
        return True
    except (NotFoundError, ValidationError):
        return False


def compare_spec(ctx: Context, cell: PlaygroundCell, dataset: str) -> dict[str, Any]:
    """A run spec of the cell's committed version × its models × a dataset; refused while the draft differs."""
    from promptvault import versioning

    if not cell.prompt or cell.base_version is None:
        raise ValidationError("commit this draft first: a run compares committed versions")
    version = versioning.show(ctx, cell.prompt, str(cell.base_version))
    if version.content != cell.content:
        raise ValidationError(f"the draft differs from {cell.prompt} v{version.number}: commit it first")
    return {"prompt": cell.prompt, "versions": [version.number], "dataset": dataset, "params": cell.params,
            "models": [m.model_dump(mode="json", exclude_none=True) for m in cell.models]}
