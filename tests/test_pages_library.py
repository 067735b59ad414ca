"""The library page through Streamlit's AppTest, on a real workspace in a temp folder."""

from __future__ import annotations

import pytest

from apptest import APP, checked, open_page, texts
from promptvault import library, refs, versioning

PAGE = "pages/library.py"

pytestmark = pytest.mark.usefixtures("cheap_hashing")


def test_library_empty_state_explains_what_to_do(app_ctx):
    at = open_page(PAGE, app_ctx)
    assert "No prompts yet" in texts(at)
    assert not at.dataframe
    assert at.expander[0].proto.expanded  # the New prompt form is open


def test_library_new_prompt_form_creates_prompt_and_first_version(app_ctx):
    at = open_page(PAGE, app_ctx)
    at.text_input(key="library.new.0.name").input("support-reply")
    at.text_input(key="library.new.0.description").input("Answers support email")
    at.text_input(key="library.new.0.tags").input("Support, email")
    at.text_area(key="library.new.0.text").input("Reply to {{ customer }} about {{ topic }}.")
    at.text_input(key="library.new.0.message").input("first draft")
    checked(at.button(key="library.new.0.submit").click().run())
    assert "Created prompt support-reply with v1 on main" in texts(at)
    info = library.get_prompt_info(app_ctx, "support-reply")
    assert (info.description, info.tags, info.versions, info.refs) == ("Answers support email", ["email", "support"], 1, {"main": 1})
    assert versioning.show(app_ctx, "support-reply").message == "first draft"
    table = at.dataframe[0].value
    assert list(table["Name"]) == ["support-reply"] and list(table["Refs"]) == ["main→v1"]
    assert at.text_input(key="library.new.1.name").value == ""  # a fresh, empty form


def test_library_new_prompt_with_broken_template_creates_nothing(app_ctx):
    at = open_page(PAGE, app_ctx)
    at.text_input(key="library.new.0.name").input("broken")
    at.text_area(key="library.new.0.text").input("Hello {{ name ")
    at.button(key="library.new.0.submit").click().run()
    assert at.error and "line 1" in at.error[0].value
    assert library.list_prompts(app_ctx) == []
    assert at.text_input(key="library.new.0.name").value == "broken"  # the typed form stays


def test_library_new_prompt_duplicate_name_shows_error(app_ctx):
    library.create_prompt(app_ctx, "taken")
    at = open_page(PAGE, app_ctx)
    at.text_input(key="library.new.0.name").input("taken")
    at.button(key="library.new.0.submit").click().run()
    assert "already exists" in at.error[0].value


def test_library_search_and_tag_filter(app_ctx):
    library.create_prompt(app_ctx, "summarize", description="Short summaries", tags=["demo"])
    library.create_prompt(app_ctx, "translate", tags=["i18n"])
    versioning.commit(app_ctx, "translate", "Translate into {{ language }}: {{ text }}")
    at = open_page(PAGE, app_ctx)
    assert sorted(at.dataframe[0].value["Name"]) == ["summarize", "translate"]
    at.text_input(key="library.search").input("LANGUAGE").run()  # matches the content of the head of main
    assert list(at.dataframe[0].value["Name"]) == ["translate"]
    at.text_input(key="library.search").input("nothing like this").run()
    assert not at.dataframe and "No prompt matches" in texts(at)
    at.text_input(key="library.search").input("").run()
    at.selectbox(key="library.tag").select("demo").run()
    assert list(at.dataframe[0].value["Name"]) == ["summarize"]


def test_library_table_shows_refs_and_archived_toggle(app_ctx):
    library.create_prompt(app_ctx, "old", tags=["demo"])
    library.create_prompt(app_ctx, "live")
    versioning.commit(app_ctx, "live", "one")
    versioning.commit(app_ctx, "live", "two")
    refs.set_label(app_ctx, "live", "production", "1")
    library.update_prompt(app_ctx, "old", archived=True)
    at = open_page(PAGE, app_ctx)
    table = at.dataframe[0].value
    assert list(table["Name"]) == ["live"]
    assert list(table["Refs"]) == ["main→v2, production→v1"] and list(table["Versions"]) == [2]
    at.toggle(key="library.archived").set_value(True).run()
    assert sorted(at.dataframe[0].value["Name"]) == ["live", "old (archived)"]


def test_library_open_in_editor_switches_page_with_query_param(app_ctx, local_admin):
    library.create_prompt(app_ctx, "alpha")
    versioning.commit(app_ctx, "alpha", "Hello {{ who }}")
    library.create_prompt(app_ctx, "beta")
    at = open_page(APP, app_ctx)  # the shell (set up by local_admin), so st.switch_page has pages
    at.selectbox(key="library.open").select("alpha")
    checked(at.button(key="library.open_button").click().run())
    assert at.title[0].value == "Editor" and at.query_params["prompt"] == "alpha"
    assert at.selectbox(key="editor.prompt").value == "alpha"
    assert at.text_area(key="editor.draft.alpha.main.text").value == "Hello {{ who }}"
