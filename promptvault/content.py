"""Prompt content and config: validation, canonical form, hashing, and loading from files."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict
from pydantic import ValidationError as PydanticValidationError

from promptvault.errors import ValidationError

MAX_CONTENT_CHARS = 262_144  # 256 KiB of text across all messages
MAX_MESSAGES = 200
MAX_CONFIG_CHARS = 65_536
MAX_FILE_BYTES = 1_048_576
ROLES = ("system", "user", "assistant")

Content = str | list[dict[str, str]]


class ChatMessage(BaseModel):
    """One chat message as users write it in a prompt file."""

    model_config = ConfigDict(extra="forbid")
    role: Literal["system", "user", "assistant"]
    content: str


def check_text(value: Any, field: str, max_chars: int, allow_empty: bool = True) -> str:
    """Refuse non-strings, NUL bytes, unencodable text and oversize values, naming the field."""
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be text, not {type(value).__name__}")
    if "\x00" in value:
        raise ValidationError(f"{field} contains a NUL byte at position {value.index(chr(0))}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationError(f"{field} is not valid UTF-8 text (position {exc.start})") from None
    if len(value) > max_chars:
        raise ValidationError(f"{field} is {len(value):,} characters; the limit is {max_chars:,}")
    if not allow_empty and not value.strip():
        raise ValidationError(f"{field} is empty")
    return value


def normalize_content(value: Any) -> Content:
    """Validate prompt content: non-empty text, or a non-empty list of chat messages."""
    if isinstance(value, str):
        return check_text(value, "prompt text", MAX_CONTENT_CHARS, allow_empty=False)
    if not isinstance(value, list):
        raise ValidationError("prompt content must be text or a list of chat messages")
    if not value:
        raise ValidationError("a chat prompt needs at least one message")
    if len(value) > MAX_MESSAGES:
        raise ValidationError(f"a chat prompt has {len(value)} messages; the limit is {MAX_MESSAGES}")
    messages = [_normalize_message(item, index) for index, item in enumerate(value)]
    total = sum(len(m["content"]) for m in messages)
    if total > MAX_CONTENT_CHARS:
        raise ValidationError(f"chat messages hold {total:,} characters; the limit is {MAX_CONTENT_CHARS:,}")
    return messages


def _normalize_message(item: Any, index: int) -> dict[str, str]:
    """Validate one chat message, naming its position in errors."""
    try:
        message = ChatMessage.model_validate(item)
    except PydanticValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(part) for part in problem["loc"]) or "message"
        raise ValidationError(f"message {index + 1}: {where}: {problem['msg']}") from None
    check_text(message.content, f"message {index + 1} content", MAX_CONTENT_CHARS)
    return {"role": message.role, "content": message.content}


def normalize_config(value: Any) -> dict[str, Any]:
    """Validate a model config: a JSON object of any provider parameters, within the size limit."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationError("config must be a JSON object (e.g. {\"model\": \"openai/gpt-4o-mini\"})")
    try:
        encoded = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"config is not plain JSON: {exc}") from None
    check_text(encoded, "config", MAX_CONFIG_CHARS)
    _check_json_strings(value, "config")
    return json.loads(encoded)


def _check_json_strings(value: Any, path: str) -> None:
    """Refuse NUL bytes and unencodable text in any key or string of a JSON value (PostgreSQL refuses them)."""
    if isinstance(value, str):
        check_text(value, path, MAX_CONFIG_CHARS)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(key, f"{path} key", MAX_CONFIG_CHARS)
            _check_json_strings(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_json_strings(item, f"{path}[{index}]")


def parse_config_text(text: str) -> dict[str, Any]:
    """Parse config JSON typed by a user, with the line and column of any syntax error."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"config is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    return normalize_config(value)


def canonical_json(value: Any) -> str:
    """A stable JSON text: sorted keys, no whitespace, UTF-8 kept."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(content: Content, config: dict[str, Any]) -> str:
    """SHA-256 of the canonical content and config."""
    payload = canonical_json({"content": content, "config": config})
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def content_kind(content: Content) -> str:
    """'text' or 'chat'."""
    return "text" if isinstance(content, str) else "chat"


def content_as_text(content: Content) -> str:
    """Content as one readable text (chat messages as `[role]` blocks)."""
    if isinstance(content, str):
        return content
    return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in content)


def decode_utf8(data: bytes, source: str) -> str:
    """Decode UTF-8 strictly, naming the source and byte offset of the first bad byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError(f"{source} is not valid UTF-8 (bad byte at offset {exc.start})") from None


def read_text_file(path: Path, what: str = "file") -> str:
    """Read a user file as UTF-8 text within the size limit."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ValidationError(f"cannot read {what} {path}: {exc.strerror}") from None
    if size > MAX_FILE_BYTES:
        raise ValidationError(f"{what} {path} is {size:,} bytes; the limit is {MAX_FILE_BYTES:,}")
    return decode_utf8(path.read_bytes(), f"{what} {path}")


def load_content_file(path: Path) -> Content:
    """Load prompt content: `.json`/`.yaml`/`.yml` hold a list of chat messages, anything else is text."""
    text = read_text_file(path, "prompt file")
    suffix = path.suffix.lower()
    if suffix not in (".json", ".yaml", ".yml"):
        return normalize_content(text)
    data = _parse_structured(text, path, suffix)
    if isinstance(data, dict) and set(data) == {"messages"}:
        data = data["messages"]
    if not isinstance(data, list):
        raise ValidationError(f"{path} must hold a list of chat messages ({{role, content}} items)")
    return normalize_content(data)


def load_config_file(path: Path) -> dict[str, Any]:
    """Load a config from a JSON or YAML file."""
    text = read_text_file(path, "config file")
    if path.suffix.lower() in (".yaml", ".yml"):
        return normalize_config(_parse_structured(text, path, ".yaml"))
    return parse_config_text(text)


def _parse_structured(text: str, path: Path, suffix: str) -> Any:
    """Parse JSON or YAML, turning syntax errors into a message with the position."""
    try:
        return json.loads(text) if suffix == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{path}: invalid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ValidationError(f"{path}: invalid YAML{where}") from None


NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
REF_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_./-]{0,63}$")
TAG_PATTERN = re.compile(r"^[\w.-]{1,64}$")


def check_name(name: str, what: str = "prompt name") -> str:
    """A prompt name: letters, digits, `_.-`, up to 100 characters, no `@` (it separates refs)."""
    check_text(name, what, 100)
    if not NAME_PATTERN.match(name):
        raise ValidationError(f"{what} '{name}' may use letters, digits, '_', '.', '-' (1-100, starting with a letter or digit)")
    return name


def check_ref_name(name: str, what: str = "ref name") -> str:
    """A branch or label name: starts with a letter, then letters, digits, `_./-`."""
    check_text(name, what, 64)
    if not REF_PATTERN.match(name) or name.endswith("/") or ".." in name:
        raise ValidationError(f"{what} '{name}' must start with a letter and use letters, digits, '_', '.', '/', '-'")
    return name


def normalize_tags(tags: list[str] | tuple[str, ...] | None) -> list[str]:
    """Lower-cased, unique, sorted tags."""
    result = set()
    for tag in tags or ():
        check_text(tag, "tag", 64)
        tag = tag.strip().lower()
        if not TAG_PATTERN.match(tag):
            raise ValidationError(f"tag '{tag}' may use letters, digits, '_', '.', '-' (up to 64)")
        result.add(tag)
    return sorted(result)
