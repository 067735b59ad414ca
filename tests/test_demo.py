"""The demo: example prompts with history, a dataset and a finished offline run in an empty project (service, CLI, page)."""

from __future__ import annotations

import json

import pytest

from apptest import ADMIN, APP, PASSWORD, checked, open_page
from promptvault import datasets, demo, history, library, refs, runs, versioning
from promptvault.errors import AlreadyExistsError


@pytest.fixture
def server_like(monkeypatch):
    """Start every AppTest run at app.py, as the server does (see tests/test_pages_auth.py)."""
    from streamlit.runtime.pages_manager import PagesManager

    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)


def test_demo_fills_prompts_with_branch_label_and_merge(workspace, ctx):
    summary = demo.fill(ctx, workspace.settings.data_dir)
    assert summary.prompts == {"summarize-ticket": 5, "classify-intent": 2, "product-description": 2}
    log = versioning.log(ctx, "summarize-ticket")
    merge = log[0]
    assert (merge.number, merge.parent, merge.merge_parent) == (5, 4, 3)
    assert set(merge.refs) == {"main", "production"}
    assert {r.name: (r.kind, r.version) for r in refs.list_refs(ctx, "summarize-ticket")} == {
        "main": ("branch", 5), "shorter": ("branch", 3), "production": ("label", 5)}
    assert [m.from_version for m in refs.ref_history(ctx, "summarize-ticket", "production")] == [2, None]
    chat = versioning.show(ctx, "classify-intent")
    assert chat.kind == "chat" and chat.content[0]["role"] == "system" and "JSON" in chat.content[0]["content"]


def test_demo_fills_a_dataset_and_a_finished_run(workspace, ctx):
    summary = demo.fill(ctx, workspace.settings.data_dir)
    cases = datasets.get_cases(ctx, "support-tickets")
    assert summary.cases == len(cases) == 6
    assert all(c.expected and set(c.variables) == {"customer", "ticket"} for c in cases)
    run = runs.get_run(ctx, summary.run_id)
    assert (run.status, run.total_cells, run.done_cells, run.failed_cells) == ("done", 12, 12, 0)
    assert run.spec["versions"] == [1, 5] and [m["model"] for m in run.spec["models"]] == ["offline/echo"]
    assert history.HistoryReader(workspace.settings.data_dir).count(run_id=summary.run_id) == 12


def test_demo_refuses_a_second_fill(workspace, ctx):
    demo.fill(ctx, workspace.settings.data_dir)
    with pytest.raises(AlreadyExistsError, match="summarize-ticket.*datasets: support-tickets"):
        demo.fill(ctx, workspace.settings.data_dir)
    assert len(runs.list_runs(ctx)) == 1


def test_demo_refuses_a_project_with_a_prompt_and_writes_nothing(workspace, ctx):
    library.create_prompt(ctx, "mine")
    with pytest.raises(AlreadyExistsError, match="already has prompts: mine"):
        demo.fill(ctx, workspace.settings.data_dir)
    assert [p.name for p in library.list_prompts(ctx)] == ["mine"] and datasets.list_datasets(ctx) == []


def test_cli_demo_prints_what_it_created_and_refuses_again(cli):
    code, out, _ = cli("demo")
    assert code == 0
    assert "summarize-ticket (5 versions)" in out and "support-tickets (6 cases)" in out
    assert "run 1: done, 12 cells on offline/echo" in out and "DEMO=0" in out
    code, out, err = cli("demo")
    assert (code, out) == (1, "") and err.startswith("error: the demo fills only an empty project")


def test_cli_demo_if_empty_is_silent_on_a_used_project(cli):
    assert cli("prompt", "create", "mine")[0] == 0
    assert cli("demo", "--if-empty") == (0, "", "")
    code, out, _ = cli("prompt", "list", "--json")
    assert [p["name"] for p in json.loads(out)] == ["mine"]


def test_cli_demo_if_empty_fills_an_empty_project_as_json(cli):
    code, out, _ = cli("demo", "--if-empty", "--json")
    data = json.loads(out)
    assert code == 0 and data["run_status"] == "done" and data["dataset"] == "support-tickets"


@pytest.mark.usefixtures("cheap_hashing", "server_like")
def test_setup_page_checkbox_adds_the_examples_for_the_new_admin(app_ctx):
    at = open_page(APP)
    at.checkbox(key="setup.demo").check()
    for field, value in (("email", ADMIN), ("name", "Ada"), ("password", PASSWORD), ("again", PASSWORD)):
        at.text_input(key=f"setup.0.{field}").input(value)
    at = checked(at.button(key="setup.0.submit").click().run())
    assert at.title[0].value == "Library"
    assert "Example prompts, a dataset and a run" in " ".join(s.value for s in at.success)
    prompts = library.list_prompts(app_ctx)
    assert {p.name for p in prompts} == {"summarize-ticket", "classify-intent", "product-description"}
    assert {p.owner for p in prompts} == {ADMIN}
    assert [r.status for r in runs.list_runs(app_ctx)] == ["done"]


@pytest.mark.usefixtures("cheap_hashing", "server_like")
def test_setup_page_offers_no_examples_once_the_project_has_some(app_ctx):
    library.create_prompt(app_ctx, "mine")
    at = open_page(APP)
    assert not at.checkbox and at.title[0].value == "Welcome to PromptVault"
