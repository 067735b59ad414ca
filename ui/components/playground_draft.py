"""A cell's draft: text, or chat messages written as YAML, optionally loaded from a prompt version."""

from __future__ import annotations

from typing import Any

import streamlit as st
import yaml

from promptvault.errors import ValidationError

CHAT_EXAMPLE = "- role: system\n  content: You are terse.\n- role: user\n  content: Hello {{ who }}"


def seed(content: Any, key: str) -> None:
    """Put a draft into the inputs (before they are drawn): the text box, or the chat toggle and YAML box."""
    chat = isinstance(content, list)
    st.session_state[f"{key}.chat"] = chat
    st.session_state[f"{key}.text"] = "" if chat else content
    st.session_state[f"{key}.yaml"] = to_yaml(content) if chat else ""


def show(content: Any, key: str) -> Any:
    """The draft inputs (seeded from `content` on first draw); the draft, or ValidationError for bad YAML."""
    if f"{key}.chat" not in st.session_state:
        seed(content, key)
    chat = st.toggle("Chat messages", key=f"{key}.chat", on_change=_switch, args=(key,),
                     help="Write the draft as a list of chat messages (YAML: role and content).")
    if not chat:
        return st.text_area("Draft", key=f"{key}.text", height=140, placeholder="Hello {{ who }}")
    return from_yaml(st.text_area("Messages (YAML)", key=f"{key}.yaml", height=180, placeholder=CHAT_EXAMPLE))


def to_yaml(messages: list[dict[str, str]]) -> str:
    """Chat messages as the YAML the box shows."""
    return yaml.safe_dump(messages, allow_unicode=True, sort_keys=False, width=10_000)


def from_yaml(text: str) -> Any:
    """Chat messages from the box's YAML (an empty box is an empty draft); ValidationError when unreadable."""
    if not text.strip():
        return ""
    try:
        messages = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValidationError(f"messages: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(messages, list):
        raise ValidationError("messages: expected a list of chat messages, each with a role and a content")
    return messages


def _switch(key: str) -> None:
    """Carry the draft across when the chat toggle changes: text becomes one user message and back."""
    if st.session_state[f"{key}.chat"]:
        text = st.session_state.get(f"{key}.text", "")
        st.session_state[f"{key}.yaml"] = to_yaml([{"role": "user", "content": text}]) if text else ""
        return
    try:
        messages = from_yaml(st.session_state.get(f"{key}.yaml", ""))
    except ValidationError:
        messages = ""
    if isinstance(messages, list):
        texts = [str(m.get("content", "")) for m in messages if isinstance(m, dict)]
        st.session_state[f"{key}.text"] = "\n\n".join(texts)
