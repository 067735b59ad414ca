"""Three-way merge of prompt versions: text line by line, chat message by message, config key by key."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from merge3 import Merge3

from promptvault.diffing import flatten_config, key_label, messages_to_text, to_json, version_parts
from promptvault.errors import MergeConflictError

Content = str | list[dict[str, str]]
Path = tuple[str, ...]


class Mergeable(Protocol):
    """What a merge needs from a prompt version (dicts with these keys are accepted too)."""

    content: Content
    config: dict[str, Any]


@dataclass(frozen=True)
class Conflict:
    """Overlapping edits to one field; snippets are text (JSON for config), None where the field is absent."""

    field: str  # "text", "messages[2]" (index in base), "messages", "content" or "config.<key>"
    base: str | None
    ours: str | None
    theirs: str | None
    line: int | None = None  # 1-based line in the base text where a text conflict starts


@dataclass(frozen=True)
class MergeResult:
    """Merged content and config; with conflicts, text carries git-style markers and other fields keep ours."""

    content: Content
    config: dict[str, Any]
    conflicts: list[Conflict] = field(default_factory=list)


def merge_content(base: Mergeable | None, ours: Mergeable, theirs: Mergeable) -> MergeResult:
    """Three-way merge of content and config; conflicts are returned, not raised. No base: all is an addition."""
    parts = [version_parts(v) for v in (ours, theirs)]
    parts.insert(0, version_parts(base) if base is not None else ("" if isinstance(parts[0][0], str) else [], {}, []))
    content, content_conflicts = _merge_body(*(p[0] for p in parts))
    config, config_conflicts = merge_config(*(p[1] for p in parts))
    return MergeResult(content, config, content_conflicts + config_conflicts)


def merge_versions(base: Mergeable | None, ours: Mergeable, theirs: Mergeable) -> MergeResult:
    """Three-way merge that raises MergeConflictError naming every conflicting field."""
    result = merge_content(base, ours, theirs)
    raise_conflicts(result.conflicts)
    return result


def raise_conflicts(conflicts: list[Conflict], note: str = "") -> None:
    """Raise MergeConflictError naming every conflicting field, when there is any."""
    if conflicts:
        fields = ", ".join(dict.fromkeys(c.field for c in conflicts))
        raise MergeConflictError(f"merge conflict in {fields}{note}", conflicts)


def has_conflict_markers(text: str) -> bool:
    """Whether text still holds git-style conflict markers."""
    return any(line.startswith(("<<<<<<< ", ">>>>>>> ")) or line == "=======" for line in text.splitlines())


def merge_text(base: str, ours: str, theirs: str, name: str = "text") -> tuple[str, list[Conflict]]:
    """Line-based three-way merge; an overlapping region keeps both sides between conflict markers."""
    if ours == theirs or theirs == base:
        return ours, []
    if ours == base:
        return theirs, []
    b, o, t = (x.splitlines(keepends=True) for x in (base, ours, theirs))
    out: list[str] = []
    conflicts = []
    for region in Merge3(b, o, t).merge_regions():
        kind, start, end = region[:3]
        if kind == "conflict":
            zs, ze, os_, oe, ts, te = region[1:]
            snippets = ("".join(b[zs:ze]), "".join(o[os_:oe]), "".join(t[ts:te]))
            conflicts.append(Conflict(name, *snippets, line=zs + 1))
            out.append(_markers(*snippets))
        else:
            out += {"unchanged": b, "same": o, "a": o, "b": t}[kind][start:end]
    return "".join(out), conflicts


def _markers(base: str, ours: str, theirs: str) -> str:
    def ended(s: str) -> str:
        return s if not s or s.endswith("\n") else s + "\n"

    return f"<<<<<<< ours\n{ended(ours)}||||||| base\n{ended(base)}=======\n{ended(theirs)}>>>>>>> theirs\n"


def _merge_body(base: Content, ours: Content, theirs: Content) -> tuple[Content, list[Conflict]]:
    if ours == theirs or theirs == base:
        return ours, []
    if ours == base:
        return theirs, []
    if len({type(x) for x in (base, ours, theirs)}) > 1:
        # text <-> chat on one side while the other side edited, or on both sides differently
        return ours, [Conflict("content", *map(_as_text, (base, ours, theirs)))]
    if isinstance(base, str):
        return merge_text(base, ours, theirs)
    return _merge_messages(base, ours, theirs)


def _as_text(content: Content) -> str:
    return content if isinstance(content, str) else messages_to_text(content)


def _roles(messages: list[dict[str, str]]) -> list[str]:
    return [m["role"] for m in messages]


def _merge_messages(base: list, ours: list, theirs: list) -> tuple[list, list[Conflict]]:
    """Same shape: merge message by message; otherwise merge the list of messages, then any same-shape region."""
    if _roles(base) == _roles(ours) == _roles(theirs):
        return _merge_aligned(base, ours, theirs, 0)
    keys = [[to_json(m) for m in msgs] for msgs in (base, ours, theirs)]
    out: list[dict[str, str]] = []
    conflicts: list[Conflict] = []
    for region in Merge3(*keys).merge_regions():
        kind, start, end = region[:3]
        if kind != "conflict":
            out += {"unchanged": base, "same": ours, "a": ours, "b": theirs}[kind][start:end]
            continue
        zs, ze, os_, oe, ts, te = region[1:]
        b, o, t = base[zs:ze], ours[os_:oe], theirs[ts:te]
        if _roles(b) == _roles(o) == _roles(t):
            merged, found = _merge_aligned(b, o, t, zs)
        else:  # messages added, removed or re-roled on both sides at the same place
            merged, found = o, [Conflict("messages", *map(messages_to_text, (b, o, t)))]
        out += merged
        conflicts += found
    return out, conflicts


def _merge_aligned(base: list, ours: list, theirs: list, offset: int) -> tuple[list, list[Conflict]]:
    out, conflicts = [], []
    for i, (b, o, t) in enumerate(zip(base, ours, theirs)):
        text, found = merge_text(b["content"], o["content"], t["content"], f"messages[{offset + i}]")
        out.append({"role": o["role"], "content": text})
        conflicts += found
    return out, conflicts


def merge_config(base: dict, ours: dict, theirs: dict) -> tuple[dict, list[Conflict]]:
    """Key-wise three-way merge of nested configs; a key both sides changed differently is a conflict."""
    b, o, t = map(to_json, (base, ours, theirs))  # JSON, not ==, so that 1, 1.0 and true stay distinct
    if o in (t, b) or t == b:
        return (theirs if o == b else ours), []
    flats = [flatten_config(c) for c in (base, ours, theirs)]
    b, o, t = ({path: to_json(v) for path, v in flat.items()} for flat in flats)
    merged: dict[Path, Any] = {}
    conflicts: dict[Path, Conflict] = {}
    for path in dict.fromkeys([*flats[1], *flats[2], *flats[0]]):
        side = 2 if o.get(path) == b.get(path) and t.get(path) != b.get(path) else 1
        if o.get(path) not in (b.get(path), t.get(path)) and t.get(path) != b.get(path):
            conflicts[path] = Conflict(_field(path), b.get(path), o.get(path), t.get(path))
        if path in flats[side]:
            merged[path] = flats[side][path]
    _resolve_collisions(merged, conflicts, (base, ours, theirs), flats[1])
    return _unflatten(merged), list(conflicts.values())


def _field(path: Path) -> str:
    return key_label(("config", *path))


def _resolve_collisions(merged: dict, conflicts: dict, configs: tuple, ours_flat: dict) -> None:
    """A key set to a value on one side and given sub-keys on the other cannot both hold: conflict, keep ours."""
    for prefix in sorted({p[:i] for p in merged for i in range(1, len(p))}, key=len):
        if prefix not in merged or not any(len(p) > len(prefix) and p[: len(prefix)] == prefix for p in merged):
            continue
        if merged[prefix] == {}:  # an emptied object next to added sub-keys is no contradiction
            del merged[prefix]
            continue
        for path in [p for p in [*merged, *conflicts] if p[: len(prefix)] == prefix]:
            merged.pop(path, None)
            conflicts.pop(path, None)
        merged.update({p: v for p, v in ours_flat.items() if p[: len(prefix)] == prefix})
        conflicts[prefix] = Conflict(_field(prefix), *(_subtree(c, prefix) for c in configs))


def _subtree(config: dict, path: Path) -> str | None:
    node: Any = config
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return to_json(node)


def _unflatten(flat: dict[Path, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path, value in flat.items():
        node = out
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    return out
