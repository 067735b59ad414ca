"""Diffs of two prompt versions (content, config, variables) and their HTML and terminal renderings."""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass, field
from itertools import zip_longest
from typing import Any, Protocol

import diff_match_patch

from promptvault.errors import ValidationError

try:  # the C++ engine is ~10x faster with identical output; the pure-Python one is the fallback
    import fast_diff_match_patch
except ImportError:  # pragma: no cover - depends on the platform's wheels
    fast_diff_match_patch = None

DELETE, EQUAL, INSERT = -1, 0, 1
_FAST_OPS = {"-": DELETE, "=": EQUAL, "+": INSERT}
_MIN_SECTION_TIMEOUT = 0.005  # past the deadline, each remaining message gets a near-instant coarse diff
_PLAIN_KEY = re.compile(r'[^.\[\]"]+')


class VersionLike(Protocol):
    """What a diff needs from a prompt version (dicts with these keys are accepted too)."""

    content: str | list[dict[str, str]]
    config: dict[str, Any]
    variables: list[str]


@dataclass(frozen=True)
class Section:
    """One compared piece of content: the whole text, or one chat message."""

    name: str
    status: str  # "unchanged" | "changed" | "added" | "removed"
    ops: list[tuple[int, str]]
    old_role: str | None = None
    new_role: str | None = None

    @property
    def role_changed(self) -> bool:
        """True when both sides are messages with different roles."""
        return None not in (self.old_role, self.new_role) and self.old_role != self.new_role


@dataclass(frozen=True)
class ConfigChange:
    """One flattened config key that differs; values are JSON text, None when absent."""

    key: str
    status: str  # "added" | "removed" | "changed"
    old: str | None
    new: str | None


@dataclass(frozen=True)
class DiffStats:
    """Characters inserted and deleted across all content sections."""

    chars_inserted: int
    chars_deleted: int


@dataclass(frozen=True)
class VersionDiff:
    """Everything that differs between two versions."""

    old_kind: str  # "text" | "chat"
    new_kind: str
    sections: list[Section]
    config: list[ConfigChange] = field(default_factory=list)
    variables_added: list[str] = field(default_factory=list)
    variables_removed: list[str] = field(default_factory=list)
    stats: DiffStats = field(init=False)
    has_changes: bool = field(init=False)

    def __post_init__(self) -> None:
        """Derive stats and the change flag once, as fields, so JSON output carries them too."""
        ops = [op for s in self.sections for op in s.ops]
        stats = DiffStats(sum(len(t) for o, t in ops if o == INSERT), sum(len(t) for o, t in ops if o == DELETE))
        changed = any(s.status != "unchanged" for s in self.sections) or bool(self.config)
        object.__setattr__(self, "stats", stats)
        object.__setattr__(self, "has_changes", changed or bool(self.variables_added or self.variables_removed))


def diff_text(a: str, b: str, timeout: float = 1.0) -> list[tuple[int, str]]:
    """Character diff with semantic cleanup; past `timeout` seconds it is coarser but still exact."""
    if not isinstance(a, str) or not isinstance(b, str):
        raise ValidationError("diff_text compares two strings")
    _check_timeout(timeout)
    if fast_diff_match_patch is not None:
        raw = fast_diff_match_patch.diff(a, b, timelimit=timeout, cleanup="Semantic", counts_only=False)
        return [(_FAST_OPS[op], text) for op, text in raw]
    dmp = diff_match_patch.diff_match_patch()
    dmp.Diff_Timeout = timeout
    ops = dmp.diff_main(a, b)
    dmp.diff_cleanupSemantic(ops)
    return [(op, text) for op, text in ops]


def _check_timeout(timeout: float) -> None:
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout < math.inf:
        raise ValidationError("diff timeout must be a positive number of seconds")  # 0 would mean "no limit"


def messages_to_text(messages: list[dict[str, str]]) -> str:
    """Render chat messages as one text, so a text version can be compared with a chat version."""
    return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in messages)


def version_parts(version: Any) -> tuple[str | list[dict[str, str]], dict[str, Any], list[str]]:
    """Validated (content, config, variables) of an object or dict with those fields."""
    get = version.get if isinstance(version, dict) else lambda name, default: getattr(version, name, default)
    content, config, variables = get("content", None), get("config", None) or {}, get("variables", None) or []
    if isinstance(content, list):
        for m in content:  # exactly these two keys, as content.ChatMessage: a merge must not drop unknown ones
            if not (isinstance(m, dict) and m.keys() == {"role", "content"} and all(map(_is_str, m.values()))):
                raise ValidationError("a chat message is exactly a string 'role' and a string 'content'")
    elif not isinstance(content, str):
        raise ValidationError("content must be a string or a list of chat messages")
    if not isinstance(config, dict):
        raise ValidationError("config must be a JSON object")
    return content, config, [str(v) for v in variables]


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def to_json(value: Any) -> str:
    """Canonical JSON text of a config value (so 1, 1.0 and true stay distinct)."""
    try:
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"config value is not JSON: {exc}") from None


def flatten_config(config: dict[str, Any], prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    """Nested config as {key path: leaf value}; empty objects are leaves."""
    flat: dict[tuple[str, ...], Any] = {}
    for key, value in config.items():
        path = (*prefix, str(key))
        if isinstance(value, dict) and value:
            flat.update(flatten_config(value, path))
        else:
            flat[path] = value
    return flat


def key_label(path: tuple[str, ...]) -> str:
    """Dotted form of a key path; a segment holding a dot, bracket or quote is shown as ["..."]."""
    label = ""
    for p in path:
        label += f"{'.' if label else ''}{p}" if _PLAIN_KEY.fullmatch(p) else f"[{json.dumps(p)}]"
    return label


def diff_config(old: dict[str, Any], new: dict[str, Any]) -> list[ConfigChange]:
    """Key-by-key changes between two configs, nested keys flattened to dotted paths."""
    a = {k: to_json(v) for k, v in flatten_config(old).items()}
    b = {k: to_json(v) for k, v in flatten_config(new).items()}
    changes = []
    for path in [*a, *(k for k in b if k not in a)]:
        old_value, new_value = a.get(path), b.get(path)
        if old_value != new_value:
            status = "added" if old_value is None else "removed" if new_value is None else "changed"
            changes.append(ConfigChange(key_label(path), status, old_value, new_value))
    return changes


def diff_versions(old: VersionLike, new: VersionLike, timeout: float = 1.0) -> VersionDiff:
    """Compare two versions; `timeout` bounds all content diffs together."""
    old_content, old_config, old_vars = version_parts(old)
    new_content, new_config, new_vars = version_parts(new)
    _check_timeout(timeout)
    deadline = time.monotonic() + timeout
    return VersionDiff(
        _kind(old_content), _kind(new_content), _content_sections(old_content, new_content, deadline),
        diff_config(old_config, new_config),
        variables_added=[v for v in new_vars if v not in old_vars],
        variables_removed=[v for v in old_vars if v not in new_vars],
    )


def _kind(content: str | list) -> str:
    return "text" if isinstance(content, str) else "chat"


def _remaining(deadline: float) -> float:
    return max(deadline - time.monotonic(), _MIN_SECTION_TIMEOUT)


def _content_sections(old: str | list, new: str | list, deadline: float) -> list[Section]:
    if isinstance(old, list) and isinstance(new, list):
        return [_message_section(i, a, b, deadline) for i, (a, b) in enumerate(zip_longest(old, new))]
    a = old if isinstance(old, str) else messages_to_text(old)
    b = new if isinstance(new, str) else messages_to_text(new)
    return [Section("text", "unchanged" if a == b else "changed", diff_text(a, b, _remaining(deadline)))]


def _message_section(index: int, old: dict | None, new: dict | None, deadline: float) -> Section:
    name = f"messages[{index}]"
    if new is None:
        return Section(name, "removed", [(DELETE, old["content"])] if old["content"] else [], old["role"])
    if old is None:
        return Section(name, "added", [(INSERT, new["content"])] if new["content"] else [], None, new["role"])
    ops = diff_text(old["content"], new["content"], _remaining(deadline))
    status = "unchanged" if old == new else "changed"
    return Section(name, status, ops, old["role"], new["role"])
