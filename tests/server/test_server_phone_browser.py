"""The clinic app on a phone in a real Chromium: reduced and retried uploads, axe-core and tap targets on every page.

The server, the browser and the photos are :mod:`browser_support`'s fixtures
(a real server, the bundled models). axe-core comes from npm (``make axe``) and is injected
from disk; without it, or without Chromium, these tests skip, except under
``CI=true`` where they fail.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from browser_support import (
    _fits_the_phone,
    _new_patient,
    _page,
    _shot,
    _sign_in,
    _upload_to,
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


def _nurse_at_a_new_visit(browser, server: str, name: str, ref: str):
    page = _page(browser, server, bypass_csp=True)
    _sign_in(page, "nurse")
    _new_patient(page, name, ref)
    start_fundus_visit(page)
    return page


def _visit_captures(page) -> list[dict]:
    visit_id = page.url.split("/visits/")[1].split("#")[0]
    response = page.request.get(f"/api/v1/visits/{visit_id}")
    assert response.ok, response.text()
    return response.json()["captures"]


def test_phone_photo_is_reduced_to_2048_px_with_its_original_size_recorded(server: str, browser,
                                                                            camera_photo: Path):
    page = _nurse_at_a_new_visit(browser, server, "Atieno Were", "KSM-0201")
    cdp = page.context.new_cdp_session(page)  # a slow link, so that the bytes sent can be seen going up
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0, "downloadThroughput": -1,
                                                  "uploadThroughput": 200_000})
    page.set_input_files("#upload-OD input[type=file]", str(camera_photo))
    page.click("#upload-OD button[type=submit]")
    page.wait_for_function("document.querySelector('#upload-OD .upload-bytes').textContent.includes(' sent')")
    assert "reduced from" in page.inner_text("#upload-OD .upload-message")
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


def _check_page(page, name: str, axe_js: Path) -> None:
    """axe-core: no serious or critical violation; every target ≥ 44 px (or spaced); text at 200 % stays on screen."""
    page.wait_for_load_state("networkidle")
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


def test_every_page_passes_axe_and_has_44px_targets_at_360px(server: str, browser, photo: Path, cat_photo: Path,
                                                             axe_js: Path):
    page = _page(browser, server, bypass_csp=True)
    page.goto("/login")
    _check_page(page, "login", axe_js)
    page.goto("/phone-setup")
    _check_page(page, "phone-setup", axe_js)
    _sign_in(page, "nurse")
    _new_patient(page, "Kerubo Nyambura", "KSM-0203")
    patient_url = page.url
    screening = _upload_to(page, "OS", photo)  # scikit-image's retina: a review, with the reviewers' figures
    visit_url = page.url.split("#")[0]
    page.goto(patient_url)
    _upload_to(page, "OD", cat_photo)  # RESCREEN, in its own colour
    rescreen_url = page.url.split("#")[0]
    for name, url in (("patients", "/patients"), ("patient", patient_url), ("visit", visit_url),
                      ("visit-rescreen", rescreen_url), ("not-found", "/patients/999999"), ("api-docs", "/api/docs")):
        page.goto(url)
        _check_page(page, name, axe_js)

    page.goto(visit_url)
    page.wait_for_load_state("networkidle")
    again = reload_bytes(page)
    images = {url: size for url, size in again["requests"].items() if "/overlay.jpg" in url}
    assert all(size == 0 for size in images.values()), f"the reload downloaded the images again: {again}"
    page.context.close()

    page = _page(browser, server, bypass_csp=True)
    _sign_in(page, "doctor")
    for name, url in (("reviews", "/reviews"), ("reviews-rejected", "/reviews?show=rejected"),
                      ("review-case", f"/reviews/{screening}")):
        page.goto(url)
        _check_page(page, name, axe_js)
    page.context.close()

    page = _page(browser, server, bypass_csp=True)
    _sign_in(page, "boss")
    for name in ("users", "clinics", "models", "network", "audit"):
        page.goto(f"/admin/{name}")
        _check_page(page, f"admin-{name}", axe_js)
    page.context.close()
