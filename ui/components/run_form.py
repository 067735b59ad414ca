"""The Compare page's "New run" form: prompt versions × models × a dataset, the estimate, and Start."""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from promptvault import datasets, library, refs, runner, runs
from promptvault.context import Context
from promptvault.checks import checks_from_yaml
from promptvault.providers import is_offline
from promptvault.run_plan import BudgetStatus, Estimate
from promptvault.run_spec import RunSpec, parse_spec
from ui import plain
from ui.components import checks_editor, prompt_picker, run_picker, version_picker
from ui.errors import showing_errors

DEFAULT_MODELS = "offline/echo"


def parse_models(text: str, api_base: str = "", key_label: str = "") -> list[str | dict[str, Any]]:
    """Model entries from one name per line; `name@http://…` (split at the last "@") gives a line its own base URL, else the shared
    base URL and key label apply to every model but the offline echo."""
    models: list[str | dict[str, Any]] = []
    for line in text.splitlines():
        name = line.strip()
        if not name or name.startswith("#"):
            continue
        entry: dict[str, Any] = {"model": name}
        model, sep, base = name.rpartition("@")  # the last "@": a name may hold one itself (gpt-x@latency=1)
        if sep and base.strip().startswith(("http://", "https://")):
            entry = {"model": model.strip(), "api_base": base.strip()}
        elif api_base.strip() and not is_offline(name):
            entry["api_base"] = api_base.strip()
        if key_label.strip() and not is_offline(entry["model"]):
            entry["key"] = key_label.strip()
        models.append(entry if len(entry) > 1 else name)
    return models


def show(ctx: Context, key: str) -> runs.RunInfo | None:
    """Draw the form; the run once Start recorded it (the caller submits it to the executor)."""
    name = prompt_picker.show(ctx, key=f"{key}.prompt")
    if name is None:
        st.info("No prompts yet: create one in the library first.", icon=":material/lightbulb:")
        return None
    names = []
    with showing_errors():
        names = [d.name for d in datasets.list_datasets(ctx)]
    if not names:
        st.info("No datasets yet: import test cases with `promptvault dataset import NAME cases.csv`.",
                icon=":material/dataset:")
        return None
    spec = _spec_inputs(ctx, name, names, key)
    if spec is None:
        return None
    wanted = json.dumps(spec, sort_keys=True)
    estimate_col, start_col = st.columns([1, 1])
    if estimate_col.button("Estimate", key=f"{key}.estimate", icon=":material/calculate:", width="stretch"):
        with showing_errors():
            prepared = runner.prepare(ctx, build(spec))
            st.session_state[f"{key}.estimated"] = (wanted, prepared.estimate, prepared.budget)  # not the plan: big
    started = None
    if start_col.button("Start run", key=f"{key}.start", type="primary", icon=":material/play_arrow:", width="stretch"):
        with showing_errors():
            started = runner.start(ctx, build(spec))
    shown, estimate, budget = st.session_state.get(f"{key}.estimated") or (None, None, None)
    if started is None and shown == wanted:  # an estimate of what the form says now, not of earlier inputs
        show_estimate(estimate, budget)
    return started


def build(spec: dict[str, Any]) -> RunSpec:
    """The run spec the form's data says, its checks YAML parsed (ValidationError naming any problem)."""
    checks = checks_from_yaml(spec.get("checks", ""))
    return parse_spec({k: v for k, v in spec.items() if k != "checks"} | ({"checks": checks} if checks else {}), "run")


def _spec_inputs(ctx: Context, name: str, dataset_names: list[str], key: str) -> dict[str, Any] | None:
    """The versions, dataset, models and settings as a run spec's data (None until versions are picked)."""
    prompt_refs, latest = [], 0
    with showing_errors():
        prompt_refs, latest = refs.list_refs(ctx, name), library.get_prompt_info(ctx, name).versions
    if not latest:
        st.info(plain(f"{name} has no versions yet: commit one in the editor first."), icon=":material/lightbulb:")
        return None
    options = version_picker.choices(prompt_refs, latest)
    versions_col, dataset_col = st.columns([2, 1])
    versions = versions_col.multiselect("Versions", list(options), default=[next(iter(options))],
                                        format_func=options.__getitem__, key=f"{key}.versions.{name}")
    dataset = dataset_col.selectbox("Dataset", dataset_names, key=f"{key}.dataset")
    models_col, base_col = st.columns([2, 1])
    models = models_col.text_area("Models (one per line)", DEFAULT_MODELS, key=f"{key}.models", height=110,
                                  help="litellm names, e.g. openai/gpt-4o-mini. offline/echo calls no network and "
                                       "costs nothing (it is not a real model). `name@http://host/v1` gives one "
                                       "model its own OpenAI-compatible base URL.")
    api_base = base_col.text_input("OpenAI-compatible base URL (optional)", key=f"{key}.api_base",
                                   placeholder="http://127.0.0.1:8000/v1", help="For every model but offline/echo.")
    key_label = base_col.text_input("Key label (optional)", key=f"{key}.key_label",
                                    help="The label or id of a stored key; without one the team's key for the "
                                         "provider is used.")
    checks, baseline = _checks_and_baseline(ctx, key)
    with st.expander("Settings", icon=":material/tune:"):
        settings = _settings(key)
    if not versions:
        st.caption("Pick at least one version.")
        return None
    return {"prompt": name, "versions": [int(v[1:]) if v[1:].isdigit() else v for v in versions],
            "models": parse_models(models, api_base, key_label), "dataset": dataset, "checks": checks, **settings,
            **({"baseline": baseline} if baseline is not None else {})}


def _checks_and_baseline(ctx: Context, key: str) -> tuple[str, int | None]:
    """The checks' YAML text, and a finished run of the project to compare pass rates with (or None)."""
    checks_col, baseline_col = st.columns([2, 1])
    with checks_col:
        checks = checks_editor.text_area("Checks (YAML, optional)", "", key=f"{key}.checks")
    past = []
    with showing_errors():
        past = [r for r in runs.list_runs(ctx) if r.finished]
    by_id = {r.id: r for r in past}
    baseline = baseline_col.selectbox("Baseline run (optional)", [None, *by_id], key=f"{key}.baseline",
                                      format_func=lambda i: "None" if i is None else run_picker.label(by_id[i]),
                                      help="An earlier run whose pass rates this run's are compared with.")
    return checks, baseline


def _settings(key: str) -> dict[str, Any]:
    """Repeats, concurrency, timeout, temperature and a budget cap."""
    cols = st.columns(5)
    settings: dict[str, Any] = {
        "repeats": cols[0].number_input("Repeats", 1, 100, 1, key=f"{key}.repeats"),
        "concurrency": cols[1].number_input("Concurrency", 1, 500, 8, key=f"{key}.concurrency"),
        "timeout": cols[2].number_input("Timeout (s)", 1, 600, 60, key=f"{key}.timeout"),
    }
    temperature = cols[3].number_input("Temperature", 0.0, 2.0, None, 0.1, key=f"{key}.temperature",
                                       placeholder="model default")
    if temperature is not None:
        settings["params"] = {"temperature": temperature}
    budget = cols[4].number_input("Budget (USD)", 0.0, None, None, 0.5, key=f"{key}.budget", placeholder="none",
                                  help="Refuse to start, or stop, past this cost.")
    if budget is not None:
        settings["budget_usd"] = budget
    return settings


def show_estimate(estimate: Estimate, budget: BudgetStatus | None) -> None:
    """Calls, tokens and cost per model, and the team's budget left."""
    rows = [{"Model": m.model + (" (not a real model)" if m.offline else ""), "Calls": m.calls,
             "Input tokens": m.input_tokens, "Output tokens (max)": m.output_tokens,
             "Cost (USD)": "unknown" if m.cost_usd is None else f"${m.cost_usd:,.4f}"} for m in estimate.models]
    st.dataframe(rows, hide_index=True, width="stretch")
    cost = f"${estimate.cost_usd:,.4f}" if estimate.cost_usd is not None else (
        f"at least ${estimate.known_cost_usd:,.4f} (no price known for {', '.join(estimate.unknown_price)})")
    left = f" · team budget: ${budget.left_usd:,.2f} left of ${budget.limit_usd:,.2f} this month" if budget else ""
    st.caption(plain(f"Estimate: {estimate.calls:,} calls, {estimate.input_tokens:,} input tokens, "
                     f"up to {estimate.output_tokens:,} output tokens, cost {cost}{left}."))
