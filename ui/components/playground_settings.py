"""A cell's models (1-4, one per line as on the Compare form), params as JSON, and the use-cache switch."""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from promptvault.content import parse_config_text
from promptvault.notebooks import MAX_MODELS, PlaygroundCell
from ui.components.run_form import parse_models

MODELS_HELP = ("One litellm name per line, at most 4. offline/echo calls no network and costs nothing. "
               "`name@http://host/v1` gives a model its own OpenAI-compatible base URL.")


def seed(cell: PlaygroundCell, key: str) -> None:
    """Put a cell's models, key label, params and cache switch into the inputs (before they are drawn)."""
    st.session_state[f"{key}.models"] = "\n".join(m.label for m in cell.models)
    st.session_state[f"{key}.key"] = next((str(m.key) for m in cell.models if m.key is not None), "")
    st.session_state[f"{key}.params"] = json.dumps(cell.params, ensure_ascii=False) if cell.params else ""
    st.session_state[f"{key}.cache"] = cell.use_cache


def show(cell: PlaygroundCell, key: str) -> dict[str, Any]:
    """The inputs; {"models", "params", "use_cache"} as a cell takes them (ValidationError for bad params JSON)."""
    if f"{key}.models" not in st.session_state:
        seed(cell, key)
    models_col, params_col = st.columns([1, 1])
    models = models_col.text_area(f"Models (1-{MAX_MODELS}, one per line)", key=f"{key}.models", height=100,
                                  help=MODELS_HELP)
    params = params_col.text_input("Params (JSON)", key=f"{key}.params",
                                   placeholder='e.g. {"temperature": 0.2, "max_tokens": 200}')
    key_label = params_col.text_input("Key label (optional)", key=f"{key}.key",
                                      help="The label or id of a stored key; without one the team's key is used.")
    use_cache = st.toggle("Use the response cache", key=f"{key}.cache",
                          help="An unchanged call is answered from the cache, at no cost.")
    return {"models": parse_models(models, key_label=key_label), "params": parse_config_text(params),
            "use_cache": use_cache}


