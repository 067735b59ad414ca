"""Renderings of a VersionDiff: GitHub-style HTML (inline and side by side) and terminal text."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from itertools import zip_longest
from typing import Callable, NamedTuple

import diff_match_patch

from promptvault.diffing import DELETE, EQUAL, INSERT, Section, VersionDiff

# Controls and bidi overrides are shown as escapes so nothing hides or reorders text in a page or a terminal.
_INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


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
