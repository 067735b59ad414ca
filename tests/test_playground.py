"""The playground's core over real HTTP to the loopback fake, on both backends: notebooks and who may see them,
a cell's models called at once and streamed, calls in the history and analytics, the cache, keys, commits."""

from __future__ import annotations

import asyncio
import time

import pytest

from promptvault import analytics, audit, providers, history, library, notebooks, playground, runs, vault, versioning
from promptvault.errors import ConflictError, NotFoundError, PermissionDeniedError, TemplateError, ValidationError
from promptvault.notebooks import PlaygroundCell
from promptvault.testing.fake_provider import FakeConfig, FakeProvider


@pytest.fixture
def fake():
    with FakeProvider(FakeConfig()) as server:
        yield server


def cell_for(fake, *names, content="Hello {{ who }}", **extra):
    models = [{"model": n, "api_base": fake.base_url} if n != "offline/echo" else n for n in names]
    return PlaygroundCell.model_validate({"content": content, "variables": {"who": "Ada"}, "models": models, **extra})


def run(ctx, workspace, notebook, cell, events=None):
    on_event = events.append if events is not None else None
    return asyncio.run(playground.run_cell(ctx, workspace.settings.data_dir, notebook.id, cell, on_event))


def test_a_cell_calls_its_models_at_once_streams_and_records_every_call(ctx, workspace, fake):
    cell = cell_for(fake, "m1@latency=1", "m2@latency=1", "m3@latency=1")
    book = notebooks.create(ctx, "tries", [cell])
    events = []
    providers.warm_up()  # the import of litellm is not the calls' latency
    started = time.perf_counter()
    done = run(ctx, workspace, book, cell, events)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.9, f"three 1 s calls took {elapsed:.2f} s: not concurrent"
    assert [o.output for o in done.outputs] == [f"m{i}: Hello Ada" for i in (1, 2, 3)]
    assert all(o.latency_ms >= 1000 and o.output_tokens > 0 and not o.cache_hit for o in done.outputs)
    partial = [e for e in events if e.final is None]
    assert partial and all(e.text for e in partial) and {e.index for e in events if e.final} == {0, 1, 2}
    book = notebooks.get(ctx, book.id)
    assert book.cells[0].last_run == {"id": done.id, "fingerprint": playground.fingerprint(cell)}
    rows = history.HistoryReader(workspace.settings.data_dir).rows(run_id=book.run_id)
    assert rows.height == 3 and all(k.startswith("pg:") for k in rows["cell_key"])
    record = runs.get_run(ctx, book.run_id)
    assert record.status == "done" and record.done_cells == 3 and runs.list_runs(ctx) == []
    assert analytics.totals(ctx, workspace.settings.data_dir, analytics.Filters()).calls == 3  # playground spend is counted like any other
    assert playground.last_outputs(ctx, workspace.settings.data_dir, book)[cell.id] == done.outputs


def test_running_an_unchanged_cell_again_is_served_from_the_cache(ctx, workspace, fake):
    cell = cell_for(fake, "m1", "offline/echo")
    book = notebooks.create(ctx, "cache", [cell])
    run(ctx, workspace, book, cell)
    again = run(ctx, workspace, book, cell)
    assert fake.calls("m1") == 1 and again.outputs[0].cache_hit and again.outputs[0].cost_usd == 0
    assert again.outputs[1].output.startswith("[offline echo")
    fresh = run(ctx, workspace, book, cell.model_copy(update={"use_cache": False}))
    assert fake.calls("m1") == 2 and not fresh.outputs[0].cache_hit


def test_editing_a_cell_marks_it_stale_but_its_title_does_not(ctx, workspace, fake):
    cell = cell_for(fake, "offline/echo")
    book = notebooks.create(ctx, "stale", [cell])
    assert playground.is_stale(cell)
    done = run(ctx, workspace, book, cell)
    ran = cell.model_copy(update={"last_run": {"id": done.id, "fingerprint": done.fingerprint}})
    assert not playground.is_stale(ran) and not playground.is_stale(ran.model_copy(update={"title": "renamed"}))
    for change in ({"content": "Bye {{ who }}"}, {"variables": {"who": "Bob"}}, {"params": {"temperature": 1}},
                   {"models": [PlaygroundCell().models[0], cell_for(fake, "m9").models[0]]}):
        assert playground.is_stale(ran.model_copy(update=change))


def test_a_missing_variable_is_refused_before_any_call(ctx, workspace, fake):
    cell = cell_for(fake, "m1", content="Hi {{ name }}")
    book = notebooks.create(ctx, "vars", [cell])
    with pytest.raises(TemplateError, match="name"):
        run(ctx, workspace, book, cell)
    assert fake.calls() == 0


def test_a_failing_model_shows_its_error_beside_the_others(ctx, workspace, fake):
    cell = cell_for(fake, "ok", "bad@outcome=401")
    book = notebooks.create(ctx, "errors", [cell])
    done = run(ctx, workspace, book, cell)
    assert done.outputs[0].output == "ok: Hello Ada" and done.outputs[1].error_kind == "auth"


def test_vault_keys_are_used_and_audited_once_per_cell_run(ctx, workspace, fake):
    fake.configure(expected_api_key="sk-playground-secret-1234")
    team_id = runs.team_of_project(ctx)
    vault.add_key(ctx, team_id, "openai", "sk-playground-secret-1234", label="pg")
    cell = PlaygroundCell.model_validate({"content": "hi", "models": [
        {"model": "a", "api_base": fake.base_url, "key": "pg"}, {"model": "b", "api_base": fake.base_url, "key": "pg"}]})
    book = notebooks.create(ctx, "keys", [cell])
    done = run(ctx, workspace, book, cell)
    assert [o.error for o in done.outputs] == [None, None]
    uses = [e for e in audit.list_events(ctx, team_id) if e.action == "key.decrypt"]
    assert len(uses) == 1 and f"playground notebook {book.id}" in str(uses[0].details)
    rows = history.HistoryReader(workspace.settings.data_dir).rows(run_id=notebooks.get(ctx, book.id).run_id)
    assert "sk-playground-secret" not in str(rows.to_dicts())


def test_notebooks_are_private_until_shared_and_read_only_for_others(ctx, workspace, person):
    book = notebooks.create(ctx, "mine")
    editor = person("editor@example.com", "editor")
    stranger = person("stranger@example.com", role=None)
    for who in (editor, stranger):
        with pytest.raises(NotFoundError, match=f"no notebook {book.id}"):
            notebooks.get(who, book.id)
    assert [n.name for n in notebooks.list_visible(editor)] == []
    notebooks.share(ctx, book.id)
    seen = notebooks.get(editor, book.id)
    assert not seen.editable and [n.name for n in notebooks.list_visible(editor)] == ["mine"]
    with pytest.raises(NotFoundError):
        notebooks.get(stranger, book.id)
    with pytest.raises(ValidationError, match="read-only: save a copy"):
        notebooks.save(editor, book.id, [], seen.revision)
    copied = notebooks.copy(editor, book.id, "my copy")
    assert copied.editable and copied.owner == "editor@example.com"
    viewer = person("viewer@example.com")
    assert notebooks.get(viewer, book.id).name == "mine"
    with pytest.raises(PermissionDeniedError):
        notebooks.create(viewer, "nope")


def test_two_saves_from_the_same_revision_conflict_and_names_are_unique(ctx):
    book = notebooks.create(ctx, "twice")
    notebooks.save(ctx, book.id, [PlaygroundCell(title="a")], book.revision)
    with pytest.raises(ConflictError, match="was saved elsewhere"):
        notebooks.save(ctx, book.id, [PlaygroundCell(title="b")], book.revision)
    with pytest.raises(ConflictError, match="already have a notebook named 'twice'"):
        notebooks.create(ctx, "twice")


@pytest.mark.parametrize("cells, message", [
    ([{"models": []}], "cell 1: models"),
    ([{"models": ["a", "b", "c", "d", "e"]}], "cell 1: models"),
    ([{"models": ["a", "a"]}], "listed twice"),
    ([{"params": {"api_key": "x"}}], "cannot be a param"),
    ([{"colour": "red"}], "cell 1: colour"),
    ([{"id": "abcdef12"}, {"id": "abcdef12"}], "share an id"),
    ("nope", "expected a list"),
])
def test_bad_cells_are_refused_naming_the_cell(ctx, cells, message):
    with pytest.raises(ValidationError, match=message):
        notebooks.create(ctx, "bad", cells)


def test_commit_a_cell_on_a_new_branch_then_compare_it(ctx):
    library.create_prompt(ctx, "greet")
    first = versioning.commit(ctx, "greet", "Hello {{ who }}", None, "v1")
    cell = PlaygroundCell(prompt="greet", base_version=first.number, content="Howdy {{ who }}")
    with pytest.raises(ValidationError, match="differs from greet v1: commit it first"):
        playground.compare_spec(ctx, cell, "people")
    made = playground.commit_cell(ctx, cell, "greet", "howdy", "friendlier")
    assert made.number == 2 and versioning.show(ctx, "greet", "howdy").number == 2
    assert versioning.show(ctx, "greet", "main").number == 1
    spec = playground.compare_spec(ctx, cell.model_copy(update={"base_version": made.number}), "people")
    assert spec["versions"] == [2] and spec["dataset"] == "people" and spec["models"] == [{"model": "offline/echo"}]
    new = playground.commit_cell(ctx, PlaygroundCell(content="fresh"), "brand-new", "main", "from scratch")
    assert new.prompt == "brand-new" and new.number == 1
    with pytest.raises(ValidationError, match="first version goes on main"):
        playground.commit_cell(ctx, PlaygroundCell(content="x"), "other-new", "feature", "m")


def test_others_cannot_run_a_shared_notebook(ctx, workspace, person, fake):
    cell = cell_for(fake, "m1")
    book = notebooks.share(ctx, notebooks.create(ctx, "shared", [cell]).id)
    editor = person("editor2@example.com", "editor")
    with pytest.raises(ValidationError, match="save a copy to run"):
        run(editor, workspace, book, cell)
    assert fake.calls() == 0


def test_an_owner_demoted_to_viewer_can_no_longer_run_their_notebook(ctx, workspace, person, fake):
    from promptvault import teams

    owner = person("was-editor@example.com", "editor")
    cell = cell_for(fake, "m1")
    book = notebooks.create(owner, "mine", [cell])
    run(owner, workspace, book, cell.model_copy(update={"use_cache": False}))  # its call record now exists
    teams.set_role(workspace.local_context(), "Default", "was-editor@example.com", "viewer")
    with pytest.raises(PermissionDeniedError, match="editor"):
        run(owner, workspace, book, cell.model_copy(update={"use_cache": False}))
    assert fake.calls() == 1
