"""The phone page in a real browser: Debian's Chromium driven by Playwright, at a phone's
size (390×844, touch), against ``macrorig serve --sim`` in a subprocess.

Log in, jog, home, mark the ends, plan, stack, watch the progress and the fused image
grow, view the result (double-tap and pinch zoom) and the depth map, the gallery; a
wrong token, a busy rig (409), presets and schedules, a lost connection.  Every wait is
on the page's state (Playwright's expectations), never a sleep.  A screenshot of each
screen goes to ``test-artifacts/screens/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from browser_support import chromium
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Route,
    ViewportSize,
    expect,
)
from rig_support import DaemonProcess, config_file, free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TOKEN = "browser-test-token"
SCREENS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screens"
PHONE: ViewportSize = {"width": 390, "height": 844}

# Elements reaching past the right edge of the screen (the zoomed picture is clipped).
TOO_WIDE_JS = """() => [...document.querySelectorAll('body *')]
    .filter(e => !e.closest('.viewer-stage') && e.getClientRects().length)
    .filter(e => e.getBoundingClientRect().right > innerWidth + 0.5)
    .map(e => e.id || e.className || e.tagName).slice(0, 5)"""

# Touch targets smaller than 44×44 CSS px (a checkbox or radio counts by its label).
SMALL_TARGETS_JS = """() => [...document.querySelectorAll(
        'button, a, select, input, summary, [role=button]')]
    .filter(e => e.getClientRects().length && getComputedStyle(e).visibility !== 'hidden')
    .map(e => ['checkbox', 'radio'].includes(e.type) ? e.closest('label') : e)
    .filter(e => { const r = e.getBoundingClientRect(); return r.width < 44 || r.height < 44; })
    .map(e => `${e.id || e.textContent.trim().slice(0, 20) || e.tagName}`
        + ` ${Math.round(e.getBoundingClientRect().width)}×`
        + `${Math.round(e.getBoundingClientRect().height)}`)"""

IMG_LOADED_JS = """s => {
    const i = document.querySelector(s);
    return i && i.complete && i.naturalWidth > 0;
}"""

# Records every "Frame n of N" text and every fused-image URL the Run screen shows.
WATCH_RUN_JS = """() => {
    window.seenFrames = new Set();
    window.seenFused = new Set();
    const frames = document.querySelector('#run-frames');
    const fused = document.querySelector('#run-fused');
    new MutationObserver(() => seenFrames.add(frames.textContent))
        .observe(frames, {childList: true, characterData: true, subtree: true});
    new MutationObserver(() => seenFused.add(fused.getAttribute('src')))
        .observe(fused, {attributes: true, attributeFilter: ['src']});
}"""

expect.set_options(timeout=15_000)


class Daemon(DaemonProcess):
    """``macrorig serve --sim`` on a free port with a known token and a fast rig."""

    def __init__(self, root: Path) -> None:
        super().__init__(
            config_file(root), root / "data", free_port(), env={"MACRORIG_TOKEN": TOKEN}
        )

    def crash(self) -> None:
        self.kill()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    d = Daemon(tmp_path_factory.mktemp("browser"))
    with d:
        yield d


@pytest.fixture(scope="module")
def browser(daemon: Daemon) -> Iterator[Browser]:
    # Depends on the daemon so the browser (and its open streams) goes first at the end.
    SCREENS.mkdir(parents=True, exist_ok=True)
    with chromium() as b:
        yield b


def phone(browser: Browser, url: str) -> BrowserContext:
    return browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, base_url=url)


@pytest.fixture
def page(browser: Browser, daemon: Daemon) -> Iterator[Page]:
    context = phone(browser, daemon.url)
    pg = context.new_page()
    errors = script_errors(pg)
    yield pg
    # The page polls /api/status; a test's route handler may be half-way through a
    # fetch when the test ends.  Let it finish before the context goes, or it fails
    # with "Request context disposed" (a flaky teardown error seen in CI).
    pg.unroute_all(behavior="wait")
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def script_errors(page: Page) -> list[str]:
    """Uncaught exceptions in the page's scripts, collected as they happen."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


def shot(page: Page, name: str, full_page: bool = False, toasts: bool = False) -> None:
    """Save a screenshot, after checking nothing is wider than the phone (a phone
    browser would zoom the whole page out to show it).  Passing messages are tapped
    away first unless they are the point."""
    if not toasts:
        page.evaluate("document.querySelector('#toasts').replaceChildren()")
    too_wide = page.evaluate(TOO_WIDE_JS)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], too_wide
    assert not too_wide, f"{name}: wider than the screen: {too_wide}"
    small = page.evaluate(SMALL_TARGETS_JS)
    assert not small, f"{name}: touch targets under 44 px: {small}"
    page.screenshot(path=str(SCREENS / f"{name}.png"), full_page=full_page)


def log_in(page: Page, secret: str = TOKEN) -> None:
    page.goto("/")
    expect(page.locator("#login")).to_be_visible()
    page.fill("#login-secret", secret)
    page.click("#login-submit")


def logged_in(page: Page) -> None:
    log_in(page)
    expect(page.locator("#app")).to_be_visible()
    expect(page.locator("#login")).to_be_hidden()


def tab(page: Page, name: str) -> None:
    page.click(f'.tabs a[data-tab="{name}"]')
    expect(page.locator(f'[data-screen="{name}"]')).to_be_visible()


def loaded(page: Page, selector: str) -> None:
    """Wait until an <img> shows a decoded picture."""
    page.wait_for_function(IMG_LOADED_JS, arg=selector)


def jog(page: Page, mm: str, expected: str) -> None:
    page.click(f'[data-jog="{mm}"]')
    expect(page.locator("#rail-pos")).to_have_text(expected)


def fill_plan(page: Page, count: int, settle: float) -> None:
    tab(page, "plan")
    page.check("#spacing-count")
    page.fill("#plan-count", str(count))
    page.fill("#plan-settle", str(settle))
    try:
        expect(page.locator("#plan-frames")).to_have_text(f"{count} frames")
    except AssertionError as exc:  # say what the page said was wrong
        problems = page.locator("#plan-problems").inner_text()
        raise AssertionError(f"plan check: {problems!r}; form: {plan_form(page)}") from exc


def plan_form(page: Page) -> str:
    return page.evaluate(
        "() => [...document.querySelectorAll('#plan-form input')].map(i => `${i.id || i.name}="
        "${i.type === 'radio' || i.type === 'checkbox' ? i.checked : i.value}`).join(' ')"
    )


def test_wrong_token_shows_the_error(page: Page) -> None:
    page.goto("/")
    expect(page.locator("#login")).to_be_visible()
    shot(page, "01-login")
    page.fill("#login-secret", "not-the-token")
    page.click("#login-submit")
    expect(page.locator("#login-error")).to_have_text("wrong token or password")
    expect(page.locator("#app")).to_be_hidden()
    shot(page, "01-login-wrong-token")


def test_stack_from_the_phone(page: Page) -> None:
    logged_in(page)
    expect(page.locator("#top-sim")).to_be_visible()
    loaded(page, "#preview-img")

    # Light on for framing (the room alone shows the simulated subject dim); lock exposure.
    page.click("#light-chip")
    expect(page.locator("#light-toggle")).to_have_text("Light on")
    expect(page.locator("#light-chip")).to_have_attribute("aria-pressed", "true")
    page.click('[data-exposure="lock"]')
    expect(page.locator('[data-exposure="lock"]')).to_have_attribute("aria-pressed", "true")
    page.click('[data-exposure="auto"]')
    expect(page.locator('[data-exposure="auto"]')).to_have_attribute("aria-pressed", "true")

    # Jog moves the rail (from wherever the simulated carriage is), Home makes it known.
    position = page.locator("#rail-pos")
    before = position.inner_text()
    page.click('[data-jog="1"]')
    expect(position).not_to_have_text(before)
    expect(page.locator("#rail-state")).not_to_have_text("moving…")
    page.click("#rail-home")
    expect(page.locator("#rail-state")).to_have_text(re.compile("homed"))

    # The subject is in focus between 10 and 12 mm: go to 10, mark, jog to 12, mark.
    page.fill("#goto-mm", "10")
    page.click("#goto-go")
    expect(position).to_have_text("10.000 mm")
    page.click("#mark-start")
    expect(page.locator("#mark-start-val")).to_have_text("10.000 mm")
    jog(page, "1", "11.000 mm")
    jog(page, "0.1", "11.100 mm")
    jog(page, "-0.1", "11.000 mm")
    jog(page, "1", "12.000 mm")
    page.click("#mark-end")
    expect(page.locator("#mark-end-val")).to_have_text("12.000 mm")
    expect(page.locator("#top-pos")).to_have_text("12.00 mm")
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "02-rig-preview-jog")

    # Focus peaking restarts the stream with ?peaking=true.
    page.click("#peaking")
    expect(page.locator("#peaking")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#preview-img")).to_have_attribute("src", re.compile("peaking=true"))
    loaded(page, "#preview-img")

    # Tap-to-zoom: a 1:1 crop of a full frame around the tapped point, then back.
    page.locator("#preview-img").tap(position={"x": 120, "y": 90})
    expect(page.locator("#preview-zoom")).to_be_visible()
    loaded(page, "#zoom-img")
    expect(page.locator("#zoom-msg")).to_contain_text("1:1 crop")
    shot(page, "03-rig-zoom")
    # It refreshes by itself (a new crop every ~1.5 s) and re-centres where tapped.
    first = page.locator("#zoom-img").get_attribute("src")
    page.wait_for_function("s => document.querySelector('#zoom-img').src !== s", arg=first)
    where = page.locator("#zoom-msg").inner_text()
    page.locator("#zoom-img").tap(position={"x": 300, "y": 200})
    expect(page.locator("#zoom-msg")).not_to_have_text(where)
    page.click("#zoom-back")
    expect(page.locator("#preview-full")).to_be_visible()
    page.click("#peaking")
    expect(page.locator("#preview-img")).to_have_attribute("src", re.compile("peaking=false"))

    # The plan is prefilled from the marks; its frame count is checked live.
    tab(page, "plan")
    expect(page.locator("#plan-start")).to_have_value("10")
    expect(page.locator("#plan-end")).to_have_value("12")
    page.fill("#plan-end", "60")
    expect(page.locator("#plan-problems")).to_contain_text("outside the rail's soft limits")
    page.fill("#plan-end", "12")
    page.locator(".dof summary").click()
    page.click("#dof-calc")
    expect(page.locator("#dof-result")).to_contain_text("Depth of field")
    page.click("#dof-use")
    expect(page.locator("#spacing-step")).to_be_checked()
    expect(page.locator("#plan-frames")).to_have_text(re.compile(r"^\d+ frames$"))
    fill_plan(page, count=8, settle=0)
    page.fill("#plan-name", "beetle")
    expect(page.locator("#plan-estimate")).to_contain_text("about")
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "04-plan")
    shot(page, "04-plan-full", full_page=True)

    # Record what the Run screen shows as the events arrive: it must count up.
    page.evaluate(WATCH_RUN_JS)
    page.click("#plan-start-btn")
    expect(page.locator('[data-screen="run"]')).to_be_visible()
    expect(page.locator("#run-state")).to_have_text("done", timeout=30_000)
    expect(page.locator("#run-frames")).to_have_text("Frame 8 of 8")
    expect(page.locator("#run-bar")).to_have_class(re.compile("state-done"))
    loaded(page, "#run-fused")
    seen_frames = page.evaluate("[...seenFrames]")
    assert any(re.fullmatch(r"Frame [1-7] of 8", t) for t in seen_frames), seen_frames
    assert len(page.evaluate("[...seenFused]")) >= 2  # the fused image was refreshed live
    job_id = page.locator("#run-id").inner_text()
    shot(page, "05-progress-done")

    # The result in the viewer: fit, double-tap to zoom in, back to fit, pinch to zoom.
    page.click("#run-open")
    viewer = page.locator("#viewer")
    expect(viewer).to_be_visible()
    loaded(page, "#viewer-img")
    zoom = page.locator("#viewer-zoom")
    expect(zoom).to_have_text(re.compile(r"^fit"))
    shot(page, "06-viewer-fit")
    box = page.locator("#viewer-stage").bounding_box()
    assert box is not None
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.touchscreen.tap(cx, cy)
    page.touchscreen.tap(cx, cy)
    expect(zoom).not_to_have_text(re.compile(r"^fit"))
    page.touchscreen.tap(cx, cy)
    page.touchscreen.tap(cx, cy)
    expect(zoom).to_have_text(re.compile(r"^fit"))
    fit_percent = int(re.findall(r"\d+", zoom.inner_text())[0])
    pinch(page, cx, cy, start_gap=40, end_gap=240)
    expect(zoom).not_to_have_text(re.compile(r"^fit"))
    assert int(zoom.inner_text().rstrip(" %")) > fit_percent
    shot(page, "07-viewer-zoomed")

    # The depth map in the same viewer.
    page.click("#viewer-depth")
    expect(page.locator("#viewer-title")).to_contain_text("Depth map")
    expect(page.locator("#viewer-depth")).to_have_attribute("aria-pressed", "true")
    loaded(page, "#viewer-img")
    shot(page, "08-depth-map")
    page.click("#viewer-close")
    expect(viewer).to_be_hidden()

    # The gallery: thumbnail, state, downloads; restack it, then delete the restack.
    tab(page, "gallery")
    card = page.locator(f'[data-job="{job_id}"]')
    expect(card).to_be_visible()
    expect(card.locator(".badge")).to_have_text("done")
    expect(card.locator("a.download", has_text="JPG")).to_have_attribute(
        "href", f"/api/jobs/{job_id}/result.jpg"
    )
    expect(card.locator("a.download", has_text="Depth")).to_be_visible()
    loaded(page, f'[data-job="{job_id}"] img.thumb')
    shot(page, "09-gallery")
    card.get_by_role("button", name="Restack").click()
    restack = page.locator(".job", has_text="beetle (restack)")
    expect(restack.locator(".badge")).to_have_text("done", timeout=30_000)
    restack.get_by_role("button", name="Delete").click()
    expect(page.locator("#confirm")).to_be_visible()
    shot(page, "10-gallery-confirm-delete")
    page.click("#confirm-yes")
    expect(restack).to_have_count(0)
    expect(card).to_be_visible()
    tab(page, "run")
    expect(page.locator("#run-empty")).to_be_visible()  # the deleted restack is not shown

    # A reload keeps the session (cookie) and the Run screen shows how the last one went.
    page.reload()
    expect(page.locator("#app")).to_be_visible()
    expect(page.locator("#run-id")).to_have_text(job_id)
    expect(page.locator("#run-state")).to_have_text("done")
    expect(page.locator("#run-open")).to_be_visible()
    loaded(page, "#run-fused")


def pinch(page: Page, x: float, y: float, start_gap: float, end_gap: float) -> None:
    """Two fingers moving apart (Playwright has no multi-touch: use CDP touch events)."""
    cdp = page.context.new_cdp_session(page)

    def fingers(gap: float) -> list[dict[str, float]]:
        return [{"x": x - gap / 2, "y": y, "id": 0}, {"x": x + gap / 2, "y": y, "id": 1}]

    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": fingers(start_gap)})
    steps = 8
    for i in range(1, steps + 1):
        gap = start_gap + (end_gap - start_gap) * i / steps
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": fingers(gap)})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()


def test_busy_message_when_jogging_during_a_stack(page: Page, daemon: Daemon) -> None:
    logged_in(page)
    tab(page, "plan")
    page.fill("#plan-start", "10")
    page.fill("#plan-end", "12")
    # Slow enough to act while it runs: 12 frames, a third of a second each.
    fill_plan(page, count=12, settle=0.35)
    page.fill("#plan-name", "slow")
    # A double tap on Start sends one request, with an Idempotency-Key, and starts one stack.
    with page.expect_request("**/api/jobs") as request:
        page.locator("#plan-start-btn").dblclick()
    assert re.fullmatch(r"[0-9a-f]{32}", request.value.headers["idempotency-key"])
    expect(page.locator("#run-state")).to_have_text("running")
    expect(page.locator("#run-frames")).to_have_text(re.compile(r"Frame [1-9]\d? of 12"))
    expect(page.locator("#run-eta")).to_have_text(re.compile(r"left$"))
    loaded(page, "#run-fused")  # from the middle (reference) frame on
    expect(page.locator("#top-run")).to_be_visible()
    shot(page, "11-progress-running")

    tab(page, "rig")
    page.click('[data-jog="0.1"]')
    busy = page.locator(".toast.busy")
    expect(busy).to_contain_text("Busy — a stack is running")
    shot(page, "12-rig-busy", toasts=True)

    tab(page, "run")
    page.click("#run-cancel")
    expect(page.locator("#run-state")).to_have_text("cancelled")
    jobs = httpx.get(f"{daemon.url}/api/jobs", headers={"Authorization": f"Bearer {TOKEN}"})
    assert [j["name"] for j in jobs.json()].count("slow") == 1

    # Resume continues at the next frame and finishes the stack.
    page.click("#run-resume")
    expect(page.locator("#run-state")).to_have_text("done", timeout=30_000)
    expect(page.locator("#run-frames")).to_have_text("Frame 12 of 12")


def test_a_plan_check_the_rig_did_not_answer_is_asked_again(page: Page) -> None:
    """A blip (Wi-Fi, a restart) during the live check must not leave "Can't run this
    plan yet" on a plan nobody changed: the page says it is checking, and asks again."""
    failed = []

    def first_check_fails(route):  # type: ignore[no-untyped-def]
        if not failed:
            failed.append(route.request.url)
            route.fulfill(status=503, json={"detail": "the rig is restarting"})
        else:
            route.continue_()

    logged_in(page)
    tab(page, "plan")
    page.fill("#plan-start", "10")
    page.fill("#plan-end", "12")
    page.check("#spacing-count")
    page.fill("#plan-count", "7")
    expect(page.locator("#plan-frames")).to_have_text("7 frames")
    page.route("**/api/plans/check", first_check_fails)
    page.fill("#plan-count", "8")  # the one check that follows: the rig does not answer it
    expect(page.locator("#plan-frames")).to_have_text("Checking the plan…")
    expect(page.locator("#plan-problems")).to_contain_text("the rig is restarting")
    expect(page.locator("#plan-frames")).to_have_text("8 frames")  # asked again by itself
    assert len(failed) == 1


def test_presets_and_schedules(page: Page) -> None:
    logged_in(page)
    tab(page, "plan")
    page.fill("#plan-start", "10")
    page.fill("#plan-end", "12")
    fill_plan(page, count=5, settle=0)
    page.fill("#preset-name", "night-beetle")
    page.click("#preset-save")
    expect(page.locator(".toast.ok", has_text='Preset "night-beetle" saved')).to_be_visible()
    expect(page.locator("#preset-select")).to_have_value("night-beetle")
    page.fill("#plan-count", "9")
    expect(page.locator("#plan-frames")).to_have_text("9 frames")
    page.click("#preset-load")
    expect(page.locator("#plan-count")).to_have_value("5")
    expect(page.locator("#plan-frames")).to_have_text("5 frames")

    tab(page, "run")
    page.select_option("#schedule-preset", "night-beetle")
    page.fill("#schedule-every", "600")
    page.fill("#schedule-times", "2")
    page.fill("#schedule-start", "2099-01-01T02:00")  # far away: it must not start now
    page.click("#schedule-create")
    item = page.locator("#schedule-list li", has_text="night-beetle")
    expect(item).to_contain_text("every 600 min")
    expect(item).to_contain_text("0 of 2 runs")
    expect(item.locator(".badge")).to_have_text("on")
    item.get_by_role("button", name="Pause").click()
    expect(item.locator(".badge")).to_have_text("paused")
    expect(item.get_by_role("button", name="Enable")).to_be_visible()
    item.scroll_into_view_if_needed()
    shot(page, "13-run-schedules")
    item.get_by_role("button", name="Delete").click()
    page.click("#confirm-yes")
    expect(page.locator("#schedule-list")).to_contain_text("No schedules.")

    # A schedule without a usable field: the API's words, not a silent failure.
    page.fill("#schedule-every", "")
    page.click("#schedule-create")
    expect(page.locator(".toast.error")).to_contain_text("every_min")


def test_status_screen_and_logout(page: Page) -> None:
    logged_in(page)
    tab(page, "status")
    status = page.locator("#status-list")
    expect(status).to_contain_text("Simulated bench")
    expect(status).to_contain_text("0.5 – 49.5 mm")
    expect(status).to_contain_text("free of")
    shot(page, "14-status")
    page.click("#night-toggle")
    expect(page.locator("html")).to_have_class("night")
    tab(page, "rig")
    shot(page, "17-night-red")
    tab(page, "status")
    page.click("#night-toggle")
    expect(page.locator("html")).not_to_have_class("night")
    page.click("#logout")
    expect(page.locator("#login")).to_be_visible()
    expect(page.locator("#login-error")).to_have_text("Logged out.")


def test_hardware_error_and_low_disk_are_loud(page: Page) -> None:
    """The simulated bench always has hardware, so the status is altered on its way to
    the page: what a Pi without its camera and with a full card would report."""

    def broken(route: Route) -> None:
        status = route.fetch().json()
        status["hardware_error"] = "camera: no camera detected (check the ribbon cable)"
        status["disk"] = {"free_bytes": 400_000_000, "total_bytes": 32_000_000_000, "low": True}
        route.fulfill(json=status)

    page.route("**/api/status", broken)
    logged_in(page)
    hardware = page.locator("#banner-hardware")
    expect(hardware).to_be_visible()
    expect(hardware).to_contain_text("HARDWARE NOT AVAILABLE — camera: no camera detected")
    expect(page.locator("#banner-disk")).to_contain_text("Disk almost full: 400 MB free")
    tab(page, "status")
    expect(page.locator("#status-list")).to_contain_text("ERROR: camera: no camera detected")
    expect(page.locator("#status-list")).to_contain_text("LOW")
    shot(page, "16-hardware-error")


@pytest.mark.parametrize(
    ("where", "said"),
    [
        ("here", "fusing the last frames…"),
        ("tcp://lab.example:8786", "fusing the frames on the cluster tcp://lab.example:8786…"),
        (
            "here (the cluster tcp://lab.example:8786 cannot be reached)",
            "fusing the last frames here (the cluster tcp://lab.example:8786 cannot be reached)…",
        ),
    ],
)
def test_the_run_screen_says_where_the_frames_are_fused(page: Page, where: str, said: str) -> None:
    """A stack handed to a Dask cluster: the status names it (``stacked_on``) and so does
    the page, also when the rig had to stack it itself after all."""
    job = {
        "id": "20261204-2300-bee",
        "kind": "stack",
        "name": "bee",
        "state": "stacking",
        "created": 1.0,
        "started": 2.0,
        "finished": None,
        "frames_planned": 30,
        "frames_done": 30,
        "error": None,
        "outputs": [],
        "plan": {"start_mm": 10.0, "end_mm": 12.0, "count": 30},
        "final": False,
        "resumable": False,
        "restackable": False,
        "results": [],
    }
    progress = {"job_id": job["id"], "phase": "stacking", "frame": 30, "count": 30}
    progress |= {"fused": 12, "eta_s": None, "preview": False, "stacked_on": where}

    def stacking(route: Route) -> None:
        status = route.fetch().json()
        route.fulfill(json={**status, "job": job, "progress": progress})

    page.route("**/api/status", stacking)
    logged_in(page)
    tab(page, "run")
    expect(page.locator("#run-eta")).to_have_text(said)
    expect(page.locator("#run-fused-count")).to_have_text("fused 12 of 30")


def test_connection_lost_banner_then_back_logged_in_after_a_restart(
    browser: Browser, tmp_path: Path
) -> None:
    own = Daemon(tmp_path)
    own.start()
    context = phone(browser, own.url)
    try:
        page = context.new_page()
        errors = script_errors(page)
        logged_in(page)
        banner = page.locator("#banner-connection")
        expect(page.locator("#rail-pos")).not_to_have_text("—")  # the first status arrived
        expect(banner).to_be_hidden()

        own.crash()  # a power cut or a crash: the streams just end
        expect(banner).to_be_visible()
        expect(banner).to_have_text("Connection lost — reconnecting…")
        shot(page, "15-connection-lost")

        # The session cookie is signed, not remembered: after the restart the page
        # reconnects by itself, still logged in (a crash restart at night must not lock
        # the photographer out).
        own.start()
        expect(banner).to_be_hidden(timeout=20_000)
        expect(page.locator("#app")).to_be_visible()
        expect(page.locator("#login")).to_be_hidden()
        expect(page.locator("#rail-pos")).not_to_have_text("—")
        assert not errors, f"JavaScript errors on the page: {errors}"
    finally:
        context.close()
        own.stop()
