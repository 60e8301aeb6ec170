"""A new user's first visit, in Debian's Chromium at a phone's size (390×844), against
``macrorig serve --sim`` with the simulated camera at its default size: log in, see the
subject in the preview before the LED is on, home, go to the subject, peaking, the 1:1
zoom in and out of focus, a plan, the run, the gallery, the viewer at 100 % and the
depth map — with not one console error or failed request over the whole visit.

Screenshots go to ``test-artifacts/first-run/`` (the README's two peaking pictures,
``docs/first-run/peaking-*.png``, are copies of ``peaking-in-focus.png`` and
``peaking-defocused.png``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pytest
from browser_support import chromium
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Request,
    Response,
    expect,
)
from rig_support import FAST_RIG, DaemonProcess, free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TOKEN = "first-run-token"
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "first-run"
# The quick rail of the other tests, the simulated camera at its default size (what
# `scripts/run.sh` shows a new user).
CONFIG = FAST_RIG.replace(
    "resolution = [320, 240]\npreview_size = [160, 120]",
    "resolution = [1014, 760]\npreview_size = [320, 240]",
)

IMG_LOADED_JS = """s => {
    const i = document.querySelector(s);
    return i && i.complete && i.naturalWidth > 0;
}"""

expect.set_options(timeout=20_000)


@dataclass
class Visit:
    """Everything that went wrong over the visit, as it happens."""

    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.page_errors.append(str(exc)))
        page.on("requestfailed", self._failed)
        page.on("response", self._response)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(f"{message.text} ({message.location.get('url')})")

    def _failed(self, request: Request) -> None:
        # The page drops a preview stream itself (a new src when it reopens it, none when it
        # leaves the Rig tab): Chromium calls that ERR_ABORTED.  A stream the rig broke
        # fails otherwise (reset, empty response, an HTTP error).
        dropped = (
            "/api/camera/preview.mjpg" in request.url and request.failure == "net::ERR_ABORTED"
        )
        if not dropped:
            self.failed_requests.append(f"{request.method} {request.url}: {request.failure}")

    def _response(self, response: Response) -> None:
        if response.status >= 400:
            self.failed_requests.append(
                f"{response.request.method} {response.url}: HTTP {response.status}"
            )

    def assert_clean(self) -> None:
        assert not self.page_errors, self.page_errors
        assert not self.failed_requests, self.failed_requests
        assert not self.console_errors, self.console_errors


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    root = tmp_path_factory.mktemp("first-run")
    config = root / "rig.toml"
    config.write_text(CONFIG.format(data=root / "data"))
    d = DaemonProcess(config, root / "data", free_port(), env={"MACRORIG_TOKEN": TOKEN})
    with d:
        yield d


@pytest.fixture(scope="module")
def browser(daemon: DaemonProcess) -> Iterator[Browser]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    with chromium() as b:
        yield b


def shot(page: Page, name: str) -> None:
    page.evaluate("document.querySelector('#toasts').replaceChildren()")
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def loaded(page: Page, selector: str) -> None:
    page.wait_for_function(IMG_LOADED_JS, arg=selector)


def brightness(page: Page, selector: str) -> float:
    """Mean grey level of an element as the screen shows it."""
    png = page.locator(selector).screenshot()
    grey = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    return float(grey.mean())


def tab(page: Page, name: str) -> None:
    page.click(f'.tabs a[data-tab="{name}"]')
    expect(page.locator(f'[data-screen="{name}"]')).to_be_visible()


def next_zoom(page: Page) -> None:
    """Wait for a crop taken from now on (the zoom refreshes itself every ~1.5 s)."""
    for _ in range(2):  # the one on its way may have been asked for before
        src = page.locator("#zoom-img").get_attribute("src")
        page.wait_for_function("s => document.querySelector('#zoom-img').src !== s", arg=src)
    loaded(page, "#zoom-img")


def test_first_visit_from_login_to_the_depth_map(browser: Browser, daemon: DaemonProcess):
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        base_url=daemon.url,
    )
    page = context.new_page()
    visit = Visit()
    visit.watch(page)
    try:
        walk(page)
        visit.assert_clean()
    finally:
        context.close()


def walk(page: Page) -> None:
    # Login: the first page a new user sees, without a 401 in the console.
    page.goto("/")
    expect(page.locator("#login")).to_be_visible()
    shot(page, "01-login")
    page.fill("#login-secret", TOKEN)
    page.click("#login-submit")
    expect(page.locator("#app")).to_be_visible()

    # The preview shows the subject in the room's light: dim and blurred, not black.
    loaded(page, "#preview-img")
    expect(page.locator("#rail-state")).to_have_text("position unknown — press Home")
    expect(page.locator("#rail-subject")).to_be_disabled()
    expect(page.locator("#rail-subject-hint")).to_have_text(re.compile("Home the rail first"))
    assert brightness(page, "#preview-img") > 15
    shot(page, "02-preview-room-light")

    # Home, then go to the subject.
    page.click("#rail-home")
    expect(page.locator("#rail-state")).to_have_text(re.compile("homed"))
    expect(page.locator("#rail-subject")).to_be_enabled()
    expect(page.locator("#rail-subject-val")).to_have_text("11.000 mm")
    page.click("#rail-subject")
    expect(page.locator("#rail-pos")).to_have_text("11.000 mm")
    expect(page.locator("#rail-state")).to_have_text(re.compile("homed"))
    shot(page, "03-at-the-subject")

    # Light on, peaking on: the stream restarts with peaking.
    page.click("#light-chip")
    expect(page.locator("#light-chip")).to_have_attribute("aria-pressed", "true")
    page.click("#peaking")
    expect(page.locator("#preview-img")).to_have_attribute("src", re.compile("peaking=true"))
    loaded(page, "#preview-img")
    shot(page, "04-preview-peaking-in-focus")

    # The 1:1 zoom in focus, then 3 mm nearer (three quick taps on −1: they queue).
    page.locator("#preview-img").tap(position={"x": 150, "y": 90})
    expect(page.locator("#preview-zoom")).to_be_visible()
    loaded(page, "#zoom-img")
    next_zoom(page)
    page.locator("#preview-zoom").scroll_into_view_if_needed()
    shot(page, "05-zoom-peaking-in-focus")
    page.locator(".preview").screenshot(path=str(SHOTS / "peaking-in-focus.png"))
    for _ in range(3):
        page.click('[data-jog="-1"]')
    expect(page.locator("#rail-pos")).to_have_text("8.000 mm")
    expect(page.locator("#rail-state")).to_have_text(re.compile("homed"))
    next_zoom(page)
    page.locator("#preview-zoom").scroll_into_view_if_needed()
    shot(page, "06-zoom-peaking-defocused")
    page.locator(".preview").screenshot(path=str(SHOTS / "peaking-defocused.png"))
    page.click("#zoom-back")
    expect(page.locator("#preview-full")).to_be_visible()
    page.click("#rail-subject")
    expect(page.locator("#rail-pos")).to_have_text("11.000 mm")

    # A plan over the subject, the run, the result.
    tab(page, "plan")
    page.fill("#plan-start", "10")
    page.fill("#plan-end", "12")
    page.check("#spacing-count")
    page.fill("#plan-count", "8")
    page.fill("#plan-settle", "0")
    expect(page.locator("#plan-frames")).to_have_text("8 frames")
    page.fill("#plan-name", "first")
    expect(page.locator("#plan-estimate")).to_contain_text("about")
    shot(page, "07-plan")
    page.click("#plan-start-btn")
    expect(page.locator('[data-screen="run"]')).to_be_visible()
    expect(page.locator("#run-state")).to_have_text("done", timeout=60_000)
    loaded(page, "#run-fused")
    job_id = page.locator("#run-id").inner_text()
    shot(page, "08-run-done")

    # The gallery, the viewer at 100 %, the depth map.
    tab(page, "gallery")
    card = page.locator(f'[data-job="{job_id}"]')
    expect(card.locator(".badge")).to_have_text("done")
    loaded(page, f'[data-job="{job_id}"] img.thumb')
    shot(page, "09-gallery")
    card.get_by_role("button", name="View").click()
    expect(page.locator("#viewer")).to_be_visible()
    loaded(page, "#viewer-img")
    page.click("#viewer-100")
    expect(page.locator("#viewer-zoom")).to_have_text("100 %")
    shot(page, "10-viewer-100")
    page.click("#viewer-depth")
    expect(page.locator("#viewer-title")).to_contain_text("Depth map")
    loaded(page, "#viewer-img")
    shot(page, "11-depth-map")
    page.click("#viewer-close")
    expect(page.locator("#viewer")).to_be_hidden()
