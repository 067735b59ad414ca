"""The Playground page through Streamlit's AppTest: notebooks, cells run on the real executor, sharing, commits."""

from __future__ import annotations

import pytest
import streamlit as st

from apptest import APP, checked, errors, log_in, open_page, page, texts
from promptvault import datasets, library, notebooks, runs, teams, versioning
from promptvault.notebooks import PlaygroundCell
from promptvault.testing.fake_provider import FakeConfig, FakeProvider
from ui import session
from ui.components import playground_run

PAGE = "pages/playground.py"
STALE = "stale — edited since this run"

pytestmark = pytest.mark.usefixtures("cheap_hashing")


@pytest.fixture
def fake():
    """The loopback OpenAI-compatible fake, answering "<model>: <last user message>"."""
    with FakeProvider(FakeConfig()) as server:
        yield server


def cell(*models, content="Hello {{ who }}", **extra) -> PlaygroundCell:
    """A cell greeting Ada on these models (names, or `name@base URL`)."""
    specs = [dict(zip(("model", "api_base"), m.rsplit("@", 1))) if "@" in m else m for m in models]
    return PlaygroundCell.model_validate({"content": content, "variables": {"who": "Ada"}, "models": specs, **extra})


def prefix(book, index: int = 0) -> str:
    """The widget key prefix of a notebook's cell."""
    return f"pg.cell.{book.id}.{book.cells[index].id}"


def shown(at) -> list[str]:
    """The plain texts on the page (model outputs are drawn with st.text)."""
    return [t.value for t in at.text]


def st_stop():
    """Stop the page run, as a click elsewhere interrupts it."""
    st.stop()


def run_cell(at, book, index: int = 0):
    """Click a cell's Run and wait for the page (the run streams until every model answered)."""
    return checked(at.button(key=f"{prefix(book, index)}.run").click().run())


def test_playground_editing_a_draft_marks_its_outputs_stale(app_admin):
    book = notebooks.create(app_admin, "tries", [cell("offline/echo")])
    at = open_page(PAGE, app_admin, notebook=str(book.id))
    run_cell(at, book)
    assert any("Hello Ada" in t for t in shown(at)) and STALE not in texts(at)
    assert notebooks.get(app_admin, book.id).revision == book.revision  # running is no edit: nothing saved
    at.text_area(key=f"{prefix(book)}.draft.text").input("Bye {{ who }}")
    checked(at.run())
    assert STALE in texts(at) and any("Hello Ada" in t for t in shown(at))  # the old outputs stay, marked
    assert notebooks.get(app_admin, book.id).cells[0].content == "Bye {{ who }}"  # saved as it is edited
    run_cell(at, book)
    assert STALE not in texts(at) and any("Bye Ada" in t for t in shown(at))


def test_playground_runs_only_that_cells_models_and_an_unchanged_rerun_is_cached(app_admin, fake):
    base = fake.base_url
    book = notebooks.create(app_admin, "two", [cell(f"m1@{base}", f"m2@{base}"), cell(f"m3@{base}")])
    at = open_page(PAGE, app_admin, notebook=str(book.id))
    run_cell(at, book, 0)
    assert (fake.calls("m1"), fake.calls("m2"), fake.calls("m3")) == (1, 1, 0)
    assert {"m1: Hello Ada", "m2: Hello Ada"} <= set(shown(at))
    captions = [c.value for c in at.caption]
    assert not any("cached" in c for c in captions) and any("tokens" in c for c in captions)
    run_cell(at, book, 0)
    assert (fake.calls("m1"), fake.calls("m2"), fake.calls("m3")) == (1, 1, 0)
    assert sum("cached" in c.value for c in at.caption) == 2 and "m1: Hello Ada" in shown(at)


def test_playground_shows_a_failing_model_in_red_beside_the_others(app_admin, fake):
    book = notebooks.create(app_admin, "errors", [cell(f"ok@{fake.base_url}", f"bad@outcome=401@{fake.base_url}")])
    at = open_page(PAGE, app_admin, notebook=str(book.id))
    run_cell(at, book)
    assert "ok: Hello Ada" in shown(at) and any(e.startswith("auth:") for e in errors(at))


def test_playground_commit_from_a_cell_creates_the_version_on_the_chosen_branch(app_admin):
    library.create_prompt(app_admin, "greet")
    versioning.commit(app_admin, "greet", "Hello {{ who }}!", None, "first")
    book = notebooks.create(app_admin, "commit", [cell("offline/echo", content="Hey {{ who }}", prompt="greet",
                                                       base_version=1)])
    at = open_page(PAGE, app_admin, notebook=str(book.id))
    at.text_input(key=f"{prefix(book)}.commit.branch").input("casual")
    at.text_input(key=f"{prefix(book)}.commit.message").input("more casual")
    checked(at.button(key=f"{prefix(book)}.commit.go").click().run())
    assert "committed greet v2 on branch casual" in texts(at)
    version = versioning.show(app_admin, "greet", "casual")
    assert (version.number, version.content, version.message) == (2, "Hey {{ who }}", "more casual")
    assert versioning.show(app_admin, "greet", "main").number == 1
    saved = notebooks.get(app_admin, book.id).cells[0]
    assert (saved.prompt, saved.base_version) == ("greet", 2)


def test_playground_a_member_sees_a_shared_notebook_read_only_by_its_link(app_admin, app_editor):
    book = notebooks.create(app_admin, "shared tries", [cell("offline/echo", title="greeting")])
    at = open_page(PAGE, app_admin, notebook=str(book.id))
    run_cell(at, book)
    notebooks.share(app_admin, book.id)
    at = open_page(PAGE, app_editor, notebook=str(book.id))
    assert "Hello {{ who }}" in [c.value for c in at.code] and any("Hello Ada" in t for t in shown(at))
    assert "Read-only: admin@example.com's notebook. Save a copy to change it." in texts(at)
    labels = [b.label for b in at.button]
    assert "Save copy" in labels and not {"Run", "Duplicate", "Delete", "Add cell", "Rename"} & set(labels)
    assert not at.text_area and at.query_params["notebook"] == str(book.id)


@pytest.mark.parametrize("where", ["unshared", "another team"])
def test_playground_a_notebook_one_may_not_open_shows_only_no_notebook(app_admin, app_editor, where):
    owner = app_admin
    if where == "another team":
        teams.create_team(app_admin, "Other")
        owner = session.workspace().context_for(app_admin.actor.email, team="Other")
    book = notebooks.create(owner, "secret plans", [cell("offline/echo", content="Top secret {{ who }}")])
    if where == "another team":
        notebooks.share(owner, book.id)
    at = open_page(PAGE, app_editor, notebook=str(book.id))
    assert errors(at) == [f"no notebook {book.id}"]
    assert "secret" not in texts(at).lower() and not at.selectbox and not at.code and not at.button


def test_playground_a_viewer_gets_no_run_or_edit_controls(app_admin, app_member):
    book = notebooks.create(app_admin, "for viewers", [cell("offline/echo")])
    notebooks.share(app_admin, book.id)
    viewer = app_member("viewer@example.com", "viewer")
    at = open_page(PAGE, viewer, notebook=str(book.id))
    assert "Read-only: admin@example.com's notebook." in texts(at) and "Save a copy" not in texts(at)
    assert [b.label for b in at.button] == ["Diff drafts or outputs"]
    assert not at.text_area and not at.text_input and not at.toggle


def test_playground_cells_are_duplicated_moved_and_deleted(app_admin):
    book = notebooks.create(app_admin, "shape", [cell("offline/echo", title="first"),
                                                 cell("offline/echo", title="second")])
    at = open_page(PAGE, app_admin, notebook=str(book.id))
    run_cell(at, book, 0)
    checked(at.button(key=f"{prefix(book, 0)}.tools.copy").click().run())
    cells = notebooks.get(app_admin, book.id).cells
    assert [c.title for c in cells] == ["first", "first", "second"]
    assert cells[1].id not in (cells[0].id, cells[2].id) and cells[1].last_run is None and cells[0].last_run
    assert at.text_input(key=f"pg.cell.{book.id}.{cells[1].id}.title").value == "first"
    checked(at.button(key=f"pg.cell.{book.id}.{cells[2].id}.tools.up").click().run())
    assert [c.title for c in notebooks.get(app_admin, book.id).cells] == ["first", "second", "first"]
    checked(at.button(key=f"pg.cell.{book.id}.{cells[0].id}.tools.delete").click().run())
    assert [c.id for c in notebooks.get(app_admin, book.id).cells] == [cells[2].id, cells[1].id]
    checked(at.button(key=f"pg.cell.{book.id}.{cells[2].id}.tools.down").click().run())
    checked(at.button(key=f"pg.add.{book.id}.empty").click().run())
    assert [c.content for c in notebooks.get(app_admin, book.id).cells] == ["Hello {{ who }}", "Hello {{ who }}", ""]
    assert [c.id for c in notebooks.get(app_admin, book.id).cells][:2] == [cells[1].id, cells[2].id]


def test_playground_creates_shares_renames_copies_and_deletes_a_notebook(app_admin, app_editor):
    at = open_page(PAGE, app_admin)
    assert "No notebooks yet. Create one with **New notebook**." in texts(at)
    at.text_input(key="pg.new.name").input("ideas")
    checked(at.button(key="pg.new.create").click().run())
    book = notebooks.list_visible(app_admin)[0]
    assert book.name == "ideas" and at.query_params["notebook"] == str(book.id)
    assert "Created notebook ideas." in texts(at)
    checked(at.toggle(key=f"pg.manage.share.{book.id}").set_value(True).run())
    assert notebooks.get(app_admin, book.id).shared
    at.text_input(key=f"pg.manage.rename.{book.id}").input("better ideas")
    checked(at.button(key="pg.manage.rename.go").click().run())
    assert notebooks.get(app_admin, book.id).name == "better ideas" and at.selectbox(key="pg.pick").value == book.id
    at = open_page(PAGE, app_editor, notebook=str(book.id))
    checked(at.button(key="pg.manage.copy.go").click().run())
    copies = [n for n in notebooks.list_visible(app_editor) if n.editable]
    assert [n.name for n in copies] == ["better ideas (copy)"] and at.query_params["notebook"] == str(copies[0].id)
    assert at.button(key=f"{prefix(copies[0])}.run")
    checked(at.button(key="pg.manage.delete").click().run())
    assert [n.name for n in notebooks.list_visible(app_editor)] == ["better ideas"] and "Deleted notebook" in texts(at)
    assert at.selectbox(key="pg.pick").value == book.id and at.query_params["notebook"] == str(book.id)


def test_playground_a_save_from_an_old_revision_offers_a_reload(app_admin):
    book = notebooks.create(app_admin, "race", [cell("offline/echo")])
    at = open_page(PAGE, app_admin, notebook=str(book.id))
    notebooks.save(app_admin, book.id, [cell("offline/echo", content="elsewhere")], book.revision)
    at.text_area(key=f"{prefix(book)}.draft.text").input("mine")
    checked(at.run())
    assert any("was saved elsewhere" in e for e in errors(at))
    checked(at.button(key=f"{prefix(book)}.reload").click().run())
    fresh = notebooks.get(app_admin, book.id)
    assert at.text_area(key=f"{prefix(fresh)}.draft.text").value == "elsewhere"


def test_playground_sends_a_committed_cell_to_compare_and_refuses_a_draft(app_admin):
    library.create_prompt(app_admin, "greet")
    versioning.commit(app_admin, "greet", "Hello {{ who }}", None, "first")
    datasets.create_dataset(app_admin, "people")
    datasets.add_case(app_admin, "people", {"who": "Ada"})
    book = notebooks.create(app_admin, "to compare", [cell("offline/echo", prompt="greet", base_version=1),
                                                       cell("offline/echo", content="Changed {{ who }}", prompt="greet",
                                                            base_version=1)])
    at = log_in(page(APP), app_admin)  # the shell, where st.switch_page knows the Compare page
    at.switch_page(PAGE)
    at.query_params["notebook"] = str(book.id)
    checked(at.run())
    checked(at.button(key=f"{prefix(book, 1)}.compare.go").click().run())
    assert any("commit it first" in e for e in errors(at)) and runs.list_runs(app_admin) == []
    checked(at.button(key=f"{prefix(book, 0)}.compare.go").click().run())
    started = runs.list_runs(app_admin)
    assert len(started) == 1 and at.title[0].value == "Compare" and at.query_params["run"] == str(started[0].id)
    session.executor().wait(started[0].id, timeout=60)
    assert runs.get_run(app_admin, started[0].id).spec["versions"] == [1]


def test_playground_loads_a_version_into_a_cell_and_adds_one_from_a_version(app_admin):
    library.create_prompt(app_admin, "greet")
    versioning.commit(app_admin, "greet", [{"role": "system", "content": "Be brief."},
                                           {"role": "user", "content": "Hi {{ who }}"}], {"temperature": 0.5}, "chat")
    book = notebooks.create(app_admin, "loads", [cell("offline/echo")])
    at = open_page(PAGE, app_admin, notebook=str(book.id))
    checked(at.button(key=f"{prefix(book)}.source.load").click().run())
    loaded = notebooks.get(app_admin, book.id).cells[0]
    assert (loaded.prompt, loaded.base_version, loaded.params) == ("greet", 1, {"temperature": 0.5})
    assert at.toggle(key=f"{prefix(book)}.draft.chat").value
    assert "Be brief." in at.text_area(key=f"{prefix(book)}.draft.yaml").value
    run_cell(at, book)
    assert any("Hi Ada" in t for t in shown(at))
    checked(at.button(key=f"pg.add.{book.id}.source.load").click().run())
    cells = notebooks.get(app_admin, book.id).cells
    assert len(cells) == 2 and cells[1].content == loaded.content and cells[1].title == "greet v1"


@pytest.mark.parametrize("messages, message", [
    ("- role: robot\n  content: hi", "message 1: role"),
    ("- role: user\n  text: hi", "message 1"),
    ("[unclosed", "messages: not valid YAML"),
    ("just text", "expected a list of chat messages"),
])
def test_playground_a_bad_chat_draft_is_refused_and_not_saved(app_admin, messages, message):
    book = notebooks.create(app_admin, "chat", [cell("offline/echo")])
    at = open_page(PAGE, app_admin, notebook=str(book.id))
    checked(at.toggle(key=f"{prefix(book)}.draft.chat").set_value(True).run())
    assert "Hello {{ who }}" in at.text_area(key=f"{prefix(book)}.draft.yaml").value  # the text became a message
    at.text_area(key=f"{prefix(book)}.draft.yaml").input(messages)
    checked(at.run())
    assert any(message in e for e in errors(at)) and at.button(key=f"{prefix(book)}.run").disabled
    assert notebooks.get(app_admin, book.id).cells[0].content == [{"role": "user", "content": "Hello {{ who }}"}]


def test_playground_a_run_interrupted_by_another_click_still_shows_its_outputs(app_admin, fake, monkeypatch):
    book = notebooks.create(app_admin, "interrupted", [cell(f"slow@{fake.base_url}")])
    at = open_page(PAGE, app_admin, notebook=str(book.id))
    started, stream = [], playground_run.stream
    monkeypatch.setattr(playground_run, "stream", lambda future, events, slots: started.append(future) or st_stop())
    run_cell(at, book)
    started[0].result(timeout=30)  # the run went on without the page
    monkeypatch.setattr(playground_run, "stream", stream)
    checked(at.run())
    assert "slow: Hello Ada" in shown(at) and STALE not in texts(at)
    assert notebooks.get(app_admin, book.id).cells[0].last_run["id"] == started[0].result().id
