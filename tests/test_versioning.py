"""Versioning on the real store (SQLite always, PostgreSQL in CI): commits, refs, log, revert, merge."""

from __future__ import annotations

import hashlib
import json
import threading

import pytest
from sqlalchemy import func, select

from promptvault import library, refs, versioning
from promptvault.errors import (
    ConflictError, MergeConflictError, NoChangeError, NotFoundError, TemplateError, ValidationError,
)
from promptvault.store.tables import Version


@pytest.fixture
def prompt(ctx):
    """A prompt named 'summarize' with one committed version."""
    library.create_prompt(ctx, "summarize", description="Summaries", tags=["demo"])
    versioning.commit(ctx, "summarize", "Summarize {{ text }}.", {"model": "offline/echo"}, "first")
    return "summarize"


def version_count(ctx) -> int:
    """Rows in the versions table."""
    with ctx.db.read() as session:
        return session.scalar(select(func.count()).select_from(Version))


def test_commit_numbers_versions_and_records_parent(ctx, prompt):
    v2 = versioning.commit(ctx, prompt, "Summarize briefly: {{ text }}", {"model": "m"}, "shorter")
    assert (v2.number, v2.parent, v2.message, v2.author) == (2, 1, "shorter", "local@promptvault")
    assert v2.variables == ["text"]
    assert v2.created_at.tzinfo is not None


def test_commit_hash_is_sha256_of_canonical_content_and_config(ctx, prompt):
    v1 = versioning.show(ctx, prompt, "1")
    payload = json.dumps({"content": v1.content, "config": v1.config}, sort_keys=True, separators=(",", ":"))
    assert v1.content_hash == hashlib.sha256(payload.encode()).hexdigest()


def test_commit_identical_to_head_is_refused(ctx, prompt):
    with pytest.raises(NoChangeError, match="identical to the head of 'main' \\(v1\\)"):
        versioning.commit(ctx, prompt, "Summarize {{ text }}.", {"model": "offline/echo"})
    assert version_count(ctx) == 1


def test_commit_config_change_alone_is_a_new_version(ctx, prompt):
    v2 = versioning.commit(ctx, prompt, "Summarize {{ text }}.", {"model": "offline/echo", "temperature": 0.2})
    assert v2.number == 2 and v2.config["temperature"] == 0.2


def test_commit_chat_messages_round_trip(ctx, prompt):
    messages = [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "{{ question }}"}]
    v2 = versioning.commit(ctx, prompt, messages, {"model": "m", "response_format": {"type": "json_object"}})
    shown = versioning.show(ctx, prompt, "2")
    assert shown.content == messages and shown.kind == "chat"
    assert shown.config["response_format"] == {"type": "json_object"}
    assert v2.variables == ["question"]


@pytest.mark.parametrize(
    "content, config, problem",
    [
        ("", None, "empty"),
        ("   \n", None, "empty"),
        ("x" * 262_145, None, "limit is 262,144"),
        ("nul\x00byte", None, "NUL byte at position 3"),
        ("lone \udc80 surrogate", None, "not valid UTF-8"),
        ([], None, "at least one message"),
        ([{"role": "robot", "content": "hi"}], None, "message 1: role"),
        ([{"role": "user", "content": "hi", "extra": 1}], None, "message 1: extra"),
        ("ok", ["not", "a", "dict"], "config must be a JSON object"),
        ("ok", {"t": float("nan")}, "config is not plain JSON"),
        ("ok", {"k": "nul\x00"}, "NUL byte"),
        (12, None, "text or a list of chat messages"),
    ],
)
def test_commit_bad_input_is_refused_and_changes_nothing(ctx, prompt, content, config, problem):
    with pytest.raises(ValidationError, match=problem):
        versioning.commit(ctx, prompt, content, config)
    assert version_count(ctx) == 1


def test_commit_malformed_template_is_refused(ctx, prompt):
    with pytest.raises(TemplateError):
        versioning.commit(ctx, prompt, "Hello {{ name ")
    assert version_count(ctx) == 1


def test_commit_to_unknown_prompt_or_branch_names_it(ctx, prompt):
    with pytest.raises(NotFoundError, match="no prompt named 'nope'"):
        versioning.commit(ctx, "nope", "text")
    with pytest.raises(NotFoundError, match="no branch 'exp'"):
        versioning.commit(ctx, prompt, "text", branch="exp")


def test_show_resolves_number_branch_and_label(ctx, prompt):
    versioning.commit(ctx, prompt, "v2 {{ text }}")
    refs.set_label(ctx, prompt, "production", "1")
    refs.create_branch(ctx, prompt, "experiment", "1")
    versioning.commit(ctx, prompt, "exp {{ text }}", branch="experiment")
    assert versioning.show(ctx, prompt).number == 2
    assert versioning.show(ctx, prompt, "v1").number == 1
    assert versioning.show(ctx, prompt, "production").number == 1
    assert versioning.show(ctx, prompt, "experiment").number == 3
    assert versioning.parse_spec("summarize@production") == ("summarize", "production")


def test_show_unknown_ref_names_it_and_lists_refs(ctx, prompt):
    with pytest.raises(NotFoundError, match=r"no version or ref 'staging' \(versions 1-1; refs: main\)"):
        versioning.show(ctx, prompt, "staging")
    with pytest.raises(NotFoundError, match="'7'"):
        versioning.show(ctx, prompt, "7")


def test_log_lists_reachable_versions_newest_first(ctx, prompt):
    versioning.commit(ctx, prompt, "v2 {{ text }}", message="second")
    refs.create_branch(ctx, prompt, "exp", "2")
    versioning.commit(ctx, prompt, "exp {{ text }}", branch="exp")
    versioning.commit(ctx, prompt, "v4 {{ text }}")
    main_log = versioning.log(ctx, prompt)
    assert [e.number for e in main_log] == [4, 2, 1]
    assert [e.number for e in versioning.log(ctx, prompt, "exp")] == [3, 2, 1]
    assert main_log[0].refs == ["main"] and main_log[1].refs == []
    assert versioning.log(ctx, prompt, "exp")[0].refs == ["exp"]


def test_branch_commit_and_clean_merge_records_both_parents(ctx, prompt):
    base = "Line one.\nLine two {{ text }}.\nLine three.\n"
    versioning.commit(ctx, prompt, base)
    refs.create_branch(ctx, prompt, "exp")
    versioning.commit(ctx, prompt, base.replace("Line one.", "Line ONE."), branch="exp")
    versioning.commit(ctx, prompt, base.replace("Line three.", "Line THREE."), {"model": "offline/echo", "temperature": 0})
    merged = versioning.merge(ctx, prompt, "exp", message="merge exp")
    assert merged.content == "Line ONE.\nLine two {{ text }}.\nLine three.\n".replace("Line three.", "Line THREE.")
    assert (merged.parent, merged.merge_parent) == (4, 3)
    assert merged.config["temperature"] == 0
    with pytest.raises(NoChangeError, match="already merged"):
        versioning.merge(ctx, prompt, "exp")


def test_merge_conflict_keeps_both_sides_and_changes_nothing(ctx, prompt):
    refs.create_branch(ctx, prompt, "exp")
    versioning.commit(ctx, prompt, "Summarize {{ text }} in French.", branch="exp")
    versioning.commit(ctx, prompt, "Summarize {{ text }} in German.")
    before = version_count(ctx)
    with pytest.raises(MergeConflictError) as caught:
        versioning.merge(ctx, prompt, "exp")
    rendered = json.dumps([vars(c) if hasattr(c, "__dict__") else c for c in caught.value.conflicts], default=str)
    assert "French" in rendered and "German" in rendered
    assert version_count(ctx) == before


def test_preview_merge_shows_the_draft_with_markers_and_writes_nothing(ctx, prompt):
    refs.create_branch(ctx, prompt, "exp")
    versioning.commit(ctx, prompt, "Summarize {{ text }} in French.", branch="exp")
    versioning.commit(ctx, prompt, "Summarize {{ text }} in German.")
    plan = versioning.preview_merge(ctx, prompt, "exp")
    assert (plan.ours, plan.theirs, plan.base) == (3, 2, 1)
    assert "<<<<<<<" in plan.content and "French" in plan.content and "German" in plan.content
    assert [c.field for c in plan.conflicts] == ["text"]
    assert version_count(ctx) == 3


def test_merge_with_a_resolution_commits_it_with_both_parents(ctx, prompt):
    refs.create_branch(ctx, prompt, "exp")
    versioning.commit(ctx, prompt, "Summarize {{ text }} in French.", {"model": "a"}, branch="exp")
    versioning.commit(ctx, prompt, "Summarize {{ text }} in German.", {"model": "b"})
    with pytest.raises(MergeConflictError, match="config.model; give a resolved config"):
        versioning.merge(ctx, prompt, "exp", resolved_content="Summarize {{ text }} in French and German.")
    merged = versioning.merge(
        ctx, prompt, "exp", resolved_content="Summarize {{ text }} in French and German.", resolved_config={"model": "b"}
    )
    assert (merged.number, merged.parent, merged.merge_parent) == (4, 3, 2)
    assert merged.content == "Summarize {{ text }} in French and German." and merged.config == {"model": "b"}


def test_merge_resolution_with_leftover_markers_is_refused(ctx, prompt):
    refs.create_branch(ctx, prompt, "exp")
    versioning.commit(ctx, prompt, "Summarize {{ text }} in French.", branch="exp")
    versioning.commit(ctx, prompt, "Summarize {{ text }} in German.")
    draft = versioning.preview_merge(ctx, prompt, "exp").content
    with pytest.raises(ValidationError, match="conflict markers"):
        versioning.merge(ctx, prompt, "exp", resolved_content=draft)
    assert version_count(ctx) == 3


def test_label_moves_are_recorded_with_actor_and_versions(ctx, prompt):
    versioning.commit(ctx, prompt, "v2 {{ text }}")
    refs.set_label(ctx, prompt, "production", "1")
    refs.set_label(ctx, prompt, "production", "2")
    moves = refs.ref_history(ctx, prompt, "production")
    assert [(m.from_version, m.to_version, m.reason) for m in moves] == [(1, 2, "move"), (None, 1, "create")]
    assert moves[0].actor == "local@promptvault"
    with pytest.raises(NoChangeError):
        refs.set_label(ctx, prompt, "production", "2")


@pytest.mark.parametrize("name, problem", [("main", "is a branch"), ("v3", "looks like a version"), ("3", "must start with a letter"), ("bad name", "must start")])
def test_label_names_are_checked(ctx, prompt, name, problem):
    with pytest.raises(ValidationError, match=problem):
        refs.set_label(ctx, prompt, name, "1")


def test_commit_on_a_label_is_refused(ctx, prompt):
    refs.set_label(ctx, prompt, "production", "1")
    with pytest.raises(ValidationError, match="is a label"):
        versioning.commit(ctx, prompt, "new", branch="production")


def test_revert_creates_a_new_version_equal_to_an_old_one(ctx, prompt):
    versioning.commit(ctx, prompt, "v2 {{ text }}")
    reverted = versioning.revert(ctx, prompt, "1")
    original = versioning.show(ctx, prompt, "1")
    assert reverted.number == 3 and reverted.content_hash == original.content_hash
    assert reverted.message == "Revert to v1" and reverted.parent == 2


def test_commits_with_the_same_expected_head_one_wins_one_conflicts(ctx, prompt):
    barrier, outcomes = threading.Barrier(2), []

    def attempt(text):
        barrier.wait()
        try:
            outcomes.append(versioning.commit(ctx, prompt, text, expected_head=1).number)
        except ConflictError as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=attempt, args=(t,)) for t in ("A {{ text }}", "B {{ text }}")]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert 2 in outcomes
    assert any(isinstance(o, str) and "now at v2" in o for o in outcomes)
    assert version_count(ctx) == 2


def test_concurrent_commits_on_different_branches_never_share_a_number(ctx, prompt):
    for index in range(4):
        refs.create_branch(ctx, prompt, f"b{index}")
    barrier, errors = threading.Barrier(4), []

    def attempt(index):
        barrier.wait()
        try:
            versioning.commit(ctx, prompt, f"branch {index} {{{{ text }}}}", branch=f"b{index}")
        except ConflictError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    with ctx.db.read() as session:
        numbers = list(session.scalars(select(Version.number)))
    assert not errors
    assert sorted(numbers) == [1, 2, 3, 4, 5]


def test_render_version_fills_variables(ctx, prompt):
    assert versioning.render_version(ctx, prompt, None, {"text": "a cat"}) == "Summarize a cat."


def test_diff_between_versions_covers_config(ctx, prompt):
    versioning.commit(ctx, prompt, "Summarize {{ text }} now.", {"model": "other"})
    result = versioning.diff(ctx, prompt, "1", "2")
    assert result.has_changes
