"""The SDK: get_prompt by label or version, render, and the short in-process cache."""

from __future__ import annotations

import pytest

from promptvault import get_prompt, library, refs, sdk, versioning
from promptvault.errors import MissingVariableError, NotFoundError, ValidationError


@pytest.fixture
def seeded(sqlite_workspace, monkeypatch):
    """A prompt with two versions, `production` on v1; the SDK pointed at this workspace."""
    monkeypatch.setenv("PROMPTVAULT_DATA_DIR", str(sqlite_workspace.settings.data_dir))
    monkeypatch.delenv("PROMPTVAULT_DATABASE_URL", raising=False)
    sdk.clear_cache()
    ctx = sqlite_workspace.local_context()
    library.create_prompt(ctx, "summarize")
    versioning.commit(ctx, "summarize", "Summarize {{ text }}.", {"model": "offline/echo"})
    versioning.commit(ctx, "summarize", "Summarize {{ text }} briefly.")
    refs.set_label(ctx, "summarize", "production", "1")
    yield ctx
    sdk.clear_cache()


def test_get_prompt_by_label_renders(seeded):
    prompt = get_prompt("summarize", label="production")
    assert prompt.version == 1 and prompt.config == {"model": "offline/echo"}
    assert prompt.render(text="a cat") == "Summarize a cat."


def test_get_prompt_defaults_to_production_and_takes_versions(seeded):
    assert get_prompt("summarize").version == 1
    assert get_prompt("summarize", version=2).render(text="x") == "Summarize x briefly."
    assert get_prompt("summarize", label="main").version == 2


def test_get_prompt_caches_labels_for_the_ttl(seeded):
    assert get_prompt("summarize", label="production").version == 1
    refs.set_label(seeded, "summarize", "production", "2")
    assert get_prompt("summarize", label="production").version == 1  # still cached
    assert get_prompt("summarize", label="production", cache_ttl=0).version == 2


def test_get_prompt_errors_name_the_problem(seeded):
    with pytest.raises(NotFoundError, match="no version or ref 'staging'"):
        get_prompt("summarize", label="staging")
    with pytest.raises(ValidationError, match="either label= or version="):
        get_prompt("summarize", label="production", version=1)
    with pytest.raises(MissingVariableError, match="'text'"):
        get_prompt("summarize").render()
