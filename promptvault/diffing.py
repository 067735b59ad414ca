"""Diffs of two prompt versions (content, config, variables) and their HTML and terminal renderings."""

from __future__ import annotations

import html
import json
import math
import re
import time
from dataclasses import dataclass, field
from itertools import zip_longest
from typing import Any, Callable, NamedTuple, Protocol

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
# Controls and bidi overrides are shown as escapes so nothing hides or reorders text in a page or a terminal.
_INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


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


@dataclass(frozen=True)
class Line:
    """One shown line: its number, (highlighted, text) segments, and whether an edit reaches it."""

    number: int
    segments: tuple[tuple[bool, str], ...]
    touched: bool

    @property
    def text(self) -> str:
        """The line's plain text."""
        return "".join(t for _, t in self.segments)

    @property
    def partly_changed(self) -> bool:
        """True when only some words changed, so word highlights are worth showing."""
        return any(h for h, _ in self.segments) and not all(h for h, _ in self.segments)


class Block(NamedTuple):
    """An unchanged line (one old, one new) or a run of deleted and inserted lines."""

    context: bool
    old: list[Line]
    new: list[Line]


class _Side:
    """Collects one side's lines while the ops are walked."""

    def __init__(self) -> None:
        self.number, self.segments, self.touched = 0, [], False

    def add(self, piece: str, highlighted: bool) -> Line | None:
        """Append a piece whose only newline, if any, ends it; return the line that newline closes."""
        if piece.removesuffix("\n"):
            self.segments.append((highlighted, piece.removesuffix("\n")))
        self.touched |= highlighted
        return self.close() if piece.endswith("\n") else None

    def close(self) -> Line:
        """Finish the current line."""
        self.number += 1
        line = Line(self.number, tuple(self.segments), self.touched)
        self.segments, self.touched = [], False
        return line


def line_blocks(ops: list[tuple[int, str]]) -> list[Block]:
    """Lay character ops out as lines: unchanged lines, and runs of deleted/inserted lines between them."""
    old, new, blocks = _Side(), _Side(), [Block(False, [], [])]
    for op, text in _line_aligned(ops):
        for piece in re.findall(r"[^\n]*\n|[^\n]+", text):
            o = old.add(piece, op == DELETE) if op != INSERT else None
            n = new.add(piece, op == INSERT) if op != DELETE else None
            _place(blocks, o, n)
    o = old.close() if old.segments or old.touched else None
    n = new.close() if new.segments or new.touched else None
    _place(blocks, o, n)
    return [b for b in blocks if b.old or b.new]


def _line_aligned(ops: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """When neither text ends in a newline, add one to both and slide lone edits onto line boundaries."""
    ends = ["".join(t for o, t in ops if o != skip)[-1:] for skip in (INSERT, DELETE)]
    if "\n" in ends or "" in ends:  # else a line appended at the end would mark the old last line as changed
        return ops
    aligned = [*ops[:-1], (EQUAL, ops[-1][1] + "\n")] if ops[-1][0] == EQUAL else [*ops, (EQUAL, "\n")]
    diff_match_patch.diff_match_patch().diff_cleanupSemanticLossless(aligned)
    return aligned


def _place(blocks: list[Block], o: Line | None, n: Line | None) -> None:
    if o and n and not (o.touched or n.touched) and o.text == n.text:
        blocks[-1:] = [blocks[-1], Block(True, [o], [n]), Block(False, [], [])]
    else:
        blocks[-1].old.extend([o] if o else [])
        blocks[-1].new.extend([n] if n else [])


def visible(text: str) -> str:
    """Text with control and bidi characters shown as escapes."""
    return _INVISIBLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def section_title(diff: VersionDiff, section: Section) -> str:
    """Header for a section, e.g. 'messages[1] (user -> assistant) changed'."""
    name = f"{section.name} ({diff.old_kind} -> {diff.new_kind})" if diff.old_kind != diff.new_kind else section.name
    role = f"{section.old_role} -> {section.new_role}" if section.role_changed else section.old_role or section.new_role
    return f"{name} ({role}) {section.status}" if role else f"{name} {section.status}"


def _extras(diff: VersionDiff) -> list[tuple[str, list[tuple[str, str]]]]:
    """Config and variable changes as titled lists of ("-" or "+", text)."""
    config = [(sign, f"{c.key}: {value}") for c in diff.config for sign, value in (("-", c.old), ("+", c.new))
              if value is not None]
    variables = [("-", v) for v in diff.variables_removed] + [("+", v) for v in diff.variables_added]
    return [(title, rows) for title, rows in (("config", config), ("variables", variables)) if rows]


_CSS = """<style>.pv-diff{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px;
line-height:1.5;color:#1f2328}.pv-diff-section{border:1px solid #d1d9e0;border-radius:6px;margin:0 0 12px;
overflow:hidden}.pv-diff-head{background:#f6f8fa;padding:6px 10px;border-bottom:1px solid #d1d9e0;font-weight:600}
.pv-diff-table{width:100%;border-collapse:collapse;table-layout:fixed}
.pv-diff-table td{vertical-align:top;padding:0 6px}
.pv-diff-num{width:3.5em;text-align:right;color:#59636e;user-select:none}.pv-diff-sign{width:1em;user-select:none}
.pv-diff-code{white-space:pre-wrap;overflow-wrap:anywhere}.pv-diff-code:empty::before{content:"\\200b"}
.pv-diff-del{background:#ffebe9}.pv-diff-ins{background:#e6ffec}.pv-diff-empty{background:#f6f8fa}
.pv-diff-word-del{background:#ffcecb;border-radius:2px}.pv-diff-word-ins{background:#abf2bc;border-radius:2px}
.pv-diff-none{padding:6px 10px;color:#59636e}</style>"""
_KIND = {"-": "del", "+": "ins"}


def render_inline_html(diff: VersionDiff) -> str:
    """GitHub-style unified HTML: deleted lines, then inserted lines, changed words darker."""
    return _page(diff, _inline_rows)


def render_side_by_side_html(diff: VersionDiff) -> str:
    """GitHub-style split HTML: old lines on the left, new lines on the right, paired row by row."""
    return _page(diff, _split_rows)


def _page(diff: VersionDiff, rows: Callable[[Block], str]) -> str:
    parts = [_CSS, '<div class="pv-diff">']
    if not diff.has_changes:
        parts.append('<div class="pv-diff-none">No changes</div>')
    for section in diff.sections:
        parts.append(_box(section_title(diff, section), "".join(map(rows, line_blocks(section.ops)))))
    for title, signed in _extras(diff):
        parts.append(_box(title, "".join(f"<tr>{_cells(text, sign, _KIND[sign])}</tr>" for sign, text in signed)))
    return "".join(parts) + "</div>"


def _box(title: str, rows: str) -> str:
    head = f'<div class="pv-diff-head">{_esc(title)}</div>'
    return f'<div class="pv-diff-section">{head}<table class="pv-diff-table">{rows}</table></div>'


def _esc(text: str) -> str:
    return html.escape(visible(text), quote=True)


def _td(cls: str, content: object = "", kind: str = "") -> str:
    return f'<td class="pv-diff-{cls}{f" pv-diff-{kind}" if kind else ""}">{content}</td>'


def _num(line: Line | None, kind: str) -> str:
    return _td("num", line.number if line else "", kind if line or not kind else "empty")


def _cells(line: Line | str | None, sign: str, kind: str) -> str:
    if line is None:
        return _td("sign", kind="empty") + _td("code", kind="empty")
    return _td("sign", sign, kind) + _td("code", _code(line, kind), kind)


def _code(line: Line | str, kind: str) -> str:
    if isinstance(line, str) or not (kind and line.partly_changed):
        return _esc(line if isinstance(line, str) else line.text)
    return "".join(f'<span class="pv-diff-word-{kind}">{_esc(t)}</span>' if h else _esc(t) for h, t in line.segments)


def _inline_rows(block: Block) -> str:
    if block.context:
        return f"<tr>{_num(block.old[0], '')}{_num(block.new[0], '')}{_cells(block.new[0], '', '')}</tr>"
    rows = [f"<tr>{_num(o, 'del')}{_td('num', '', 'del')}{_cells(o, '-', 'del')}</tr>" for o in block.old]
    rows += [f"<tr>{_td('num', '', 'ins')}{_num(n, 'ins')}{_cells(n, '+', 'ins')}</tr>" for n in block.new]
    return "".join(rows)


def _split_rows(block: Block) -> str:
    if block.context:
        o, n = block.old[0], block.new[0]
        return f"<tr>{_num(o, '')}{_cells(o, '', '')}{_num(n, '')}{_cells(n, '', '')}</tr>"
    pairs = zip_longest(block.old, block.new)
    return "".join(f"<tr>{_num(o, 'del')}{_cells(o, '-', 'del')}{_num(n, 'ins')}{_cells(n, '+', 'ins')}</tr>"
                   for o, n in pairs)


_RED, _GREEN, _BOLD, _REVERSE, _NORMAL, _RESET = "\x1b[31m", "\x1b[32m", "\x1b[1m", "\x1b[7m", "\x1b[27m", "\x1b[0m"


def render_unified_text(diff: VersionDiff, color: bool) -> str:
    """Unified listing for a terminal: -/+ lines, changed words in reverse video or as [-old-]{+new+}."""
    out = [] if diff.has_changes else ["No changes"]
    for section in diff.sections:
        out.append(_paint(f"@@ {visible(section_title(diff, section))} @@", _BOLD, color))
        for block in line_blocks(section.ops):
            if block.context:
                out.append("  " + visible(block.old[0].text))
                continue
            out += [_paint("- " + _words(o, "[-", "-]", color), _RED, color) for o in block.old]
            out += [_paint("+ " + _words(n, "{+", "+}", color), _GREEN, color) for n in block.new]
    for title, signed in _extras(diff):
        out.append(_paint(f"@@ {title} @@", _BOLD, color))
        out += [_paint(f"{sign} {visible(text)}", _RED if sign == "-" else _GREEN, color) for sign, text in signed]
    return "\n".join(out)


def _paint(text: str, code: str, color: bool) -> str:
    return f"{code}{text}{_RESET}" if color else text


def _words(line: Line, start: str, end: str, color: bool) -> str:
    if not line.partly_changed:
        return visible(line.text)
    if color:
        start, end = _REVERSE, _NORMAL
    return "".join(f"{start}{visible(t)}{end}" if h else visible(t) for h, t in line.segments)
