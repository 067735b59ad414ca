"""End to end: the Playground in the real app and headless Chromium (fixtures and helpers of test_e2e_browser)."""

from __future__ import annotations

import re
import statistics
import time
from pathlib import Path

import pytest

from test_e2e_browser import (ADMIN, CHROMIUM, browser_page, server, set_up_admin, settled,  # noqa: F401 (fixtures)
                              steady)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"end-to-end tests need the system Chromium at {CHROMIUM}"),
]
LATENCY_BUDGET = 1.2  # seconds from Run to three 1 s answers on the page
# In the page: the moment of the next mouse press, and the first moment all the texts are on the page after it
# (performance.now() in the browser, so Playwright's own round trips are not counted).
WATCH = """texts => {
  const watch = window.pgWatch = {clicked: null, shown: null};
  const all = () => texts.every(t => document.body.innerText.includes(t));
  document.addEventListener("mousedown", () => { watch.clicked ??= performance.now(); }, {capture: true, once: true});
  const observer = new MutationObserver(() => {
    if (watch.clicked !== null && all()) { watch.shown = performance.now(); observer.disconnect(); }
  });
  observer.observe(document.body, {childList: true, subtree: true, characterData: true});
}"""


def seed_notebook(data_dir: Path, cells: list[dict]) -> int:
    """As the admin, in the server's own workspace: a notebook of these cells; its id."""
    from promptvault import notebooks
    from promptvault.config import Settings
    from promptvault.workspace import open_workspace

    ws = open_workspace(Settings(data_dir=data_dir, database_url=f"sqlite:///{data_dir / 'promptvault.db'}",
                                 master_key=None))
    try:
        return notebooks.create(ws.context_for(ADMIN), "latency", cells).id
    finally:
        ws.db.dispose()


def fill_area(area, text: str) -> None:
    """Replace a text area's value and send it (a text area sends on blur or Ctrl+Enter)."""
    area.fill(text)
    area.press("Control+Enter")
    settled(area.page)


def pick(page, label: str, option: str) -> None:
    """Choose an option of a selectbox by its label."""
    page.get_by_label(label, exact=True).click()
    page.get_by_role("option", name=option, exact=True).click()
    settled(page)


def open_playground(page) -> None:
    """Go to the Playground from the menu."""
    from playwright.sync_api import expect

    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Playground").click()
    expect(page.get_by_role("heading", name="Playground")).to_be_visible()
    settled(page)


def measure_run(page, who: str) -> float:
    """Set the variable, click Run and time, in the page, the click to all three answers shown; seconds."""
    from playwright.sync_api import expect

    fill_area(page.get_by_role("textbox", name="who", exact=True), who)
    expect(page.get_by_text("stale — edited since this run")).to_be_visible()  # the edit's own rerun is over
    settled(page)
    page.evaluate(WATCH, [f"m{i}: Hello {who}" for i in (1, 2, 3)])
    started = time.perf_counter()
    page.get_by_role("button", name="Run").click()
    page.wait_for_function("() => window.pgWatch.shown !== null", polling="raf", timeout=30_000)
    outside = time.perf_counter() - started
    elapsed = page.evaluate("() => (window.pgWatch.shown - window.pgWatch.clicked) / 1000")
    print(f"\nplayground 3 models x 1 s: {elapsed:.2f} s (as Playwright saw it, click included: {outside:.2f} s)")
    settled(page)
    return elapsed


def test_e2e_playground_runs_duplicates_diffs_and_commits_a_cell(server, browser_page):
    from playwright.sync_api import expect

    from promptvault.testing.fake_provider import FakeConfig, FakeProvider

    page, shots = browser_page
    page.goto(server)
    set_up_admin(page)
    open_playground(page)
    expect(page.get_by_text("No notebooks yet")).to_be_visible()
    page.get_by_role("button", name="New notebook").click()
    page.get_by_role("textbox", name="Notebook name").fill("greetings")
    page.get_by_role("button", name="Create notebook").click()
    expect(page.get_by_text("Created notebook greetings.")).to_be_visible()
    settled(page)
    with FakeProvider(FakeConfig(latency=0.2)) as fake:
        fill_area(page.get_by_role("textbox", name="Draft", exact=True), "Hello {{ who }}")
        fill_area(page.get_by_role("textbox", name="who", exact=True), "Ada <b>Lovelace</b>")
        models = page.get_by_role("textbox", name="Models (1-4, one per line)")
        fill_area(models, f"offline/echo\nfake-model@{fake.base_url}")
        page.get_by_role("button", name="Run").click()
        expect(page.get_by_text("fake-model: Hello Ada <b>Lovelace</b>")).to_be_visible(timeout=60_000)
        expect(page.get_by_text("[offline echo, not a real model] Hello Ada <b>Lovelace</b>")).to_be_visible()
        settled(page)
        page.get_by_role("button", name="Duplicate").first.click()
        expect(page.get_by_role("textbox", name="Draft", exact=True)).to_have_count(2)
        settled(page)
        fill_area(page.get_by_role("textbox", name="Draft", exact=True).nth(1), "Hi {{ who }}, welcome!")
        expect(page.get_by_text("Not run yet.")).to_be_visible()
        page.get_by_role("button", name="Run").nth(1).click()
        expect(page.get_by_text("fake-model: Hi Ada <b>Lovelace</b>, welcome!")).to_be_visible()
        settled(page)
        assert fake.calls("fake-model") == 2
    fill_area(page.get_by_role("textbox", name="Draft", exact=True).first, "Hello there, {{ who }}")
    expect(page.get_by_text("stale — edited since this run")).to_be_visible()
    page.screenshot(path=shots / "1-playground.png", full_page=True)

    page.get_by_role("button", name="Diff drafts or outputs").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    settled(page)
    pick(page, "Diff from", f"Cell 1 × fake-model@{fake.base_url}")
    pick(page, "to", f"Cell 2 × fake-model@{fake.base_url}")
    diff = dialog.locator(".pv-diff").first
    expect(diff).to_contain_text("welcome!")
    expect(diff.locator(".pv-diff-ins").first).to_be_visible()
    steady(dialog)
    page.screenshot(path=shots / "2-playground-diff.png")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    commit = page.get_by_test_id("stExpander").filter(has_text="Commit or compare").nth(1)
    commit.get_by_text("Commit or compare").click()
    commit.get_by_role("textbox", name="Prompt", exact=True).fill("pg-greet")
    message = commit.get_by_role("textbox", name="Commit message")
    message.fill("from the playground")
    message.press("Enter")
    settled(page)
    commit.get_by_role("button", name="Commit draft").click()
    expect(page.get_by_text("committed pg-greet v1 on branch main")).to_be_visible()
    expect(page.get_by_text("from pg-greet v1")).to_be_visible()
    settled(page)
    page.screenshot(path=shots / "3-playground-commit.png", full_page=True)


def test_e2e_playground_three_models_of_one_second_answer_together(server, browser_page, tmp_path):
    from playwright.sync_api import expect

    from promptvault.testing.fake_provider import FakeConfig, FakeProvider

    page, shots = browser_page
    page.goto(server)
    set_up_admin(page)
    with FakeProvider(FakeConfig(latency=1.0)) as fake:
        models = [{"model": f"m{i}", "api_base": fake.base_url} for i in (1, 2, 3)]
        book = seed_notebook(tmp_path / "data", [{"content": "Hello {{ who }}", "variables": {"who": "Ada"},
                                                  "models": models, "use_cache": False}])
        open_playground(page)
        expect(page).to_have_url(re.compile(rf"[?&]notebook={book}"))
        page.get_by_role("button", name="Run").click()  # once before, so litellm and the connections are warm
        expect(page.get_by_text("m3: Hello Ada")).to_be_visible(timeout=60_000)
        settled(page)
        figures = [measure_run(page, who) for who in ("Bob", "Cy", "Di")]
        assert fake.calls("m1") == fake.calls("m2") == fake.calls("m3") == 4
    settled(page)
    page.screenshot(path=shots / "4-playground-latency.png", full_page=True)
    assert statistics.median(figures) <= LATENCY_BUDGET, f"three 1 s models took {figures} s from Run to the page"
