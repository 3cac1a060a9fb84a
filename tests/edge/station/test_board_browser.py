"""The ward board in a real headless Chromium (Debian's ``chromium``, driven by Playwright).

A live agent publishes a stay; the tile turns red; a click opens the bed, a click on
*Acknowledge* sends the command; the agent's reply shows and the alert's state on
the page changes. Screenshots go to the test's directory (and to
``$CAPLEAK_SCREENSHOTS`` when set). ``scripts/setup-env`` installs chromium;
Playwright uses it as it is (``executable_path``) and never downloads a browser.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.edge.station.board_support import LiveAgent, board
from tests.support import Mosquitto

playwright = pytest.importorskip("playwright.sync_api", reason="the test extra has playwright")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: The network is closed here: no background fetches, no QUIC, no updates, no sandbox (root).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def page(tmp_path: Path):
    if not os.path.exists(CHROMIUM):
        pytest.fail("chromium is not installed: scripts/setup-env installs it")
    with playwright.sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),  # a fresh --user-data-dir
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1200, "height": 800},
        )
        errors: list[str] = []
        pg = ctx.new_page()
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.set_default_timeout(20_000)
        try:
            yield pg
        finally:
            ctx.close()
        assert errors == [], errors  # no script error on the page


def shot(page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 5000  # a rendered page, not an empty image
    if os.environ.get("CAPLEAK_SCREENSHOTS"):
        out = Path(os.environ["CAPLEAK_SCREENSHOTS"])
        out.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, out / name)
    return path


def test_a_red_tile_acknowledged_from_the_page(mosquitto: Mosquitto, tmp_path, page) -> None:
    agent = LiveAgent(mosquitto.url, tmp_path / "agent")
    try:
        with board("--broker", mosquitto.url, "--listen", "127.0.0.1:0") as b:
            page.goto(b.url + "/")
            page.wait_for_selector("#conn[data-conn=open]")
            agent.publish_stay()
            tile = page.locator('.tile[data-bed="s1/u1/b1"]')
            tile.and_(page.locator('[data-level="high"][data-state="alarm"]')).wait_for()
            # IEC 60601-1-8 red for high priority
            assert tile.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(211, 47, 47)"
            assert tile.locator(".v-sbp").text_content() == "78/58"
            assert "hold advised" in tile.locator(".dose").text_content()
            assert tile.locator("svg polyline.spark-sbp").count() == 1
            shot(page, tmp_path, "board-ward.png")

            tile.click()
            row = page.locator('.alertrow[data-priority="high"]')
            row.wait_for()
            assert "hypotension" in row.text_content()
            page.locator('.plot svg[data-signal="sbp"] line.limit').wait_for(state="attached")
            assert page.locator(".plot svg").count() >= 5  # sbp, map, dbp, spo2, pulse, weight
            row.locator("button.ack").click()
            page.locator('#reply[data-ok="true"]').wait_for()
            assert "ack accepted" in page.locator("#reply").text_content()
            # the agent's alert event reached the board and the page: acknowledged
            page.locator('.alertrow[data-priority="high"] .st', has_text="acknowledged").wait_for()
            shot(page, tmp_path, "board-bed.png")

            # acknowledge the rest: the tile stays coloured but shows "acknowledged"
            for button in page.locator(".alertrow button.ack").all():
                button.click()
                page.wait_for_timeout(200)
            page.locator("#back").click()
            tile.and_(page.locator('[data-state="acknowledged"]')).wait_for()
            assert tile.locator(".state").text_content() == "ACKNOWLEDGED"
            shot(page, tmp_path, "board-acknowledged.png")
    finally:
        agent.close()
