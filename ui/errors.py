"""The one place where a PromptVaultError becomes a message on the page."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, is_dataclass

import streamlit as st

from promptvault.errors import MergeConflictError, PromptVaultError
from ui import plain


@dataclass
class Outcome:
    """Whether the guarded block finished; `error` holds what stopped it."""

    error: PromptVaultError | None = None

    @property
    def ok(self) -> bool:
        """True when no PromptVaultError was raised."""
        return self.error is None


@contextmanager
def showing_errors() -> Iterator[Outcome]:
    """Run a block of service calls; a PromptVaultError is shown as an error (conflicts in full), not raised."""
    outcome = Outcome()
    try:
        yield outcome
    except PromptVaultError as exc:
        outcome.error = exc
        st.error(plain(exc), icon=":material/error:")
        if isinstance(exc, MergeConflictError):
            show_conflicts(exc.conflicts)
            st.caption("Nothing was committed. Resolve the conflicts in the merged draft below, or change either branch and merge again.")


def show_conflicts(conflicts: list) -> None:
    """Each merge conflict with its field and the base, ours and theirs sides, shown as plain text."""
    for conflict in conflicts:
        data = asdict(conflict) if is_dataclass(conflict) and not isinstance(conflict, type) else {"conflict": conflict}
        where = f" (line {data['line']})" if data.get("line") else ""
        with st.container(border=True):
            st.markdown(f"**Conflict in {plain(data.get('field', '?'))}{plain(where)}**")
            columns = st.columns(3)
            for column, side in zip(columns, ("base", "ours", "theirs")):
                column.caption({"base": "Base (common ancestor)", "ours": "Ours (target branch)", "theirs": "Theirs (merged branch)"}[side])
                column.code(_side_text(data.get(side)), language=None, wrap_lines=True)


def _side_text(value: object) -> str:
    """One side of a conflict as text (st.code escapes it)."""
    if value is None:
        return "(absent)"
    return value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)
