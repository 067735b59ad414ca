"""The prompt library on the real store: create, describe, tag, list, search."""

from __future__ import annotations

import pytest

from promptvault import library, refs, versioning
from promptvault.errors import AlreadyExistsError, NotFoundError, ValidationError


def test_create_prompt_lists_with_tags_and_owner(ctx):
    library.create_prompt(ctx, "summarize", description="Short summaries", tags=["Demo", "demo", "qa"])
    [info] = library.list_prompts(ctx)
    assert (info.name, info.description, info.tags, info.owner, info.versions) == (
        "summarize", "Short summaries", ["demo", "qa"], "local@promptvault", 0)


def test_create_prompt_duplicate_name_is_refused(ctx):
    library.create_prompt(ctx, "summarize")
    with pytest.raises(AlreadyExistsError, match="'summarize' already exists"):
        library.create_prompt(ctx, "summarize")


@pytest.mark.parametrize("name", ["", "has space", "a@b", "-lead", "x" * 101, "nul\x00"])
def test_create_prompt_bad_name_is_refused(ctx, name):
    with pytest.raises(ValidationError):
        library.create_prompt(ctx, name)
    assert library.list_prompts(ctx) == []


@pytest.mark.parametrize(
    "query, expected",
    [
        ("summ", ["summarize"]),
        ("TRANSLATION", ["translate"]),  # description, any case
        ("ops", ["classify"]),  # tag
        ("ticket", ["classify"]),  # main-head content
        ("%", []),  # wildcards are literal
        ("_", ["snake_case"]),
        ("nothing-matches", []),
    ],
)
def test_list_prompts_search_covers_name_description_tags_content(ctx, query, expected):
    library.create_prompt(ctx, "summarize", description="Summaries")
    library.create_prompt(ctx, "translate", description="Translation helper")
    library.create_prompt(ctx, "classify", tags=["ops"])
    library.create_prompt(ctx, "snake_case")
    versioning.commit(ctx, "classify", "Classify the support ticket: {{ ticket }}")
    assert sorted(p.name for p in library.list_prompts(ctx, search=query)) == expected


def test_list_prompts_filters_by_tag_and_hides_archived(ctx):
    library.create_prompt(ctx, "a", tags=["x"])
    library.create_prompt(ctx, "b", tags=["y"])
    library.update_prompt(ctx, "b", archived=True)
    assert [p.name for p in library.list_prompts(ctx, tag="x")] == ["a"]
    assert [p.name for p in library.list_prompts(ctx)] == ["a"]
    assert {p.name for p in library.list_prompts(ctx, include_archived=True)} == {"a", "b"}
    assert library.list_tags(ctx) == ["x", "y"]


def test_list_prompts_shows_versions_and_refs(ctx):
    library.create_prompt(ctx, "p")
    versioning.commit(ctx, "p", "one")
    versioning.commit(ctx, "p", "two")
    refs.set_label(ctx, "p", "production", "1")
    [info] = library.list_prompts(ctx)
    assert info.versions == 2 and info.refs == {"main": 2, "production": 1}


def test_update_prompt_changes_description_and_search(ctx):
    library.create_prompt(ctx, "p")
    library.update_prompt(ctx, "p", description="Now about invoices", tags=["finance"])
    assert [p.name for p in library.list_prompts(ctx, search="invoices")] == ["p"]
    with pytest.raises(NotFoundError):
        library.update_prompt(ctx, "missing", description="x")
