"""Three-way merges: text lines, chat messages, content kind and config keys."""

import time
from types import SimpleNamespace

import pytest

from promptvault.errors import MergeConflictError, ValidationError
from promptvault.merging import Conflict, merge_config, merge_content, merge_text, merge_versions

BASE = "You are a helpful assistant.\nAnswer in English.\nBe concise.\nCite sources.\n"


def version(content, config=None):
    """A version-like dict."""
    return {"content": content, "config": config or {}}


def chat(*pairs):
    """Chat messages from (role, content) pairs."""
    return [{"role": role, "content": content} for role, content in pairs]


@pytest.mark.parametrize(
    "ours, theirs, expected",
    [
        (BASE, BASE, BASE),
        (BASE.replace("helpful", "kind"), BASE, BASE.replace("helpful", "kind")),
        (BASE, BASE.replace("concise", "brief"), BASE.replace("concise", "brief")),
        (
            BASE.replace("helpful", "kind"),
            BASE.replace("Cite sources.", "Cite two sources."),
            "You are a kind assistant.\nAnswer in English.\nBe concise.\nCite two sources.\n",
        ),
        (
            BASE + "Use bullet points.\n",
            BASE.replace("helpful", "kind"),
            BASE.replace("helpful", "kind") + "Use bullet points.\n",
        ),
        (
            BASE.replace("Answer in English.\n", ""),
            BASE.replace("Cite sources.", "Cite."),
            "You are a helpful assistant.\nBe concise.\nCite.\n",
        ),
        (BASE.replace("concise", "brief"), BASE.replace("concise", "brief"), BASE.replace("concise", "brief")),
    ],
)
def test_merge_text_applies_non_overlapping_edits(ours, theirs, expected):
    assert merge_text(BASE, ours, theirs) == (expected, [])


@pytest.mark.parametrize(
    "ours, theirs, conflict",
    [
        (
            BASE.replace("English", "French"),
            BASE.replace("English", "German"),
            Conflict("text", "Answer in English.\n", "Answer in French.\n", "Answer in German.\n", line=2),
        ),
        (
            BASE + "Ours last.",
            BASE + "Theirs last.",
            Conflict("text", "", "Ours last.", "Theirs last.", line=5),
        ),
        (
            BASE.replace("helpful", "kind"),
            BASE.replace("English", "French"),
            Conflict("text", "You are a helpful assistant.\nAnswer in English.\n",
                     "You are a kind assistant.\nAnswer in English.\n",
                     "You are a helpful assistant.\nAnswer in French.\n", line=1),
        ),
        (
            BASE.replace("Be concise.\n", ""),
            BASE.replace("Be concise.", "Be very concise."),
            Conflict("text", "Be concise.\n", "", "Be very concise.\n", line=3),
        ),
    ],
)
def test_merge_text_overlap_is_a_conflict_that_keeps_both_sides(ours, theirs, conflict):
    merged, conflicts = merge_text(BASE, ours, theirs)
    assert conflicts == [conflict]
    assert "<<<<<<< ours\n" in merged and ">>>>>>> theirs\n" in merged
    assert conflict.ours in merged and conflict.theirs in merged and conflict.base in merged


def test_merge_text_edits_one_blank_line_apart_merge_cleanly():
    base = "".join(f"line {i}\n\n" for i in range(150))  # blank lines are "popular" to difflib past 200 lines
    ours = base.replace("line 10\n", "line ten\n")
    theirs = base.replace("line 11\n", "line eleven\n")
    expected = base.replace("line 10\n", "line ten\n").replace("line 11\n", "line eleven\n")
    assert merge_text(base, ours, theirs) == (expected, [])


@pytest.mark.timeout(10)
@pytest.mark.parametrize("line", [lambda i: f"line {i}\n", lambda i: "same\n", lambda i: "ab"[i % 2] + "\n"])
def test_merge_text_large_input_stays_fast_and_keeps_both_sides(line):
    base = "".join(line(i) for i in range(20_000))
    took = []
    for _ in range(3):  # the best of three: a quadratic merge is slow every time, a stalled machine only once
        started = time.monotonic()
        merged, _ = merge_text(base, "ours\n" + base, base + "theirs\n")
        took.append(time.monotonic() - started)
    assert min(took) < 1.0, took
    assert "ours\n" in merged and "theirs\n" in merged


SYSTEM = ("system", "You are a helpful assistant.\nAnswer in English.\nBe concise.\n")
KIND = SYSTEM[1].replace("helpful", "kind")
USER = ("user", "Summarise {{text}}.\nUse bullet points.\n")


@pytest.mark.parametrize(
    "ours, theirs, expected",
    [
        (
            chat(("system", KIND), USER),
            chat(SYSTEM, ("user", "Summarise {{text}}.\nUse numbered points.\n")),
            chat(("system", KIND), ("user", "Summarise {{text}}.\nUse numbered points.\n")),
        ),
        (
            chat(SYSTEM, ("user", "Summarise {{text}} fully.\nUse bullet points.\n")),
            chat(SYSTEM, ("user", "Summarise {{text}}.\nUse bullet points.\nAdd a title.\n")),
            chat(SYSTEM, ("user", "Summarise {{text}} fully.\nUse bullet points.\nAdd a title.\n")),
        ),
        (chat(SYSTEM, USER, ("assistant", "- x")), chat(SYSTEM, USER), chat(SYSTEM, USER, ("assistant", "- x"))),
        (chat(SYSTEM, USER), chat(USER), chat(USER)),
        (chat(SYSTEM, ("assistant", USER[1])), chat(SYSTEM, USER), chat(SYSTEM, ("assistant", USER[1]))),
        (
            chat(("system", KIND), USER),
            chat(SYSTEM, USER, ("assistant", "- point")),
            chat(("system", KIND), USER, ("assistant", "- point")),
        ),
        (
            chat(("system", KIND), USER, ("assistant", "- point")),
            chat(("system", SYSTEM[1].replace("concise", "brief")), USER),
            chat(("system", KIND.replace("concise", "brief")), USER, ("assistant", "- point")),
        ),
    ],
)
def test_merge_content_merges_messages(ours, theirs, expected):
    result = merge_content(version(chat(SYSTEM, USER)), version(ours), version(theirs))
    assert (result.content, result.conflicts) == (expected, [])


@pytest.mark.parametrize(
    "ours, theirs, field",
    [
        (chat(("system", KIND), USER),
         chat(("system", KIND.replace("kind", "blunt")), USER), "messages[0]"),
        (chat(SYSTEM, USER, ("assistant", "ours")), chat(SYSTEM, USER, ("assistant", "theirs")), "messages"),
        (chat(SYSTEM), chat(SYSTEM, ("user", "Summarise {{text}} briefly.\nUse bullet points.\n")), "messages"),
        (chat(SYSTEM, ("assistant", USER[1])), chat(SYSTEM, ("system", USER[1])), "messages"),
    ],
)
def test_merge_content_message_conflicts_keep_both_sides(ours, theirs, field):
    result = merge_content(version(chat(SYSTEM, USER)), version(ours), version(theirs))
    assert [c.field for c in result.conflicts] == [field]
    conflict = result.conflicts[0]
    for side, snippet in ((ours, conflict.ours), (theirs, conflict.theirs)):
        assert all(m["content"].splitlines()[0] in snippet for m in side if m not in chat(SYSTEM, USER))


@pytest.mark.parametrize(
    "base, ours, theirs, expected, fields",
    [
        ("plain", chat(USER), "plain", chat(USER), []),
        (chat(USER), chat(USER), "plain now", "plain now", []),
        ("plain", chat(USER), chat(USER), chat(USER), []),
        ("plain", chat(USER), chat(SYSTEM), chat(USER), ["content"]),
        ("plain", chat(USER), "plain, edited", chat(USER), ["content"]),
        (chat(USER), "text", "other text", "text", ["content"]),
    ],
)
def test_merge_content_kind_change(base, ours, theirs, expected, fields):
    result = merge_content(version(base), version(ours), version(theirs))
    assert result.content == expected
    assert [c.field for c in result.conflicts] == fields


@pytest.mark.parametrize(
    "base, ours, theirs, expected",
    [
        ({"t": 0.2}, {"t": 0.7}, {"t": 0.2}, {"t": 0.7}),
        ({"t": 0.2}, {"t": 0.2}, {"t": 0.9}, {"t": 0.9}),
        ({"t": 0.2}, {"t": 0.5}, {"t": 0.5}, {"t": 0.5}),
        ({"t": 0.2, "seed": 1}, {"t": 0.2}, {"t": 0.2, "seed": 1}, {"t": 0.2}),
        ({"t": 0.2, "seed": 1}, {"t": 0.2, "seed": 1}, {"t": 0.2}, {"t": 0.2}),
        ({"t": 0.2}, {"t": 0.3}, {"t": 0.2, "top_p": 0.9}, {"t": 0.3, "top_p": 0.9}),
        ({"p": {"a": 1, "b": 2}}, {"p": {"a": 5, "b": 2}}, {"p": {"a": 1, "b": 6}}, {"p": {"a": 5, "b": 6}}),
        ({"p": {}}, {"p": {"a": 1}}, {"p": {"b": 2}}, {"p": {"a": 1, "b": 2}}),
        ({"p": {"x": 1}}, {"p": {"y": 1}}, {"p": {}}, {"p": {"y": 1}}),
        ({"stop": ["a"]}, {"stop": ["a", "b"]}, {"stop": ["a"], "n": 2}, {"stop": ["a", "b"], "n": 2}),
    ],
)
def test_merge_config_key_by_key(base, ours, theirs, expected):
    assert merge_config(base, ours, theirs) == (expected, [])


@pytest.mark.parametrize(
    "base, ours, theirs, conflict, kept",
    [
        ({"t": 0.2}, {"t": 0.7}, {"t": 0.9}, Conflict("config.t", "0.2", "0.7", "0.9"), {"t": 0.7}),
        ({"t": 0.2}, {}, {"t": 0.9}, Conflict("config.t", "0.2", None, "0.9"), {}),
        ({}, {"t": 1}, {"t": True}, Conflict("config.t", None, "1", "true"), {"t": 1}),
        ({"p": {"a": 1}}, {"p": {"a": 2}}, {"p": {"a": 3}}, Conflict("config.p.a", "1", "2", "3"), {"p": {"a": 2}}),
        (
            {"a": {"b": 1}}, {"a": 5}, {"a": {"b": 1, "c": 2}},
            Conflict("config.a", '{"b": 1}', "5", '{"b": 1, "c": 2}'), {"a": 5},
        ),
        ({"x.y": 1}, {"x.y": 2}, {"x.y": 3}, Conflict('config["x.y"]', "1", "2", "3"), {"x.y": 2}),
    ],
)
def test_merge_config_conflicts(base, ours, theirs, conflict, kept):
    assert merge_config(base, ours, theirs) == (kept, [conflict])


def test_merge_versions_raises_naming_every_conflicting_field():
    base = version(chat(SYSTEM, USER), {"temperature": 0.2, "model": "m"})
    ours = version(chat(("system", "Ours.\nBe concise.\n"), USER), {"temperature": 0.7, "model": "m"})
    theirs = version(chat(("system", "Theirs.\nBe concise.\n"), USER), {"temperature": 0.9, "model": "m"})
    with pytest.raises(MergeConflictError) as raised:
        merge_versions(base, ours, theirs)
    assert "messages[0]" in str(raised.value) and "config.temperature" in str(raised.value)
    assert [c.field for c in raised.value.conflicts] == ["messages[0]", "config.temperature"]


def test_merge_versions_returns_clean_merge_of_objects():
    base = SimpleNamespace(content=BASE, config={"t": 0.2})
    ours = SimpleNamespace(content=BASE.replace("helpful", "kind"), config={"t": 0.2})
    theirs = SimpleNamespace(content=BASE, config={"t": 0.5})
    result = merge_versions(base, ours, theirs)
    assert (result.content, result.config, result.conflicts) == (BASE.replace("helpful", "kind"), {"t": 0.5}, [])


def test_merge_content_returns_conflicts_instead_of_raising():
    result = merge_content(version("a\n"), version("b\n"), version("c\n"))
    assert [c.field for c in result.conflicts] == ["text"]
    assert result.content == "<<<<<<< ours\nb\n||||||| base\na\n=======\nc\n>>>>>>> theirs\n"


@pytest.mark.parametrize("bad", [{"content": 3}, {"content": [{"role": "user"}]}, {"content": "x", "config": "t=1"}])
def test_merge_content_rejects_malformed_versions(bad):
    with pytest.raises(ValidationError):
        merge_content(version("x"), version("x"), bad)


@pytest.mark.parametrize(
    "ours, theirs, content, fields",
    [
        ("same", "same", "same", []),
        ("ours", "theirs", "<<<<<<< ours\nours\n||||||| base\n=======\ntheirs\n>>>>>>> theirs\n", ["text"]),
        (chat(USER), chat(USER), chat(USER), []),
        (chat(USER), chat(SYSTEM), chat(USER), ["messages"]),
    ],
)
def test_merge_content_without_base_treats_both_sides_as_additions(ours, theirs, content, fields):
    result = merge_content(None, version(ours), version(theirs))
    assert result.content == content
    assert [c.field for c in result.conflicts] == fields
