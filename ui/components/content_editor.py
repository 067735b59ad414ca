"""Edit a prompt's content (text, or chat messages) and config JSON as a draft that survives reruns.

The draft remembers the version it started from (`base_number`), so a commit can insist that the branch
head has not moved meanwhile; the draft is never silently replaced by a newer head.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import streamlit as st

from promptvault.content import ROLES, content_as_text
from promptvault.versioning import VersionInfo

_COLUMNS = {
    "role": st.column_config.SelectboxColumn("Role", options=list(ROLES), default="user", required=True, width="small"),
    "content": st.column_config.TextColumn("Content", default="", width="large"),
}


def show(version: VersionInfo | None, key: str) -> tuple[Any, str]:
    """The draft editor, prefilled from `version` the first time; returns (content, config JSON text)."""
    draft = _draft(version, key)
    for suffix, value in (("chat", draft["chat"]), ("text", draft["text"]), ("config", draft["config"])):
        st.session_state.setdefault(f"{key}.{suffix}", value)  # widgets come back after a page switch
    chat = st.toggle("Chat messages", key=f"{key}.chat", on_change=_switch_kind, args=(key,),
                     help="A chat prompt is a list of system / user / assistant messages; off means one text.")
    if chat:
        content = _messages(draft, key)
    else:
        content = st.text_area("Prompt text", key=f"{key}.text", height=320,
                               placeholder="Write the prompt; {{ variable }} marks a value filled in per run.")
        draft["text"] = content
    config_text = st.text_area("Config (JSON)", key=f"{key}.config", height=120,
                               help='Model and provider parameters, e.g. {"model": "openai/gpt-4o-mini", "temperature": 0.2}')
    draft.update(chat=chat, config=config_text)
    return content, config_text


def base_number(key: str) -> int:
    """The version number the draft started from (0 before the first commit)."""
    draft = st.session_state.get(f"{key}.draft")
    return draft["base"] if draft else 0


def mark_committed(key: str, number: int) -> None:
    """The draft is now version `number`: later commits start from it."""
    st.session_state[f"{key}.draft"]["base"] = number


def reset(key: str) -> None:
    """Drop the draft so the next run reloads it from the head (use as a button callback)."""
    for suffix in ("draft", "chat", "text", "config"):
        st.session_state.pop(f"{key}.{suffix}", None)


def is_dirty(version: VersionInfo | None, content: Any, config_text: str) -> bool:
    """Whether the draft differs from `version` (config compared as parsed JSON when it parses)."""
    if version is None:
        return bool(content) and bool(content_as_text(content).strip())
    try:
        config = json.loads(config_text) if config_text.strip() else {}
    except json.JSONDecodeError:
        return True
    return content != version.content or config != version.config


def _draft(version: VersionInfo | None, key: str) -> dict:
    """The session's draft under `key`, created from `version` when there is none."""
    name = f"{key}.draft"
    if name not in st.session_state:
        content = version.content if version else ""
        st.session_state[name] = {
            "base": version.number if version else 0,
            "chat": isinstance(content, list),
            "text": content if isinstance(content, str) else "",
            "messages": content if isinstance(content, list) else [],
            "config": json.dumps(version.config, indent=2, ensure_ascii=False) if version and version.config else "{}",
            "generation": 0,
        }
    return st.session_state[name]


def _messages(draft: dict, key: str) -> list[dict[str, str]]:
    """The chat messages table; rows with no content are left out."""
    editor_key = f"{key}.messages.{draft['generation']}"
    if editor_key not in st.session_state:  # fresh editor: its edits start from the latest draft
        draft["base_messages"] = draft["messages"] or [{"role": "system", "content": ""}, {"role": "user", "content": ""}]
    frame = pd.DataFrame(draft["base_messages"], columns=["role", "content"])
    edited = st.data_editor(frame, key=editor_key, column_config=_COLUMNS, num_rows="dynamic",
                            hide_index=True, width="stretch")
    messages = [
        {"role": row["role"] if row["role"] in ROLES else "user", "content": row["content"]}
        for row in edited.to_dict("records")
        if isinstance(row["content"], str) and row["content"] != ""
    ]
    draft["messages"] = messages
    return messages


def _switch_kind(key: str) -> None:
    """Carry the draft across a text <-> chat switch."""
    draft = st.session_state[f"{key}.draft"]
    if st.session_state[f"{key}.chat"]:
        text = st.session_state.get(f"{key}.text", draft["text"])
        draft["messages"] = [{"role": "user", "content": text}] if text.strip() else []
    else:
        messages = draft["messages"]
        text = messages[0]["content"] if len(messages) == 1 else content_as_text(messages) if messages else ""
        st.session_state[f"{key}.text"] = draft["text"] = text
    draft["generation"] += 1
