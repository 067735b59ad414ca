"""Pick a prompt version to start a draft from."""

from __future__ import annotations

import streamlit as st

from promptvault import library, refs, versioning
from promptvault.context import Context
from promptvault.providers import RESERVED_PARAMS
from promptvault.versioning import VersionInfo
from ui.components import prompt_picker, version_picker
from ui.errors import showing_errors


def show(ctx: Context, label: str, key: str) -> VersionInfo | None:
    """A prompt and version picker and a button; the version once the button is pressed."""
    name = prompt_picker.show(ctx, key=f"{key}.prompt")
    if name is None:
        st.caption("No prompts yet: start from scratch.")
        return None
    options = {}
    with showing_errors():
        options = version_picker.choices(refs.list_refs(ctx, name), library.get_prompt_info(ctx, name).versions)
    if not options:
        return None
    spec = version_picker.show("Version", options, key=f"{key}.version.{name}")
    if not st.button(label, key=f"{key}.load", icon=":material/download:"):
        return None
    with showing_errors():
        return versioning.show(ctx, name, spec)
    return None


def cell_fields(version: VersionInfo) -> dict:
    """A cell's draft fields started from a version: its content, params and where it came from."""
    params = {k: v for k, v in (version.config or {}).items() if k not in RESERVED_PARAMS}
    return {"content": version.content, "params": params, "prompt": version.prompt, "base_version": version.number,
            "title": f"{version.prompt} v{version.number}"}
