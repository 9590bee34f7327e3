"""The clinic app on a phone in a real Chromium: reduced and retried uploads, axe-core and tap targets on every page,
in English and in French (longer words; the upload messages come from the page in its language).

The server, the browser and the photos are :mod:`browser_support`'s fixtures
(a real server, the bundled models). axe-core comes from npm (``make axe``) and is injected
from disk; without it, or without Chromium, these tests skip, except under
``CI=true`` where they fail.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from browser_support import (
    _fits_the_phone,
    _new_patient,
    _page,
    _shot,
    _sign_in,
    _upload_to,
    user_name,
)
from phone_checks import (
    PHONE,
    axe_path,
    axe_violations,
    fail_or_skip,
    reload_bytes,
    reset_text,
    start_fundus_visit,
    tap_targets,
    text_overflow,
)

pytestmark = pytest.mark.slow  # a real browser against a live server


@pytest.fixture(scope="module")
def camera_photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """scikit-image's retina at 3,000 × 3,000 px: larger than the 2,048 px the page sends."""
    from PIL import Image
    from skimage.data import retina

    path = tmp_path_factory.mktemp("camera") / "od-camera.jpg"
    Image.fromarray(retina()[..., :3]).resize((3000, 3000), Image.Resampling.LANCZOS).save(path, quality=92)
    return path


@pytest.fixture(scope="module")
def axe_js() -> Path:
    """axe-core's script; the pages that get it need ``bypass_csp`` (the app allows no inline script)."""
    path = axe_path()
    if path is None:
        fail_or_skip("axe-core is not installed: run `make axe` (npm ci in tests/a11y)")
    return path


#: the browser's language for each language of the walk (the pages before sign-in follow the browser)
LOCALES = {"en": "en-GB", "fr": "fr-FR"}


def _nurse_at_a_new_visit(browser, server: str, name: str, ref: str, language: str = "en"):
    page = _page(browser, server, bypass_csp=True, locale=LOCALES[language])
    _sign_in(page, user_name("nurse", language))
    _new_patient(page, name, ref)
    start_fundus_visit(page)
    return page


def _visit_captures(page) -> list[dict]:
    visit_id = page.url.split("/visits/")[1].split("#")[0]
    response = page.request.get(f"/api/v1/visits/{visit_id}")
    assert response.ok, response.text()
    return response.json()["captures"]


#: what the upload shows while a reduced photo goes up: (the bytes sent, the message), in each language
_SENDING = {"en": (r"^\d+ kB of (\d+ kB|\d\.\d MB) sent$", "(reduced from "),
            "fr": (r"^\d+\u00a0ko envoyés sur (\d+\u00a0ko|\d,\d\u00a0Mo)$", "(photo réduite, ")}


@pytest.mark.parametrize("language", ["en", "fr"])
def test_phone_photo_is_reduced_to_2048_px_with_its_original_size_recorded(server: str, browser,
                                                                            camera_photo: Path, language: str):
    page = _nurse_at_a_new_visit(browser, server, "Atieno Were", f"KSM-0201-{language}", language)
    cdp = page.context.new_cdp_session(page)  # a slow link, so that the bytes sent can be seen going up
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0, "downloadThroughput": -1,
                                                  "uploadThroughput": 200_000})
    page.set_input_files("#upload-OD input[type=file]", str(camera_photo))
    page.click("#upload-OD button[type=submit]")
    bytes_sent, reduced = _SENDING[language]
    page.wait_for_function("document.querySelector('#upload-OD .upload-bytes').textContent !== ''")
    shown = page.text_content("#upload-OD .upload-bytes")
    assert re.match(bytes_sent, shown), shown
    assert reduced in page.text_content("#upload-OD .upload-message")
    page.locator("section.result p.advice").first.wait_for(state="visible")
    cdp.detach()
    [capture] = _visit_captures(page)
    assert max(capture["image"]["width"], capture["image"]["height"]) == 2048
    assert capture["original"] == {"byte_size": camera_photo.stat().st_size, "width": 3000, "height": 3000}
    page.context.close()


def test_failed_upload_is_retried_with_the_same_key_and_stored_once(server: str, browser, camera_photo: Path):
    page = _nurse_at_a_new_visit(browser, server, "Chebet Kiprop", "KSM-0202")
    keys: list[str | None] = []

    def lose_the_first_answer(route) -> None:
        keys.append(route.request.headers.get("idempotency-key"))
        if len(keys) == 1:
            route.fetch()  # the server receives and stores the photo …
            route.abort("connectionreset")  # … and its answer is lost on the way back
        else:
            route.continue_()

    page.route("**/api/v1/visits/*/captures", lose_the_first_answer)
    page.set_input_files("#upload-OD input[type=file]", str(camera_photo))
    page.click("#upload-OD button[type=submit]")
    page.wait_for_function("document.querySelector('#upload-OD .upload-message').textContent.includes('Trying again')")
    page.locator("section.result p.advice").first.wait_for(state="visible")
    assert len(keys) == 2 and keys[0] and keys[0] == keys[1]
    captures = _visit_captures(page)
    assert len(captures) == 1, captures  # the retry got the first upload's capture back (409 if the bytes differed)
    assert captures[0]["original"]["width"] == 3000
    page.context.close()


_VISIT_PAGES = ("visit", "visit-rescreen")


def _check_page(page, name: str, axe_js: Path, language: str = "en") -> None:
    """axe-core: no serious or critical violation; every target ≥ 44 px (or spaced); text at 200 % stays on screen."""
    page.wait_for_load_state("networkidle")
    shown = page.evaluate("document.documentElement.lang")
    assert shown == language, f"{name}: the page is in {shown!r}, not {language!r}"
    name = name if language == "en" else f"{name}-{language}"
    bad = [v for v in axe_violations(page, axe_js) if v["impact"] in ("serious", "critical")]
    assert bad == [], f"{name}: {bad}"
    small = [t for t in tap_targets(page) if not t["ok"]]
    assert small == [], f"{name}: tap targets under 44 × 44 px and not spaced: {small}"
    _fits_the_phone(page)
    if name in _VISIT_PAGES:  # the health worker sees the first advice without scrolling
        bottom = page.evaluate("document.querySelector('section.result p.advice').getBoundingClientRect().bottom")
        assert bottom <= PHONE["height"], f"{name}: the first advice ends at {bottom:.0f} px, below the first screen"
    text = text_overflow(page)
    assert text["scroll_width"] <= PHONE["width"] and text["outside"] == [], f"{name} at 200 % text: {text}"
    _shot(page, f"phone-200-{name}")
    reset_text(page)


@pytest.mark.parametrize("language", ["en", "fr"])
def test_every_page_passes_axe_and_has_44px_targets_at_360px(server: str, browser, photo: Path, cat_photo: Path,
                                                             axe_js: Path, language: str):
    def check(name: str) -> None:
        _check_page(page, name, axe_js, language)

    page = _page(browser, server, bypass_csp=True, locale=LOCALES[language])
    page.goto("/login")
    check("login")
    page.goto("/phone-setup")
    check("phone-setup")
    _sign_in(page, user_name("nurse", language))
    _new_patient(page, "Kerubo Nyambura", f"KSM-0203-{language}")
    patient_url = page.url
    screening = _upload_to(page, "OS", photo)  # scikit-image's retina, a normal left eye
    visit_url = page.url.split("#")[0]
    page.goto(patient_url)
    _upload_to(page, "OD", cat_photo)  # RESCREEN, in its own colour
    rescreen_url = page.url.split("#")[0]
    for name, url in (("patients", "/patients"), ("patient", patient_url), ("visit", visit_url),
                      ("visit-rescreen", rescreen_url), ("not-found", "/patients/999999"), ("api-docs", "/api/docs")):
        page.goto(url)
        check(name)

    page.goto(visit_url)
    page.wait_for_load_state("networkidle")
    again = reload_bytes(page)
    images = {url: size for url, size in again["requests"].items() if "/overlay.jpg" in url}
    assert all(size == 0 for size in images.values()), f"the reload downloaded the images again: {again}"
    page.context.close()

    page = _page(browser, server, bypass_csp=True, locale=LOCALES[language])
    _sign_in(page, user_name("doctor", language))
    for name, url in (("reviews", "/reviews"), ("reviews-rejected", "/reviews?show=rejected"),
                      ("review-case", f"/reviews/{screening}")):
        page.goto(url)
        check(name)
    page.context.close()

    page = _page(browser, server, bypass_csp=True, locale=LOCALES[language])
    _sign_in(page, user_name("boss", language))
    for name in ("users", "clinics", "models", "network", "audit", "account"):
        page.goto(f"/{name}" if name == "account" else f"/admin/{name}")
        check(name if name == "account" else f"admin-{name}")
    page.context.close()
