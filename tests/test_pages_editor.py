"""The editor page through Streamlit's AppTest, on a real workspace in a temp folder."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from apptest import APP, checked, errors, log_in, open_page, page
from promptvault import library, refs, versioning

PAGE = "pages/editor.py"

pytestmark = pytest.mark.usefixtures("cheap_hashing")


@pytest.fixture
def greet(app_ctx):
    """A prompt 'greet' with v1 on main."""
    library.create_prompt(app_ctx, "greet", description="Says hello")
    versioning.commit(app_ctx, "greet", "Hello {{ who }}!", {"model": "offline/echo"}, "first")
    return "greet"


def open_tab(at: AppTest, label: str) -> AppTest:
    """Switch to a tab of the editor (only the open tab's code runs)."""
    at.session_state["tab"] = label
    return checked(at.run())


def commit_draft(at: AppTest, text: str | None, message: str = "", branch: str = "main", prompt: str = "greet") -> AppTest:
    """Type into the draft (unless None) and press Commit."""
    if text is not None:
        at.text_area(key=f"editor.draft.{prompt}.{branch}.text").input(text)
    at.text_input(key="editor.commit.message").input(message)
    return checked(at.button(key="editor.commit.submit").click().run())


def test_editor_loads_head_of_main_into_the_draft(app_ctx, greet):
    at = open_page(PAGE, app_ctx, prompt=greet)
    assert at.selectbox(key="editor.prompt").value == "greet"
    assert at.text_area(key="editor.draft.greet.main.text").value == "Hello {{ who }}!"
    assert '"model": "offline/echo"' in at.text_area(key="editor.draft.greet.main.config").value
    assert [t.label for t in at.tabs] == ["Edit", "History", "Diff", "Branches & labels"]


def test_editor_commit_creates_v2(app_ctx, greet):
    at = commit_draft(open_page(PAGE, app_ctx, prompt=greet), "Hi there, {{ who }}.", "friendlier")
    v2 = versioning.show(app_ctx, greet)
    assert (v2.number, v2.content, v2.message, v2.parent) == (2, "Hi there, {{ who }}.", "friendlier", 1)
    assert "Committed v2 on main." in [s.value.replace("\\", "") for s in at.success]
    assert at.text_input(key="editor.commit.message").value == ""
    at = commit_draft(at, "Hi there, {{ who }}!", "again")  # the draft now starts from v2
    assert versioning.show(app_ctx, greet).number == 3


def test_editor_commit_unchanged_shows_nothing_to_commit(app_ctx, greet):
    at = commit_draft(open_page(PAGE, app_ctx, prompt=greet), None)
    assert any("nothing to commit" in e for e in errors(at))
    assert versioning.show(app_ctx, greet).number == 1


def test_editor_commit_on_stale_head_shows_conflict_naming_new_head(app_ctx, greet):
    at = open_page(PAGE, app_ctx, prompt=greet)
    versioning.commit(app_ctx, greet, "Someone else's edit {{ who }}", None, "meanwhile")  # v2, by another session
    at = commit_draft(at, "My edit {{ who }}", "mine")
    assert any("now at v2 (you started from v1)" in e for e in errors(at))
    assert versioning.show(app_ctx, greet).content == "Someone else's edit {{ who }}"
    assert at.text_area(key="editor.draft.greet.main.text").value == "My edit {{ who }}"  # the draft is kept
    assert any("moved to v2" in w.value for w in at.warning)
    checked(at.button(key="editor.reload").click().run())
    assert at.text_area(key="editor.draft.greet.main.text").value == "Someone else's edit {{ who }}"


def test_editor_first_commit_of_an_empty_prompt(app_ctx):
    library.create_prompt(app_ctx, "blank")
    at = open_tab(open_page(PAGE, app_ctx, prompt="blank"), "History")
    assert "No versions yet" in at.tabs[1].info[0].value
    assert not at.tabs[0].text_area  # only the open tab runs
    commit_draft(open_tab(at, "Edit"), "First {{ thing }}", "v1", prompt="blank")
    assert versioning.show(app_ctx, "blank").number == 1


def test_editor_invalid_config_json_is_an_error_with_position(app_ctx, greet):
    at = open_page(PAGE, app_ctx, prompt=greet)
    at.text_area(key="editor.draft.greet.main.config").input('{"model": }')
    at = commit_draft(at, "Changed {{ who }}")
    assert any("config is not valid JSON" in e and "line 1" in e for e in errors(at))
    assert versioning.show(app_ctx, greet).number == 1


def test_editor_lists_variables_and_previews_with_missing_variable_error(app_ctx, greet):
    at = open_page(PAGE, app_ctx, prompt=greet)
    at.text_area(key="editor.draft.greet.main.text").input("Dear {{ who }}, about {{ topic }}").run()
    assert any("missing variable 'topic'" in e or "missing variable 'who'" in e for e in errors(at))
    at.text_area(key="editor.preview.greet.vars.who").input("Ada").run()
    at.text_area(key="editor.preview.greet.vars.topic").input("<b>engines</b>").run()
    checked(at)
    assert not errors(at)
    assert "Dear Ada, about <b>engines</b>" in [c.value for c in at.code]  # shown as code, not as HTML


def test_editor_chat_version_round_trips_through_the_message_table(app_ctx, greet):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "{{ question }}"}]
    versioning.commit(app_ctx, greet, messages, None, "chat")
    at = open_page(PAGE, app_ctx, prompt=greet)
    assert at.toggle(key="editor.draft.greet.main.chat").value is True
    at = commit_draft(at, None)
    assert any("nothing to commit" in e for e in errors(at))  # the table gave back exactly the two messages
    at.toggle(key="editor.draft.greet.main.chat").set_value(False).run()
    text = at.text_area(key="editor.draft.greet.main.text").value
    assert text == "[system]\nBe brief.\n\n[user]\n{{ question }}"


def test_editor_history_lists_versions_and_ref_moves(app_ctx, greet):
    versioning.commit(app_ctx, greet, "Hey {{ who }}", None, "shorter")
    refs.set_label(app_ctx, greet, "production", "1")
    at = open_tab(open_page(PAGE, app_ctx, prompt=greet), "History")
    log = at.tabs[1].dataframe[0].value
    assert list(log["Version"]) == ["v2", "v1"] and list(log["Message"]) == ["shorter", "first"]
    assert list(log["Refs"]) == ["main", "production"] and set(log["Author"]) == {"local@promptvault"}
    moves = at.tabs[1].dataframe[1].value
    assert ("production", "—", "v1", "create") in set(zip(moves["Ref"], moves["From"], moves["To"], moves["Why"]))
    assert ("main", "v1", "v2", "commit") in set(zip(moves["Ref"], moves["From"], moves["To"], moves["Why"]))


def test_editor_diff_tab_escapes_script_tags(app_ctx, greet):
    versioning.commit(app_ctx, greet, "Hello {{ who }}! <script>alert(1)</script>", None, "xss")
    at = open_tab(open_page(PAGE, app_ctx, prompt=greet), "Diff")
    diff_tab = at.tabs[2]
    assert diff_tab.selectbox(key="editor.diff.greet.main.2.a").value == "v1"
    assert diff_tab.selectbox(key="editor.diff.greet.main.2.b").value == "main"
    [html] = [h.proto.body for h in diff_tab.get("html")]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html
    checked(diff_tab.radio(key="editor.diff.layout").set_value("Inline").run())
    [html] = [h.proto.body for h in at.tabs[2].get("html")]
    assert "&lt;script&gt;" in html and "<script>" not in html


def test_editor_label_create_and_move(app_ctx, greet):
    versioning.commit(app_ctx, greet, "Hey {{ who }}", None, "v2")
    at = open_tab(open_page(PAGE, app_ctx, prompt=greet), "Branches & labels")
    at.text_input(key="editor.refs.label.name").input("production")
    at.selectbox(key="editor.refs.label.to").select("v1")
    checked(at.button(key="editor.refs.label.submit").click().run())
    assert {r.name: r.version for r in refs.list_refs(app_ctx, greet)}["production"] == 1
    at.selectbox(key="editor.refs.label.to").select("v2")
    checked(at.button(key="editor.refs.label.submit").click().run())
    assert "Label production now points at v2." in [s.value.replace("\\", "") for s in at.success]
    [move] = refs.ref_history(app_ctx, greet, "production")[:1]
    assert (move.from_version, move.to_version, move.reason) == (1, 2, "move")


def test_editor_branch_commit_and_merge_through_the_ui(app_ctx):
    library.create_prompt(app_ctx, "letter")
    versioning.commit(app_ctx, "letter", "Dear {{ name }},\nbody\nRegards", None, "first")
    at = open_tab(open_page(PAGE, app_ctx, prompt="letter"), "Branches & labels")
    at.text_input(key="editor.refs.new_branch.name").input("experiment")
    checked(at.button(key="editor.refs.new_branch.submit").click().run())
    assert {r.name: r.version for r in refs.list_refs(app_ctx, "letter")}["experiment"] == 1
    checked(at.selectbox(key="editor.branch.letter").select("experiment").run())
    at = commit_draft(open_tab(at, "Edit"), "Hello {{ name }},\nbody\nRegards", "warmer", branch="experiment", prompt="letter")
    assert versioning.show(app_ctx, "letter", "experiment").number == 2
    versioning.commit(app_ctx, "letter", "Dear {{ name }},\nbody\nBest wishes", None, "closing")  # main moves on: v3
    at = open_tab(at, "Branches & labels")
    at.selectbox(key="editor.refs.merge.source").select("experiment")
    at.selectbox(key="editor.refs.merge.into").select("main")
    checked(at.button(key="editor.refs.merge.submit").click().run())
    merged = versioning.show(app_ctx, "letter", "main")
    assert merged.content == "Hello {{ name }},\nbody\nBest wishes"  # both edits kept
    assert (merged.parent, merged.merge_parent) == (3, 2)


@pytest.fixture
def letter(app_ctx):
    """A prompt 'letter' whose 'experiment' branch edits the same line as main: merging it conflicts."""
    library.create_prompt(app_ctx, "letter")
    versioning.commit(app_ctx, "letter", "Dear {{ name }}", None, "first")
    refs.create_branch(app_ctx, "letter", "experiment")
    versioning.commit(app_ctx, "letter", "Hello {{ name }}", None, "theirs", branch="experiment")
    versioning.commit(app_ctx, "letter", "Hi <b>{{ name }}</b>", None, "ours")
    return "letter"


def merge_experiment(app_ctx, prompt: str) -> AppTest:
    """Open the Branches tab and merge 'experiment' into main."""
    at = open_tab(open_page(PAGE, app_ctx, prompt=prompt), "Branches & labels")
    at.selectbox(key="editor.refs.merge.source").select("experiment")
    return checked(at.button(key="editor.refs.merge.submit").click().run())


def test_editor_merge_conflict_shows_every_side(app_ctx, letter):
    at = merge_experiment(app_ctx, letter)
    assert any("merge conflict in text" in e for e in errors(at))
    shown = [c.value for c in at.code]
    assert any("Dear {{ name }}" in c for c in shown) and any("Hello {{ name }}" in c for c in shown)
    assert any("Hi <b>{{ name }}</b>" in c for c in shown)  # as text in a code block, never as HTML
    assert versioning.show(app_ctx, "letter").number == 3  # nothing committed


def test_editor_merge_conflict_can_be_resolved_in_the_draft(app_ctx, letter):
    at = merge_experiment(app_ctx, letter)
    draft = at.text_area(key="editor.refs.merge.resolve.content")
    assert "<<<<<<<" in draft.value and "Hello" in draft.value and "Hi" in draft.value
    checked(at.button(key="FormSubmitter:editor.refs.merge.resolve.form-Commit resolution").click().run())
    assert any("conflict markers" in e for e in errors(at))  # markers left in: refused
    at.text_area(key="editor.refs.merge.resolve.content").set_value("Hello and hi {{ name }}")
    checked(at.button(key="FormSubmitter:editor.refs.merge.resolve.form-Commit resolution").click().run())
    merged = versioning.show(app_ctx, "letter")
    assert (merged.number, merged.content, merged.merge_parent) == (4, "Hello and hi {{ name }}", 2)


def test_editor_revert_commits_an_older_version(app_ctx, greet):
    versioning.commit(app_ctx, greet, "Hey {{ who }}", None, "v2")
    at = open_tab(open_page(PAGE, app_ctx, prompt=greet), "Branches & labels")
    assert at.selectbox(key="editor.refs.revert.to").value == "v1"
    checked(at.button(key="editor.refs.revert.submit").click().run())
    v3 = versioning.show(app_ctx, greet)
    assert (v3.number, v3.content, v3.message) == (3, "Hello {{ who }}!", "Revert to v1")


def test_editor_unknown_prompt_in_query_falls_back_to_the_picker(app_ctx, greet):
    at = open_page(PAGE, app_ctx, prompt="no-such-prompt")
    assert at.selectbox(key="editor.prompt").value == "greet"
    assert at.query_params["prompt"] == "greet"


def test_editor_user_text_reaches_markdown_escaped(app_ctx):
    library.create_prompt(app_ctx, "md", description="**bold** [link](http://example.com) <img src=x>")
    versioning.commit(app_ctx, "md", "{{ _under_ }}")
    at = open_page(PAGE, app_ctx, prompt="md")
    caption = at.caption[0].value
    assert "\\*\\*bold\\*\\* \\[link\\]\\(http" in caption and "\\<img" in caption
    assert at.text_area(key="editor.preview.md.vars._under_").label == "\\_under\\_"


def test_editor_with_no_prompts_points_to_the_library(app_ctx, local_admin):
    at = log_in(page(APP), app_ctx)  # the shell (set up by local_admin), where st.page_link knows every page
    at.switch_page(PAGE)
    at = checked(at.run())
    assert "No prompts yet" in at.info[0].value


def test_editor_label_protection_is_offered_to_admins_only(app_admin, app_editor):
    library.create_prompt(app_admin, "greet")
    versioning.commit(app_admin, "greet", "Hello {{ who }}!")
    refs.set_label(app_admin, "greet", "production", "1")
    at = open_tab(open_page(PAGE, app_admin, prompt="greet"), "Branches & labels")
    checked(at.button(key="editor.refs.protect.submit").click().run())
    assert [r.protected for r in refs.list_refs(app_admin, "greet") if r.name == "production"] == [True]
    at = open_tab(open_page(PAGE, app_editor, prompt="greet"), "Branches & labels")
    assert "editor.refs.protect.submit" not in [b.key for b in at.button]
