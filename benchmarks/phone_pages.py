"""Phone usability of every page at 360 px: axe-core violations, the smallest tap target, text at 200 %, and the
visit page's bytes and time on reload at 400 kbit/s.

A live server (bundled models, SQLite in a temporary folder) gets a patient
with a fundus visit of two real photos (IDRiD, as stored in the data folder)
and one of a cat photo (a RESCREEN result);
Chromium at 360 × 740 (device scale 2) then opens each page as the nurse,
the doctor (reviewer) and the admin. Run it on another checkout's code with
``PYTHONPATH=/path/to/checkout/src`` to compare before and after. Needs
``make axe`` (axe-core from npm) and Chromium. Writes JSON.

    python benchmarks/phone_pages.py --out benchmarks/results/phone_pages.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "server"))  # the checks the tests assert on
from _clinic import PASSWORD, chromium, clinic_server
from phone_checks import (
    PHONE,
    axe_path,
    axe_violations,
    reload_bytes,
    reset_text,
    sign_in,
    start_fundus_visit,
    tap_targets,
    text_overflow,
)

IDRID = "idrid/A. Segmentation/1. Original Images/a. Training Set"
SLOW_3G = {"offline": False, "latency": 0, "downloadThroughput": 400_000 / 8, "uploadThroughput": 400_000 / 8}


def _audit(page, url: str, axe_js: Path) -> dict:
    page.goto(url)
    page.wait_for_load_state("networkidle")
    violations = axe_violations(page, axe_js)
    targets = tap_targets(page)
    failing = [t for t in targets if not t["ok"]]
    smallest = min(targets, key=lambda t: min(t["width"], t["height"]), default=None)
    advice = page.evaluate("""() => { const a = document.querySelector('section.result p.advice');
                                      return a ? Math.round(a.getBoundingClientRect().bottom + scrollY) : null; }""")
    text = text_overflow(page)
    reset_text(page)
    return {
        "url": url,
        "axe_by_impact": dict(Counter(v["impact"] for v in violations)),
        "axe": violations,
        "targets": len(targets),
        "targets_failing": len(failing),
        "smallest_target": smallest,
        "failing_examples": failing[:8],
        "first_advice_bottom_px": advice,
        "text_200": text,
    }


def _upload(page, slot: str, photo: Path) -> None:
    page.set_input_files(f"#upload-{slot} input[type=file]", str(photo))
    page.click(f"#upload-{slot} button[type=submit]")
    page.wait_for_function("n => document.querySelectorAll('section.result p.advice').length >= n",
                           arg=1 if slot == "OD" else 2, timeout=300_000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/phone_pages.json"))
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    args = parser.parse_args()
    axe_js = axe_path()
    if axe_js is None:
        raise SystemExit("axe-core is not installed: run `make axe`")
    photos = [args.data_dir / IDRID / f"IDRiD_{n:02d}.jpg" for n in (1, 2)]
    cat = Path(tempfile.mkdtemp()) / "cat.jpg"  # scikit-image's cat: no fundus photo at all
    from PIL import Image
    from skimage.data import chelsea

    Image.fromarray(chelsea()).save(cat, quality=90)

    from playwright.sync_api import sync_playwright

    import medscreen

    pages: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp, clinic_server(Path(tmp)) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox", "--disable-gpu"])

        def phone():
            context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
                                          base_url=base, bypass_csp=True)  # axe-core is injected inline
            page = context.new_page()
            page.set_default_timeout(120_000)
            return page

        page = phone()
        pages["login"] = _audit(page, "/login", axe_js)
        sign_in(page, "nurse", PASSWORD)
        page.goto("/patients")
        page.fill("input[name=name]", "Achieng Otieno")
        page.fill("input[name=clinic_ref]", "KSM-0001")
        page.click("form[method=post][action='/patients'] button[type=submit]")
        page.wait_for_url("**/patients/*")
        patient_url = page.url
        start_fundus_visit(page)
        visit_url = page.url.split("#")[0]
        _upload(page, "OD", photos[0])
        _upload(page, "OS", photos[1])
        screening = page.locator("section.result").first.get_attribute("id").split("-")[1]
        page.goto(patient_url)  # a second visit with a cat photo: a RESCREEN result
        start_fundus_visit(page)
        rescreen_url = page.url.split("#")[0]
        _upload(page, "OD", cat)
        for name, url in (("patients", "/patients"), ("patient", patient_url), ("visit", visit_url),
                          ("visit_rescreen", rescreen_url)):
            pages[name] = _audit(page, url, axe_js)

        page.context.close()
        page = phone()  # an empty cache: what the phone downloads the first time it opens the visit
        sign_in(page, "nurse", PASSWORD)
        first_load = reload_bytes(page, visit_url)
        first_reload = reload_bytes(page)
        second_reload = reload_bytes(page)
        cdp = page.context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.emulateNetworkConditions", SLOW_3G)
        t = time.perf_counter()
        page.reload(wait_until="load")
        slow_reload_s = time.perf_counter() - t
        cdp.detach()
        page.context.close()

        page = phone()
        sign_in(page, "doctor", PASSWORD)
        pages["reviews"] = _audit(page, "/reviews", axe_js)
        pages["review_case"] = _audit(page, f"/reviews/{screening}", axe_js)
        page.context.close()
        page = phone()
        sign_in(page, "boss", PASSWORD)
        for name in ("users", "clinics", "models", "network", "audit"):
            pages[f"admin_{name}"] = _audit(page, f"/admin/{name}", axe_js)
        page.context.close()
        browser.close()

    try:
        revision = subprocess.run(["git", "-C", str(Path(medscreen.__file__).parent), "rev-parse", "--short", "HEAD"],
                                  capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        revision = ""
    total = Counter()
    for audit in pages.values():
        total.update(audit["axe_by_impact"])
    report = {
        "benchmark": "phone_pages",
        "code": {"medscreen": str(Path(medscreen.__file__).parent), "revision": revision},
        "viewport": PHONE, "axe_core": json.loads((axe_js.parent / "package.json").read_text())["version"],
        "axe_by_impact_all_pages": dict(total),
        "smallest_target_px": {name: a["smallest_target"] for name, a in pages.items()},
        "visit_reload": {"bytes_first_load": first_load["bytes"], "first_load_requests": first_load["requests"],
                         "bytes_first_reload": first_reload["bytes"], "bytes_second_reload": second_reload["bytes"],
                         "requests": second_reload["requests"], "seconds_at_400_kbit_s": round(slow_reload_s, 2)},
        "pages": pages,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    summary = {k: report[k] for k in ("axe_by_impact_all_pages", "visit_reload")}
    summary["smallest"] = {n: (a["smallest_target"] or {}).get("height") for n, a in pages.items()}
    summary["failing_targets"] = {n: a["targets_failing"] for n, a in pages.items()}
    summary["text_200_scroll_width"] = {n: a["text_200"]["scroll_width"] for n, a in pages.items()}
    summary["first_advice_bottom_px"] = pages["visit"]["first_advice_bottom_px"]
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
