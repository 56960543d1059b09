"""The page in a real browser: Debian's chromium driven by Playwright (``executable_path``; no download).

Screenshots go to ``runs/screenshots/`` for people to look at.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server.conftest import TOKEN, Server

pytestmark = [pytest.mark.slow, pytest.mark.integration]

SHOTS = Path("runs/screenshots")
XSS_NAME = "<img src=x onerror=alert(1)>.md"
XSS_TEXT = "# Ferry notes\nThe <script>window.__pwned = 1</script> tide table says 06:40.\n"


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Debian's chromium is missing: .ci/run installs it (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return path


@pytest.fixture(scope="module")
def page(lance_server: Server) -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        pg = browser.new_page(viewport={"width": 1280, "height": 900})
        pg.dialogs = []  # type: ignore[attr-defined]

        def on_dialog(d: Any) -> None:  # the page's own "remove?" confirmation is accepted; alerts are recorded
            pg.dialogs.append((d.type, d.message))  # type: ignore[attr-defined]
            d.accept() if d.type == "confirm" else d.dismiss()

        pg.on("dialog", on_dialog)
        pg.goto(lance_server.url + "/")
        # The server has a token: the page asks for it after the first refused call.
        pg.fill("#q", "a photo with a person but no cat")
        pg.press("#q", "Enter")
        pg.wait_for_selector("#token-form:not([hidden])")
        pg.fill("#token", TOKEN)
        pg.press("#token", "Enter")
        yield pg
        browser.close()


def test_negative_query_shows_a_verified_result_and_an_excluded_one(page: Any) -> None:
    page.fill("#k", "3")  # the store is small: with room for every item, nothing would need excluding
    page.fill("#q", "a photo with a person but no cat")
    page.press("#q", "Enter")
    page.wait_for_selector("#results .card")
    first = page.locator("#results .card").first
    assert first.get_attribute("data-state") == "verified"
    assert "astronaut.png" in first.inner_text()
    assert first.locator("img").evaluate("img => img.complete && img.naturalWidth > 0")
    excluded = page.locator("#excluded .card", has_text="chelsea.png")
    assert excluded.count() == 1 and excluded.get_attribute("data-state") == "conflict"
    assert "has *cat*" in excluded.inner_text()
    assert page.locator("#parsed .chip.neg").inner_text() == "cat"
    page.screenshot(path=str(SHOTS / "search.png"), full_page=True)


def test_upload_is_ingested_and_hostile_names_stay_text(page: Any, tmp_path: Path) -> None:
    hostile = tmp_path / XSS_NAME
    hostile.write_text(XSS_TEXT)
    page.click("#tab-ingest")
    page.set_input_files("#files", str(hostile))
    page.wait_for_selector("#ingest-report tbody tr[data-status='added']", timeout=120_000)
    row = page.locator("#ingest-report tbody tr").first
    assert XSS_NAME in row.inner_text()
    page.screenshot(path=str(SHOTS / "ingest.png"), full_page=True)

    page.click("#tab-search")
    page.fill("#k", "10")
    page.fill("#q", "ferry tide table")
    page.press("#q", "Enter")
    card = page.locator("#results .card", has_text=XSS_NAME)
    card.wait_for()  # the new results replace the previous test's
    assert card.first.locator(".src").inner_text() == XSS_NAME
    page.click("#tab-sources")
    page.wait_for_selector("#sources tbody tr")
    assert page.locator("#sources tbody tr", has_text=XSS_NAME).count() == 1
    # Nothing ran: no alert, no script side effect, no element made from the name.
    assert [d for d in page.dialogs if d[0] != "confirm"] == []
    assert page.evaluate("() => window.__pwned") is None
    assert page.locator("main img[src='x']").count() == 0 and page.locator("main script").count() == 0
    # Remove it from the sources list: the row goes, and the server forgot it.
    page.locator("#sources tbody tr", has_text=XSS_NAME).get_by_role("button", name="Remove").click()
    page.locator("#sources tbody tr", has_text=XSS_NAME).wait_for(state="detached")
    assert any(d[0] == "confirm" for d in page.dialogs)


def test_ask_draws_the_graph_and_the_citation_opens_the_evidence(page: Any) -> None:
    page.click("#tab-ask")
    page.fill("#question", "What is the astronaut holding?")
    page.select_option("#method", "vimrag")
    page.press("#question", "Enter")
    page.wait_for_selector("#answer .cite", timeout=240_000)
    assert page.locator("#graph g.node").count() >= 2  # the root and at least the question's node
    assert page.locator("#nodes .node-card").count() >= 1
    page.screenshot(path=str(SHOTS / "ask.png"), full_page=True)
    page.locator("#answer .cite").first.click()
    page.wait_for_selector("#viewer[open]")
    assert page.locator("#viewer-where").inner_text().strip()
    page.screenshot(path=str(SHOTS / "citation.png"))
    page.keyboard.press("Escape")
    assert page.locator("#viewer[open]").count() == 0


def test_a_workspace_typed_on_the_page_keeps_its_files_apart(page: Any, tmp_path: Path) -> None:
    note = tmp_path / "lighthouse.md"
    note.write_text("# Lighthouse log\nThe keeper of the Skerry lighthouse is Morag Lindqvist.\n")
    page.fill("#workspace", "notes")
    page.click("#tab-ingest")
    page.set_input_files("#files", str(note))
    page.wait_for_selector("#ingest-report tbody tr[data-status='added']", timeout=120_000)
    page.click("#tab-search")
    page.fill("#q", "who keeps the lighthouse")
    page.press("#q", "Enter")
    page.locator("#results .card", has_text="lighthouse.md").first.wait_for()
    assert page.locator("#results .card").count() == 1  # only the workspace's one file
    page.fill("#workspace", "")  # back to the server's default workspace: the note is not there
    page.dispatch_event("#workspace", "change")
    page.press("#q", "Enter")
    page.wait_for_selector("#results .card")
    assert page.locator("#results .card", has_text="lighthouse.md").count() == 0
    assert page.locator("#workspace-list option[value='notes']").count() == 1


def test_api_docs_render_without_internet(page: Any, lance_server: Server) -> None:
    page.goto(lance_server.url + "/docs")
    page.wait_for_selector(".opblock", timeout=30_000)  # Swagger UI rendered from the bundled assets
    text = page.locator("body").inner_text()
    assert "/search" in text and "/ask/stream" in text
    page.goto(lance_server.url + "/")
