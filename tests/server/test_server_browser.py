"""The clinic app in a real headless Chromium (Debian's, driven by Playwright) at phone size.

A health worker signs in, registers a patient, uploads a fundus photo taken
"with the phone", sees the result with the disc outline, comes back for a
second visit and sees the timeline chart; a reviewer confirms the case. The
server is the real one (uvicorn, bundled models, SQLite in a tmp folder).
Screenshots go to ``test-output/browser/``. Without Chromium or Playwright
these tests skip, except under ``CI=true`` where they must run
(``make test`` installs Debian's chromium where it can).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests_support import invoke_cli

pytestmark = pytest.mark.slow  # a real browser against a live server

PHONE = {"width": 360, "height": 740}
PASSWORD = "correct horse battery"
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "browser"


def _chromium() -> str:
    path = os.environ.get("MEDSCREEN_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        path = None
    if path is None:
        message = "no Chromium or no Playwright: run `make test` (installs Debian's chromium) or set MEDSCREEN_CHROMIUM"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " — browser tests must run in CI")
        pytest.skip(message)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import uvicorn

    from medscreen.server import create_app

    home = tmp_path_factory.mktemp("clinic")
    _create_users(home)
    port = _free_port()
    config = uvicorn.Config(create_app(home, workers=1), host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the clinic server did not start in 30 s")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


def _create_users(home: Path) -> None:
    for name, role in (("nurse", "health_worker"), ("doctor", "reviewer")):
        result = invoke_cli(["users", "create", name, "--role", role, "--clinic", "Kisumu", "--data-dir", str(home),
                             "--password-stdin"], input=PASSWORD + "\n")
        assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from PIL import Image
    from skimage.data import retina

    path = tmp_path_factory.mktemp("phone") / "od.jpg"
    Image.fromarray(retina()[..., :3]).save(path, quality=90)
    return path


@pytest.fixture(scope="module")
def referred_photo(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A glaucomatous GRAPE photo that the bundled models refer (the first, in name order).

    A normal eye (scikit-image's retina) is not referred (routine, or review in the uncertain band), so the review
    queue needs a real glaucomatous eye; GRAPE's are all glaucomatous.
    """
    import medscreen

    folder = data_dir / "grape" / "CFPs"
    if not folder.is_dir():
        pytest.skip(f"GRAPE photos not found in {folder}: the review test needs a glaucomatous eye")
    for path in sorted(folder.glob("*_1.jpg"))[:40]:
        if medscreen.screen(path).advice == "refer":
            out = tmp_path_factory.mktemp("referred") / "od.jpg"
            out.write_bytes(path.read_bytes())
            return out
    pytest.fail("none of 40 glaucomatous GRAPE photos was referred: the glaucoma model misses them")


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    executable = _chromium()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


def _page(browser, base: str):
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
                                  base_url=base)
    page = context.new_page()
    page.set_default_timeout(90_000)
    return page


def _sign_in(page, username: str) -> None:
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert "/login" not in page.url, page.content()[:500]


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _fits_the_phone(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"] + 1, f"the page is {width} px wide on a {PHONE['width']} px screen"


def _screen_visit(page, photo: Path) -> None:
    page.select_option("select[name=modality]", "fundus")
    page.click("form[action$='/visits'] button[type=submit]")
    page.wait_for_url("**/visits/*")
    page.set_input_files("#upload-OD input[type=file]", str(photo))
    page.click("#upload-OD button[type=submit]")
    overlay = page.locator("section.result img.overlay").first
    overlay.wait_for(state="visible")
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=overlay.element_handle())
    text = page.inner_text("section.result")
    assert "Advice" in text and "Glaucoma probability" in text and "Gradable" in text
    assert "not a diagnosis" in text


def test_health_worker_screens_a_patient_twice_and_sees_the_timeline(server: str, browser, photo: Path):
    page = _page(browser, server)
    _sign_in(page, "nurse")
    page.goto("/patients")
    page.fill("input[name=name]", "Achieng Otieno")
    page.fill("input[name=clinic_ref]", "KSM-0001")
    page.fill("input[name=birth_year]", "1961")
    page.select_option("select[name=sex]", index=1)
    page.click("form[method=post][action='/patients'] button[type=submit]")
    page.wait_for_url("**/patients/*")
    assert "Achieng Otieno" in page.inner_text("body")
    _fits_the_phone(page)
    _shot(page, "1-patient-registered")

    _screen_visit(page, photo)
    _fits_the_phone(page)
    _shot(page, "2-first-visit-result")

    page.click("a[href^='/patients/']")
    page.wait_for_url("**/patients/*")
    _screen_visit(page, photo)
    _shot(page, "3-second-visit-result")

    page.click("a[href^='/patients/']")
    page.wait_for_url("**/patients/*")
    chart = page.locator("section.chart-box svg").first
    chart.wait_for(state="visible")
    assert chart.locator("circle, polyline, path").count() >= 2, "two visits should draw at least two points"
    _fits_the_phone(page)
    _shot(page, "4-timeline")
    page.context.close()


def test_reviewer_confirms_a_referred_case(server: str, browser, referred_photo: Path):
    page = _page(browser, server)
    _sign_in(page, "doctor")
    page.goto("/reviews")
    case = page.locator("a[href^='/reviews/']").first
    if case.count() == 0:  # this test alone: make a referred case first
        nurse = _page(browser, server)
        _sign_in(nurse, "nurse")
        nurse.goto("/patients")
        nurse.fill("input[name=clinic_ref]", "KSM-0002")
        nurse.click("form[method=post][action='/patients'] button[type=submit]")
        nurse.wait_for_url("**/patients/*")
        _screen_visit(nurse, referred_photo)
        nurse.context.close()
        page.goto("/reviews")
    _shot(page, "5-review-queue")
    page.locator("a[href^='/reviews/']").first.click()
    page.wait_for_url("**/reviews/*")
    page.check("input[name=decision][value=confirm]")
    page.fill("textarea[name=comment]", "Large cup; agree with referral.")
    page.click("form[action^='/reviews/'] button[type=submit]")
    page.wait_for_load_state()
    body = page.inner_text("body")
    assert "confirm" in body.lower()
    _fits_the_phone(page)
    _shot(page, "6-review-saved")
    page.context.close()
