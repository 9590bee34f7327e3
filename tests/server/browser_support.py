"""What the browser tests share: a live clinic server, Debian's Chromium, phone-size pages and their helpers.

The fixtures are module-scoped (one server per test module) and reach the
tests through ``conftest.py``. Without Chromium or Playwright the tests skip,
except under ``CI=true`` where they must run (``make test`` installs Debian's
chromium where it can).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from phone_checks import PHONE, fail_or_skip, live_server, sign_in, start_fundus_visit
from tests_support import invoke_cli

PASSWORD = "correct horse battery"
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "browser"


def _chromium() -> str:
    path = os.environ.get("MEDSCREEN_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        path = None
    if path is None:
        fail_or_skip("no Chromium or no Playwright: run `make test` (installs Debian's chromium) or set "
                     "MEDSCREEN_CHROMIUM")
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from medscreen.server import create_app

    home = tmp_path_factory.mktemp("clinic")
    _create_users(home)
    with live_server(create_app(home, workers=1)) as base:
        yield base


def user_name(role: str, language: str = "en") -> str:
    """The browser tests' account for ``role`` (nurse, doctor, boss) that reads ``language``: ``nurse``, ``nurse.fr``."""
    return role if language == "en" else f"{role}.{language}"


def _create_users(home: Path) -> None:
    assert invoke_cli(["init", "--data-dir", str(home)]).exit_code == 0  # idempotent: the server may have made it
    for language in ("en", "fr"):
        chosen = [] if language == "en" else ["--language", language]
        for name, role in (("nurse", "health_worker"), ("doctor", "reviewer")):
            result = invoke_cli(["users", "create", user_name(name, language), "--role", role, "--clinic", "Kisumu",
                                 *chosen, "--data-dir", str(home), "--password-stdin"], input=PASSWORD + "\n")
            assert result.exit_code == 0, result.output
        result = invoke_cli(["users", "create", user_name("boss", language), "--admin", *chosen, "--data-dir",
                             str(home), "--password-stdin"], input=PASSWORD + "\n")
        assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from PIL import Image
    from skimage.data import retina

    path = tmp_path_factory.mktemp("phone") / "od.jpg"
    Image.fromarray(retina()[..., :3]).save(path, quality=90)
    return path


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    executable = _chromium()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


def _page(browser, base: str, *, bypass_csp: bool = False, locale: str | None = None):
    """A phone-size page; ``bypass_csp`` lets a test inject a script (axe-core) that the app's CSP would refuse;
    ``locale`` (``fr-FR``) is the browser's language: its Accept-Language, which the pages before sign-in follow."""
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
                                  base_url=base, bypass_csp=bypass_csp, locale=locale)
    page = context.new_page()
    page.set_default_timeout(90_000)
    return page


def _sign_in(page, username: str) -> None:
    sign_in(page, username, PASSWORD)


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _fits_the_phone(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"] + 1, f"the page is {width} px wide on a {PHONE['width']} px screen"


@pytest.fixture(scope="module")
def cat_photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from PIL import Image
    from skimage.data import chelsea

    path = tmp_path_factory.mktemp("cat") / "cat.jpg"
    Image.fromarray(chelsea()).save(path, quality=90)
    return path


def _new_patient(page, name: str, ref: str) -> None:
    page.goto("/patients")
    page.fill("input[name=name]", name)
    page.fill("input[name=clinic_ref]", ref)
    page.fill("input[name=birth_year]", "1958")
    page.select_option("select[name=sex]", "female")
    page.click("form[method=post][action='/patients'] button[type=submit]")
    page.wait_for_url("**/patients/*")


def _upload_to(page, slot: str, path: Path) -> int:
    """Start a fundus visit from the patient page, upload into ``slot`` and wait for the result; its screening id."""
    start_fundus_visit(page)
    page.set_input_files(f"#upload-{slot} input[type=file]", str(path))
    page.click(f"#upload-{slot} button[type=submit]")
    advice = page.locator("section.result p.advice").first
    advice.wait_for(state="visible")
    return int(page.locator("section.result").first.get_attribute("id").split("-")[1])
