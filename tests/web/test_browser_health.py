"""The health check on the phone page (390×844, touch): a stack with a fault from
``[sim] faults`` gets a badge on the Run screen and in the gallery; the health sheet
lists the finding, opens it (its frames, the region marked) and shows the per-frame
chart.  Waits are on the page's state, never sleeps."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect
from rig_support import DaemonProcess, config_file, free_port

# The same phone-sized Chromium fixtures as the other page tests, on this daemon.
from test_browser import IMG_LOADED_JS, TOKEN, browser, logged_in, page, shot, tab  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PLAN = {"start_mm": 9.8, "end_mm": 12.2, "count": 15, "settle_s": 0, "name": "gap"}


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    root = tmp_path_factory.mktemp("health-browser")
    config = config_file(root)
    text = config.read_text()
    assert "[sim]\n" in text
    config.write_text(
        text.replace("[sim]\n", '[sim]\nfaults = ["step@6"]\n').replace(
            "resolution = [320, 240]", "resolution = [640, 480]"
        )
    )
    d = DaemonProcess(config, root / "data", free_port(), env={"MACRORIG_TOKEN": TOKEN})
    with d:
        yield d


def wait_done(daemon: DaemonProcess, job_id: str, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = daemon.http.get(f"/api/jobs/{job_id}").json()
        if job["final"]:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")


def test_health_badge_panel_finding_and_chart(page: Page, daemon: DaemonProcess) -> None:  # noqa: F811
    daemon.http.headers["Authorization"] = f"Bearer {TOKEN}"
    logged_in(page)
    tab(page, "run")
    job = daemon.http.post("/api/jobs", json={"plan": PLAN}).json()
    done = wait_done(daemon, job["id"])
    assert done["state"] == "done" and done["health"]["status"] != "ok", done

    # the Run screen: the verdict beside the state, and a Health button
    expect(page.locator("#run-state")).to_have_text("done")
    badge = page.locator("#run-health-badge .health-badge")
    expect(badge).to_be_visible()
    expect(badge).to_have_class("health-badge health-" + done["health"]["status"])
    expect(page.locator("#run-health")).to_be_visible()
    shot(page, "health-01-run")

    # the gallery: a badge on the card, and the sheet behind its Health button
    tab(page, "gallery")
    card = page.locator(f'#gallery-list [data-job="{job["id"]}"]')
    expect(card.locator(".health-badge")).to_be_visible()
    shot(page, "health-02-gallery")
    card.locator("button.health-open").click()
    sheet = page.locator("#health")
    expect(sheet).to_be_visible()
    finding = sheet.locator("#health-findings .finding").first
    expect(finding).to_contain_text("focus gap")
    expect(sheet.locator("#health-chart svg polyline")).to_have_count(3)
    expect(sheet.locator("#health-chart svg")).to_be_visible()
    shot(page, "health-03-sheet")

    finding.click()
    detail = sheet.locator("#health-detail")
    expect(detail).to_be_visible()
    expect(detail).to_contain_text("What to change")
    expect(detail.locator("figure")).to_have_count(2)
    page.wait_for_function(IMG_LOADED_JS, arg="#health-detail figure img")
    region = detail.locator(".region").first
    expect(region).to_be_visible()
    box = region.bounding_box()
    assert box is not None and box["width"] > 5 and box["height"] > 5
    shot(page, "health-04-finding")

    page.click("#health-close")
    expect(sheet).to_be_hidden()
