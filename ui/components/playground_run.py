"""Run a cell on the executor's loop and stream each model's answer into its column; draw finished outputs."""

from __future__ import annotations

import asyncio
import queue
from concurrent.futures import Future

import streamlit as st

from promptvault import playground, providers
from promptvault.context import Context
from promptvault.notebooks import PlaygroundCell
from promptvault.playground import CellEvent, CellOutput, CellRun
from ui import plain, session

POLL = 0.02  # seconds between looks at the queue: short, so an answer shows as soon as it arrives


@st.cache_resource(show_spinner=False)
def warm_up() -> Future:
    """Import litellm once per process, in the background, so the first Run does not wait for it."""
    return asyncio.run_coroutine_threadsafe(asyncio.to_thread(providers.warm_up), session.executor().loop)


def start(ctx: Context, notebook_id: int, cell: PlaygroundCell) -> tuple[Future, queue.Queue]:
    """Start the cell's run on the executor's loop; its future and the queue its streamed events arrive on."""
    events: queue.Queue[CellEvent] = queue.Queue()
    root = session.workspace().settings.data_dir
    future = asyncio.run_coroutine_threadsafe(playground.run_cell(ctx, root, notebook_id, cell, events.put),
                                              session.executor().loop)
    return future, events


def stream(future: Future, events: queue.Queue, slots: list) -> CellRun:
    """Draw each model's text in its slot as it streams, until the run ends; the finished run (errors raise)."""
    while not (future.done() and events.empty()):  # Streamlit is called only from this, the script's thread
        try:
            event = events.get(timeout=POLL)
        except queue.Empty:
            continue
        with slots[event.index].container():
            if event.final is None:
                st.text(event.text)
            else:
                show_output(event.final)
    return future.result()


def columns(cell: PlaygroundCell) -> list:
    """One empty slot per model, side by side, headed by the model's name."""
    slots = []
    for column, model in zip(st.columns(len(cell.models)), cell.models):
        with column:
            heading(model.label)
        slots.append(column.empty())
    return slots


def heading(label: str) -> None:
    """A model's name over its output (in a code span: a base URL in it is not made a link)."""
    st.markdown(f"`{label}`" if "`" not in label else plain(label))


def show_output(output: CellOutput) -> None:
    """One model's answer as plain text (or its error in red), with latency, tokens, cost and cache."""
    if output.error is not None:
        st.error(plain(f"{output.error_kind or 'error'}: {output.error}"), icon=":material/error:")
    else:
        st.text(output.output or "")
    st.caption(plain(facts(output)))


def facts(output: CellOutput) -> str:
    """Latency, tokens, cost and "cached", as one line."""
    parts = []
    if output.latency_ms is not None:
        parts.append(f"{output.latency_ms / 1000:.2f} s")
    if output.input_tokens is not None or output.output_tokens is not None:
        parts.append(f"{output.input_tokens or 0}→{output.output_tokens or 0} tokens")
    if output.cost_usd is not None:
        parts.append(f"${output.cost_usd:.6f}")
    if output.cache_hit:
        parts.append("cached")
    return " · ".join(parts)
