"""End to end: the real app (`promptvault serve`) driven in headless Chromium, with screenshots kept."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
ADMIN, ADMIN_PASSWORD = "admin@example.com", "e2e admin passphrase"
EDITOR, EDITOR_PASSWORD = "editor@example.com", "e2e editor passphrase"
CANARY = "sk-e2e-canary-4c8d2f7a9b1e3d5f"
START_TIMEOUT = 60
STOP_TIMEOUT = 15
UI_TIMEOUT = 30_000  # ms, for each visible-text wait

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"end-to-end tests need the system Chromium at {CHROMIUM}"),
]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_command(port: int) -> list[str]:
    """`promptvault serve` from this interpreter's environment."""
    script = Path(sys.executable).parent / "promptvault"
    if script.exists():
        return [str(script), "serve", "--port", str(port)]
    return [sys.executable, "-c", "from promptvault.cli import main; main()", "serve", "--port", str(port)]


@pytest.fixture
def server(tmp_path):
    """The app on a free loopback port with its data in tmp_path; yields the base URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMPTVAULT_")}
    env["PROMPTVAULT_DATA_DIR"] = str(tmp_path / "data")
    log = open(tmp_path / "server.log", "wb")
    process = subprocess.Popen(serve_command(port), env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, process, tmp_path / "server.log")
        yield base
    finally:
        stop(process)
        log.close()


def stop(process: subprocess.Popen) -> None:
    """Stop the server's own process group: `serve` runs Streamlit as a child that outlives a lone SIGTERM."""
    group = process.pid  # start_new_session=True made the server the leader of its own group
    signal_group(group, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        pass
    deadline = time.monotonic() + STOP_TIMEOUT
    while signal_group(group, 0) and time.monotonic() < deadline:
        time.sleep(0.1)
    signal_group(group, signal.SIGKILL)
    process.wait()


def signal_group(group: int, signum: int) -> bool:
    """Send a signal to a process group; False once nobody is left in it."""
    try:
        os.killpg(group, signum)
        return True
    except ProcessLookupError:
        return False


def wait_healthy(base: str, process: subprocess.Popen, log: Path) -> None:
    """Poll /_stcore/health until it answers ok; fail with the server log if the process dies or stalls."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"promptvault serve exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.25)
    pytest.fail(f"promptvault serve did not answer within {START_TIMEOUT}s:\n{log.read_text(errors='replace')}")


@pytest.fixture
def browser_page(tmp_path):
    """A headless Chromium page that records requests leaving loopback and script dialogs, checked at the end.

    Yields (page, screenshots folder)."""
    from playwright.sync_api import sync_playwright

    shots = tmp_path / "screenshots"
    shots.mkdir()
    outside, dialogs = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1400})
            page.set_default_timeout(UI_TIMEOUT)
            page.route("**/*", lambda route: _loopback_only(route, outside))
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            yield page, shots
        finally:
            browser.close()
    print(f"\nscreenshots: {shots}")
    assert not dialogs, f"page ran script from prompt content: {dialogs}"
    assert not outside, f"the app reached beyond loopback: {outside}"


def test_e2e_create_commit_twice_and_diff(server, browser_page):
    from playwright.sync_api import expect

    page, shots = browser_page
    page.goto(server)
    set_up_admin(page)
    expect(page.get_by_text("No prompts yet")).to_be_visible()
    page.get_by_label("Name", exact=True).fill("e2e-greeting")
    page.get_by_label("Description", exact=True).fill("Made by the browser test")
    page.get_by_role("button", name="Create prompt").click()
    expect(page.get_by_text("Created prompt e2e-greeting")).to_be_visible()
    settled(page)
    page.screenshot(path=shots / "1-library.png")

    page.get_by_role("button", name="Open in editor").click()
    expect(page.get_by_role("button", name="Commit to main")).to_be_visible()
    settled(page)
    commit(page, "Hello there.", "first", "Hello there.")
    expect(page.get_by_text("Committed v1 on main.")).to_be_visible()
    settled(page)
    expect(page.get_by_label("Commit message")).to_have_value("")
    commit(page, "Hello {{ name }}, welcome!\n<script>alert(1)</script>", "greet by name",
           "missing variable 'name'")
    expect(page.get_by_text("Committed v2 on main.")).to_be_visible()
    settled(page)
    page.screenshot(path=shots / "2-editor.png")

    page.get_by_role("tab", name="Diff").click()
    diff = page.locator(".pv-diff").first
    expect(diff).to_be_visible()
    expect(diff.locator(".pv-diff-ins").first).to_be_visible()
    expect(diff).to_contain_text("<script>alert(1)</script>")  # shown as text, not run
    expect(diff).to_contain_text("Hello there.")
    page.screenshot(path=shots / "3-diff.png")
    page.get_by_text("Inline", exact=True).click()
    expect(page.get_by_role("radio", name="Inline")).to_be_checked()
    settled(page)
    expect(page.get_by_role("tab", name="Diff")).to_have_attribute("aria-selected", "true")  # still on Diff
    expect(page).to_have_url(re.compile(r"[?&]tab=Diff"))
    expect(page.locator(".pv-diff").first).to_contain_text("welcome!")
    page.screenshot(path=shots / "4-diff-inline.png")


def test_e2e_first_run_then_an_editor_is_not_offered_the_key_admin_actions(server, browser_page):
    from playwright.sync_api import expect

    page, shots = browser_page
    page.goto(server)
    expect(page.get_by_role("heading", name="Welcome to PromptVault")).to_be_visible()
    settled(page)
    page.screenshot(path=shots / "1-setup.png")
    set_up_admin(page)

    nav = page.get_by_test_id("stSidebarNav")
    nav.get_by_role("link", name="Keys").click()
    expect(page.get_by_role("heading", name="Keys")).to_be_visible()
    settled(page)
    page.get_by_label("Label", exact=True).first.fill("team key")
    page.get_by_label("API key", exact=True).first.fill(CANARY)
    page.get_by_role("button", name="Save key").click()
    expect(page.get_by_text("Saved the openai key …3d5f")).to_be_visible()
    settled(page)
    assert CANARY not in page.content()  # write-only: the page never holds the key again
    page.screenshot(path=shots / "2-keys-admin.png")

    nav.get_by_role("link", name="Team").click()
    expect(page.get_by_role("heading", name="Team")).to_be_visible()
    settled(page)
    page.get_by_label("E-mail", exact=True).fill(EDITOR)
    page.get_by_text("No account yet: create one").click()
    page.get_by_label("First password (new account)").fill(EDITOR_PASSWORD)
    page.get_by_role("button", name="Add member").click()
    expect(page.get_by_text(f"{EDITOR} is now editor of Default.")).to_be_visible()
    settled(page)
    page.screenshot(path=shots / "3-team.png")

    page.get_by_role("button", name="Log out").click()
    log_in(page, EDITOR, "not the password")
    expect(page.get_by_text("wrong e-mail or password")).to_be_visible()
    expect(page.get_by_label("Password", exact=True)).to_have_value("")
    log_in(page, EDITOR, EDITOR_PASSWORD)
    expect(page.get_by_role("heading", name="Library")).to_be_visible()
    settled(page)
    expect(nav.get_by_role("link", name="Audit")).to_have_count(0)  # no Audit page for an editor

    nav.get_by_role("link", name="Keys").click()
    expect(page.get_by_role("heading", name="Keys")).to_be_visible()
    settled(page)
    expect(page.get_by_text("…3d5f").first).to_be_attached()  # the table draws on a canvas
    page.get_by_text("Add a key", exact=True).click()
    expect(page.get_by_text("Only admins and owners add keys shared with the team.")).to_be_visible()
    expect(page.get_by_role("radio", name="Personal (only you)")).to_have_count(1)
    expect(page.get_by_role("radio", name="Shared with the team")).to_have_count(0)  # not offered
    expect(page.get_by_text("Replace (rotate) or delete a key")).to_have_count(0)
    expect(page.get_by_role("button", name="Delete key")).to_have_count(0)
    expect(page.get_by_role("button", name="Replace key")).to_have_count(0)
    settled(page)
    steady(page.get_by_text("Session only", exact=True))  # the "Add a key" expander has finished opening
    page.screenshot(path=shots / "4-keys-editor.png")
    assert CANARY not in page.content()


def test_e2e_compare_runs_offline_echo_and_a_fake_provider_in_the_background(server, browser_page, tmp_path):
    from playwright.sync_api import expect

    from promptvault.testing.fake_provider import FakeConfig, FakeProvider

    page, shots = browser_page
    page.goto(server)
    set_up_admin(page)
    seed_prompt_and_dataset(tmp_path / "data")
    with FakeProvider(FakeConfig(latency=0.2)) as fake:
        page.get_by_test_id("stSidebarNav").get_by_role("link", name="Compare").click()
        expect(page.get_by_role("heading", name="Compare")).to_be_visible()
        settled(page)
        models = page.get_by_role("textbox", name="Models (one per line)")
        models.fill("offline/echo\nfake-model")
        models.press("Control+Enter")  # a text area sends its value on blur or Ctrl+Enter
        settled(page)
        base_url = page.get_by_role("textbox", name="OpenAI-compatible base URL (optional)")
        base_url.fill(fake.base_url)
        base_url.press("Enter")
        settled(page)
        page.get_by_role("button", name="Estimate").click()
        expect(page.get_by_text("Estimate: 4 calls")).to_be_visible(timeout=60_000)  # the first non-echo model imports litellm
        settled(page)
        page.screenshot(path=shots / "1-compare-estimate.png")
        page.get_by_role("button", name="Start run").click()
        matrix = page.locator(".pv-matrix")
        expect(matrix.locator("tfoot")).to_contain_text("2 calls", timeout=60_000)
        settled(page)
        expect(matrix).to_contain_text("[offline echo, not a real model] Hello Ada!")
        expect(matrix).to_contain_text("fake-model: Hello Ada!")
        expect(matrix).to_contain_text("<b>Bob</b>")  # model output shown as text, not markup
        expect(page).to_have_url(re.compile(r"[?&]run=1"))
        assert fake.calls("fake-model") == 2
    matrix.scroll_into_view_if_needed()
    page.screenshot(path=shots / "2-compare-matrix.png", full_page=True)


def test_e2e_compare_run_with_checks_shows_pass_rates_and_the_quality_chart(server, browser_page, tmp_path):
    from playwright.sync_api import expect

    from promptvault.testing.fake_provider import FakeConfig, FakeProvider

    page, shots = browser_page
    page.goto(server)
    set_up_admin(page)
    seed_prompt_and_dataset(tmp_path / "data")
    price_fake_model(tmp_path / "data")
    with FakeProvider(FakeConfig(latency=0.2)) as fake:
        page.get_by_test_id("stSidebarNav").get_by_role("link", name="Compare").click()
        expect(page.get_by_role("heading", name="Compare")).to_be_visible()
        settled(page)
        for label, value in [("Models (one per line)", "offline/echo\nfake-model"),
                             ("Checks (YAML, optional)", '- {contains: "Ada"}\n- {type: length, max: 200}')]:
            area = page.get_by_role("textbox", name=label)
            area.fill(value)
            area.press("Control+Enter")  # a text area sends its value on blur or Ctrl+Enter
            settled(page)
        base_url = page.get_by_role("textbox", name="OpenAI-compatible base URL (optional)")
        base_url.fill(fake.base_url)
        base_url.press("Enter")
        settled(page)
        page.get_by_role("button", name="Start run").click()
        expect(page.get_by_role("heading", name="Checks and pass rates")).to_be_visible(timeout=60_000)
        settled(page)
    expect(page.get_by_text('contains "Ada"').first).to_be_visible()
    expect(page.get_by_test_id("stDataFrame").first).to_be_visible()
    matrix = page.locator(".pv-matrix")
    expect(matrix).to_contain_text("✗ failed: contains \"Ada\"")
    expect(matrix.locator("tfoot")).to_contain_text("pass rate 50 % (9–91 %)")
    chart = page.locator(".js-plotly-plot").first
    expect(chart.locator("svg.main-svg").first).to_be_visible()
    expect(chart).to_contain_text("Pareto front")
    expect(chart).to_contain_text("fake-model")
    steady(chart)
    page.screenshot(path=shots / "3-compare-checks.png", full_page=True)


def price_fake_model(data_dir: Path) -> None:
    """As the admin, in the server's own workspace: a price for fake-model, so the chart has a cost axis."""
    from promptvault import runs
    from promptvault.config import Settings
    from promptvault.workspace import open_workspace

    ws = open_workspace(Settings(data_dir=data_dir, database_url=f"sqlite:///{data_dir / 'promptvault.db'}",
                                 master_key=None))
    try:
        runs.set_price(ws.context_for(ADMIN), "fake-model", 1e-6, 2e-6)
    finally:
        ws.db.dispose()


def test_e2e_analytics_charts_the_demo_run(server, browser_page, tmp_path):
    from playwright.sync_api import expect

    page, shots = browser_page
    page.goto(server)
    set_up_admin(page)
    fill_demo(tmp_path / "data")
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Analytics").click()
    expect(page.get_by_role("heading", name="Analytics")).to_be_visible()
    settled(page)
    expect(page.get_by_test_id("stMetric").first).to_be_visible()
    charts = page.locator(".js-plotly-plot")
    expect(charts.first.locator("svg.main-svg").first).to_be_visible()  # drawn by the plotly.js Streamlit ships
    expect(charts.first).to_contain_text("offline/echo")
    steady(charts.first)
    page.screenshot(path=shots / "1-analytics.png", full_page=True)
    page.get_by_role("tab", name="Latency").click()
    expect(page.locator(".js-plotly-plot:visible").first).to_be_visible()
    page.get_by_text("Percentile numbers").click()
    expect(page.get_by_role("button", name="Download CSV").first).to_be_visible()
    steady(page.locator(".js-plotly-plot:visible").first)
    page.screenshot(path=shots / "2-analytics-latency.png", full_page=True)


def fill_demo(data_dir: Path) -> None:
    """As the admin, in the server's own workspace: the demo's prompts, dataset and finished offline run."""
    from promptvault import demo
    from promptvault.config import Settings
    from promptvault.workspace import open_workspace

    ws = open_workspace(Settings(data_dir=data_dir, database_url=f"sqlite:///{data_dir / 'promptvault.db'}",
                                 master_key=None))
    try:  # in a thread of its own: the run's event loop cannot start inside Playwright's
        filling = threading.Thread(target=demo.fill, args=(ws.context_for(ADMIN), data_dir))
        filling.start()
        filling.join(timeout=START_TIMEOUT)
    finally:
        ws.db.dispose()


def seed_prompt_and_dataset(data_dir: Path) -> None:
    """As the admin, in the server's own workspace: prompt 'greet' v1 and dataset 'people' with two cases."""
    from promptvault import datasets, library, versioning
    from promptvault.config import Settings
    from promptvault.workspace import open_workspace

    ws = open_workspace(Settings(data_dir=data_dir, database_url=f"sqlite:///{data_dir / 'promptvault.db'}",
                                 master_key=None))
    try:
        ctx = ws.context_for(ADMIN)
        library.create_prompt(ctx, "greet", description="Says hello")
        versioning.commit(ctx, "greet", "Hello {{ who }}!", None, "first")
        datasets.create_dataset(ctx, "people")
        datasets.add_case(ctx, "people", {"who": "Ada"})
        datasets.add_case(ctx, "people", {"who": "<b>Bob</b>"})
    finally:
        ws.db.dispose()


def set_up_admin(page) -> None:
    """Create the first admin on the first-run page and wait for the app to open."""
    from playwright.sync_api import expect

    page.get_by_label("E-mail", exact=True).fill(ADMIN)
    page.get_by_label("Display name", exact=True).fill("Ada Admin")
    page.get_by_label("Password", exact=True).fill(ADMIN_PASSWORD)
    page.get_by_label("Password again", exact=True).fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Create admin account").click()
    expect(page.get_by_role("heading", name="Library")).to_be_visible()
    settled(page)


def log_in(page, email: str, password: str) -> None:
    """Fill and submit the login form."""
    from playwright.sync_api import expect

    expect(page.get_by_role("heading", name="Log in to PromptVault")).to_be_visible()
    settled(page)
    page.get_by_label("E-mail", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in").click()
    settled(page)


def steady(locator) -> None:
    """Wait until an element stops moving (an opening expander pushes it down for a moment)."""
    box = None
    for _ in range(50):
        now = locator.bounding_box()
        if now is not None and now == box:
            return
        box = now
        locator.page.wait_for_timeout(100)


def settled(page) -> None:
    """Wait until the script run finished and no element from an earlier run is left on the page."""
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", state="attached")
    page.wait_for_function("() => !document.querySelector(\"[data-stale='true']\")")


def commit(page, text: str, message: str, preview_text: str) -> None:
    """Replace the draft text, wait for the live preview to show it, then commit with a message."""
    from playwright.sync_api import expect

    editor = page.get_by_label("Prompt text")
    editor.fill(text)
    editor.press("Control+Enter")  # a text area sends its value on blur or Ctrl+Enter
    expect(page.get_by_text(preview_text).last).to_be_visible()
    settled(page)
    page.get_by_label("Commit message").fill(message)
    page.get_by_role("button", name="Commit to main").click()


def _loopback_only(route, outside: list[str]) -> None:
    """Let requests to 127.0.0.1 through; record and refuse everything else."""
    host = urlparse(route.request.url).hostname
    if host in ("127.0.0.1", "localhost") or route.request.url.startswith(("data:", "blob:")):
        route.continue_()
    else:
        outside.append(route.request.url)
        route.abort()
