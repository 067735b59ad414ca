"""Diffs of prompt versions: text engine, version sections, config, stats and the three renderers."""

import dataclasses
import math
import random
import re
import string
import threading
import time
from types import SimpleNamespace

import pytest

from promptvault import diffing
from promptvault.diff_render import line_blocks, render_inline_html, render_side_by_side_html, render_unified_text
from promptvault.diffing import DELETE, EQUAL, INSERT, diff_text, diff_versions
from promptvault.errors import ValidationError

RENDERERS = [render_inline_html, render_side_by_side_html, lambda d: render_unified_text(d, color=False)]


@pytest.fixture(params=["fast", "pure"])
def engine(request, monkeypatch):
    """Run a test on the C++ engine and on the pure-Python fallback."""
    if request.param == "pure":
        monkeypatch.setattr(diffing, "fast_diff_match_patch", None)
    return request.param


def version(content, config=None, variables=None):
    """A version-like dict."""
    return {"content": content, "config": config or {}, "variables": variables or []}


def chat(*pairs):
    """Chat messages from (role, content) pairs."""
    return [{"role": role, "content": content} for role, content in pairs]


def sides(ops):
    """The two texts a list of ops describes."""
    return "".join(t for o, t in ops if o != INSERT), "".join(t for o, t in ops if o != DELETE)


def random_text(seed, size):
    """Reproducible random letters, digits, spaces and newlines."""
    rng = random.Random(seed)
    return "".join(rng.choices(string.ascii_letters + string.digits + " \n", k=size))


@pytest.mark.parametrize(
    "a, b",
    [
        ("", ""),
        ("", "new"),
        ("old", ""),
        ("same", "same"),
        ("The quick brown fox", "The slow brown dog"),
        ("line1\nline2\n", "line1\nline2 changed\nline3\n"),
        ("héllo 😀 wörld", "héllo 😃 world"),
        ("a\x00b", "a\x00c"),
    ],
)
def test_diff_text_ops_rebuild_both_sides(engine, a, b):
    assert sides(diff_text(a, b)) == (a, b)


def test_diff_text_reads_at_word_level(engine):
    assert diff_text("The quick brown fox", "The slow brown dog") == [
        (EQUAL, "The "), (DELETE, "quick"), (INSERT, "slow"), (EQUAL, " brown "), (DELETE, "fox"), (INSERT, "dog"),
    ]


def test_diff_text_engines_agree(monkeypatch):
    a = random_text(1, 20_000)
    b = "".join(c.upper() if i % 97 == 0 else c for i, c in enumerate(a))
    fast = diff_text(a, b)
    monkeypatch.setattr(diffing, "fast_diff_match_patch", None)
    assert diff_text(a, b) == fast


@pytest.mark.parametrize("timeout", [0, -1, math.nan, math.inf, True, "1", None])
def test_diff_text_rejects_unbounded_timeout(timeout):
    with pytest.raises(ValidationError):
        diff_text("a", "b", timeout=timeout)
    with pytest.raises(ValidationError):
        diff_versions(version("a"), version("b"), timeout=timeout)


def cpu_seconds(work):
    """CPU seconds `work` takes in a daemon thread; infinity if it still runs after 10 s."""
    # CPU, not wall time: the C++ engine's limit is clock()-based, so busy neighbours stretch its wall time in
    # proportion; the timeout bounds the work. The thread keeps a runaway diff (no signal reaches C++) from
    # hanging the suite.
    spent = []

    def measured():
        spent.append((time.thread_time(), work(), time.thread_time()))

    worker = threading.Thread(target=measured, daemon=True)
    worker.start()
    worker.join(10)
    return spent[0][2] - spent[0][0] if spent else math.inf


def test_diff_text_stops_near_timeout_on_unrelated_texts(engine):
    a, b = random_text(2, 200_000), random_text(3, 200_000)
    ops = []
    assert cpu_seconds(lambda: ops.extend(diff_text(a, b, timeout=0.3))) < 0.6
    assert sides(ops) == (a, b)


def test_diff_versions_timeout_bounds_all_messages(engine):
    old = version(chat(*[("user", random_text(100 + i, 25_000)) for i in range(10)]))
    new = version(chat(*[("user", random_text(200 + i, 25_000)) for i in range(10)]))
    assert cpu_seconds(lambda: diff_versions(old, new, timeout=0.3)) < 0.6


def test_diff_versions_text_has_one_section():
    diff = diff_versions(version("Hello world"), version("Hello there"))
    assert [(s.name, s.status) for s in diff.sections] == [("text", "changed")]
    assert (diff.old_kind, diff.new_kind) == ("text", "text")


@pytest.mark.parametrize(
    "old, new, expected",
    [
        (chat(("system", "a")), chat(("system", "a")), [("messages[0]", "unchanged", "system", "system")]),
        (chat(("system", "a")), chat(("system", "b")), [("messages[0]", "changed", "system", "system")]),
        (chat(("user", "a")), chat(("assistant", "a")), [("messages[0]", "changed", "user", "assistant")]),
        (chat(), chat(("user", "hi")), [("messages[0]", "added", None, "user")]),
        (
            chat(("system", "s"), ("user", "u")),
            chat(("system", "s")),
            [("messages[0]", "unchanged", "system", "system"), ("messages[1]", "removed", "user", None)],
        ),
    ],
)
def test_diff_versions_aligns_messages_by_index(old, new, expected):
    diff = diff_versions(version(old), version(new))
    assert [(s.name, s.status, s.old_role, s.new_role) for s in diff.sections] == expected


def test_diff_versions_role_change_is_flagged_and_shown():
    diff = diff_versions(version(chat(("user", "x"))), version(chat(("assistant", "x"))))
    assert diff.sections[0].role_changed
    assert render_unified_text(diff, color=False).splitlines()[0] == "@@ messages[0] (user -> assistant) changed @@"


def test_diff_versions_text_against_chat_compares_rendering():
    diff = diff_versions(version("You are terse."), version(chat(("system", "You are terse."))))
    assert (diff.old_kind, diff.new_kind) == ("text", "chat")
    assert [s.name for s in diff.sections] == ["text"]
    assert sides(diff.sections[0].ops) == ("You are terse.", "[system]\nYou are terse.")


@pytest.mark.parametrize(
    "old, new, expected",
    [
        ({"temperature": 0.2}, {"temperature": 0.7}, [("temperature", "changed", "0.2", "0.7")]),
        ({}, {"top_p": 1}, [("top_p", "added", None, "1")]),
        ({"seed": 7}, {}, [("seed", "removed", "7", None)]),
        ({"p": {"a": {"b": 1}}}, {"p": {"a": {"b": 2}}}, [("p.a.b", "changed", "1", "2")]),
        ({"t": 1}, {"t": 1.0}, [("t", "changed", "1", "1.0")]),
        ({"t": 1}, {"t": True}, [("t", "changed", "1", "true")]),
        ({"stop": ["a"]}, {"stop": ["a", "b"]}, [("stop", "changed", '["a"]', '["a", "b"]')]),
        ({"a.b": 1}, {"a": {"b": 1}}, [('["a.b"]', "removed", "1", None), ("a.b", "added", None, "1")]),
        ({"p": {}}, {"p": {"x": None}}, [("p", "removed", "{}", None), ("p.x", "added", None, "null")]),
        ({"model": "m", "x": {"y": 1}}, {"x": {"y": 1}, "model": "m"}, []),
    ],
)
def test_diff_versions_config_key_by_key(old, new, expected):
    changes = diff_versions(version("", old), version("", new)).config
    assert [(c.key, c.status, c.old, c.new) for c in changes] == expected


def test_diff_versions_variables_added_and_removed():
    diff = diff_versions(version("", variables=["name", "tone"]), version("", variables=["tone", "city"]))
    assert (diff.variables_added, diff.variables_removed) == (["city"], ["name"])


@pytest.mark.parametrize(
    "old, new, inserted, deleted",
    [
        ("abc", "abc", 0, 0),
        ("The quick fox", "The slow fox", 4, 5),
        ("", "hello", 5, 0),
        (chat(("user", "hi"), ("user", "bye")), chat(("user", "hi!")), 1, 3),
    ],
)
def test_diff_versions_stats_count_characters(old, new, inserted, deleted):
    stats = diff_versions(version(old), version(new)).stats
    assert (stats.chars_inserted, stats.chars_deleted) == (inserted, deleted)


@pytest.mark.parametrize(
    "old, new, changed",
    [
        (version("a", {"t": 1}, ["x"]), version("a", {"t": 1}, ["x"]), False),
        (version("a"), version("a "), True),
        (version("a", {"t": 1}), version("a", {"t": 2}), True),
        (version("a", variables=["x"]), version("a"), True),
    ],
)
def test_diff_versions_has_changes(old, new, changed):
    assert diff_versions(old, new).has_changes is changed


def test_diff_versions_json_output_carries_stats_and_change_flag():
    data = dataclasses.asdict(diff_versions(version("The quick fox"), version("The slow fox")))
    assert data["has_changes"] is True and data["stats"] == {"chars_inserted": 4, "chars_deleted": 5}


def test_diff_versions_accepts_objects():
    old = SimpleNamespace(content="a", config={"t": 1}, variables=[])
    new = SimpleNamespace(content="b", config={"t": 1}, variables=["v"])
    diff = diff_versions(old, new)
    assert diff.has_changes and diff.variables_added == ["v"]


@pytest.mark.parametrize(
    "content, config",
    [(None, {}), (42, {}), ([{"role": "user"}], {}), (["hi"], {}), ([{"role": 1, "content": "x"}], {}),
     ([{"role": "user", "content": "x", "name": "a"}], {}),
     ("ok", ["not", "a", "dict"]), ("ok", {"bad": object()})],
)
def test_diff_versions_rejects_malformed_versions(content, config):
    with pytest.raises(ValidationError):
        diff_versions(version("ok"), {"content": content, "config": config})


def test_line_blocks_keeps_old_last_line_when_a_line_is_appended():
    ops = diff_text("You are x.\nBe brief.", "You are y.\nBe brief.\nAnd kind.")
    blocks = [(b.context, [o.text for o in b.old], [n.text for n in b.new]) for b in line_blocks(ops)]
    assert blocks == [
        (False, ["You are x."], ["You are y."]),
        (True, ["Be brief."], ["Be brief."]),
        (False, [], ["And kind."]),
    ]


def split_rows(html_text):
    """(old number, old text, new number, new text) of each side-by-side row."""
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", html_text):
        cells = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        rows.append((cells[0], cells[2], cells[3], cells[5]))
    return rows


def test_render_side_by_side_pairs_changed_lines():
    diff = diff_versions(version("a\nb\nc\ne"), version("a\nB\nc\nd\ne"))
    assert split_rows(render_side_by_side_html(diff)) == [
        ("1", "a", "1", "a"),
        ("2", "b", "2", "B"),
        ("3", "c", "3", "c"),
        ("", "", "4", "d"),
        ("4", "e", "5", "e"),
    ]


def test_render_inline_lists_deletions_before_insertions():
    diff = diff_versions(version("keep\nold one\nold two"), version("keep\nnew one"))
    signs = re.findall(r'<td class="pv-diff-sign[^"]*">([-+]?)</td><td class="pv-diff-code[^"]*">(.*?)</td>',
                       render_inline_html(diff))
    assert [(s, re.sub(r"<[^>]+>", "", t)) for s, t in signs] == [
        ("", "keep"), ("-", "old one"), ("-", "old two"), ("+", "new one"),
    ]


@pytest.mark.parametrize("render", [render_inline_html, render_side_by_side_html])
def test_render_html_colours_like_github(render):
    page = render(diff_versions(version("The quick fox"), version("The slow fox")))
    for colour in ("#ffebe9", "#ffcecb", "#e6ffec", "#abf2bc"):
        assert colour in page
    assert '<span class="pv-diff-word-del">quick</span>' in page
    assert '<span class="pv-diff-word-ins">slow</span>' in page
    assert all(name.startswith("pv-diff") for names in re.findall(r'class="([^"]+)"', page) for name in names.split())
    css = page.split("</style>")[0].removeprefix("<style>")
    assert all(rule.startswith(".pv-diff") for rule in re.findall(r"(?:^|})\s*([^{}]+)\{", css))


SCRIPT = "<script>alert('x')</script>"


@pytest.mark.parametrize("render", [render_inline_html, render_side_by_side_html])
@pytest.mark.parametrize(
    "old, new",
    [
        (version("hello"), version(f"hello {SCRIPT}")),
        (version(chat(("user", "hi"))), version(chat((SCRIPT, "hi")))),
        (version("x", {"model": "a"}), version("x", {SCRIPT: SCRIPT})),
        (version("x"), version("x", variables=[SCRIPT])),
        (version(f"{SCRIPT}"), version(f"{SCRIPT}")),
    ],
)
def test_render_html_escapes_user_text(render, old, new):
    out = render(diff_versions(old, new))
    assert "<script" not in out and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in out


@pytest.mark.parametrize("render", RENDERERS)
def test_render_shows_control_characters_as_escapes(render):
    out = render(diff_versions(version("safe"), version("safe \x1b[2J\u202egnp.exe")))
    assert "\x1b[2J" not in out and "\u202e" not in out
    assert "\\u001b" in out and "\\u202e" in out


@pytest.mark.parametrize("render", RENDERERS)
def test_render_says_no_changes(render):
    assert "No changes" in render(diff_versions(version("same"), version("same")))


def test_render_unified_text_marks_words_without_colour():
    out = render_unified_text(diff_versions(version("The quick fox"), version("The slow fox")), color=False)
    assert out.splitlines() == ["@@ text changed @@", "- The [-quick-] fox", "+ The {+slow+} fox"]
    assert "\x1b" not in out


def test_render_unified_text_colours_lines():
    out = render_unified_text(diff_versions(version("a\nb", {"t": 1}), version("a\nc", {"t": 2})), color=True)
    lines = out.splitlines()
    assert "  a" in lines
    assert "\x1b[31m- b\x1b[0m" in lines and "\x1b[32m+ c\x1b[0m" in lines
    assert "\x1b[31m- t: 1\x1b[0m" in lines and "\x1b[32m+ t: 2\x1b[0m" in lines
