"""Checks as YAML: the text area the new-run form and the re-score form share, and a re-score of a finished run."""

from __future__ import annotations

from typing import Any

import streamlit as st
import yaml

from promptvault import scorings
from promptvault.background import BackgroundExecutor
from promptvault.checks import checks_from_yaml, is_model_graded, parse_checks
from promptvault.context import Context
from promptvault.runs import RunInfo
from ui import session
from ui.errors import showing_errors

EXAMPLE = """- equals
- {contains: "refund"}
- {type: regex, pattern: "^[A-Z]"}
- {type: length, max: 200}
- {type: llm-judge, model: openai/gpt-4o-mini, rubric: "Polite and correct?"}"""
HELP = ("A YAML list, one check per line; empty: no checks. `equals` compares with the case's expected output. "
        "Other types: contains, regex, is-json, json-schema, length, similar, latency, cost, llm-judge, pick-best; "
        "every check takes name, negate, weight (0 = informational) and threshold.")
QUICK_WAIT = 3.0  # seconds a re-score without judges may take before the page shows it as running instead


def dump(checks: list[dict[str, Any]]) -> str:
    """Checks as the YAML a user would write."""
    return yaml.safe_dump(checks, sort_keys=False, allow_unicode=True, width=110) if checks else ""


def text_area(label: str, value: str, key: str, height: int = 130) -> str:
    """The checks text area with examples as placeholder and the types in its help."""
    return st.text_area(label, value, key=key, height=height, placeholder=EXAMPLE, help=HELP)


def show(ctx: Context, run: RunInfo, latest: scorings.ScoringInfo | None, key: str) -> None:
    """A "Re-score with other checks" expander (editors): the latest checks to edit and a Re-score button."""
    with st.expander("Re-score with other checks", icon=":material/rule:"):
        st.caption("Scores the outputs this run already has again: no model is called, only judges (llm-judge, "
                   "pick-best) are.")
        version = latest.id if latest else 0  # a new scoring refills the text area with its checks
        text = text_area("Checks (YAML)", dump(latest.checks) if latest else "", key=f"{key}.text.{run.id}.{version}")
        if st.button("Re-score", key=f"{key}.go.{run.id}", icon=":material/replay:", type="primary"):
            with showing_errors():
                rescore(ctx, run, checks_from_yaml(text), session.executor())
                st.rerun()


def rescore(ctx: Context, run: RunInfo, checks: list[Any], executor: BackgroundExecutor) -> scorings.ScoringInfo:
    """Record a scoring and submit it; one without judges is awaited for a moment so its results show at once."""
    info = scorings.create(ctx, run.id, checks)
    executor.submit_scoring(ctx, info.id)
    if not any(is_model_graded(c) for c in parse_checks(info.checks)):
        try:
            executor.wait_scoring(info.id, timeout=QUICK_WAIT)
        except Exception:  # noqa: BLE001 - timed out or crashed: the scoring's record says which, the page shows it
            pass
    count = f"{len(info.checks)} check" + ("s" if len(info.checks) != 1 else "")
    session.flash(f"Re-scoring run {run.id} with {count} (scoring {info.id}).")
    return info
