"""Phone upload time of a 1.7 MB fundus photo on a weak network: sent full size, and reduced in the browser first.

A live server (bundled models, SQLite in a temporary folder) and Chromium at
phone size. The photo is IDRiD_01 (as stored in the data folder, 1600 × 1063)
resized to its camera's 4288 × 2848, with a faint sensor grain, and
JPEG-encoded to about 1.7 MB (``_clinic.fundus_photo``). Chrome
DevTools' network throttling (``Network.emulateNetworkConditions``) limits
upload and download to each speed. Each sample is the time from pressing
"Upload and screen" to the server's answer (202): the browser's reduction,
when there is one, included. "Full size" is the same page with the form's
``data-max-side`` removed, which is how the page sent photos before. Writes JSON.

    python benchmarks/upload.py --out benchmarks/results/upload.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "server"))  # the walks the tests take
from _clinic import PASSWORD, chromium, clinic_server, fundus_photo
from phone_checks import PHONE, sign_in, start_fundus_visit

IDRID_01 = "idrid/A. Segmentation/1. Original Images/a. Training Set/IDRiD_01.jpg"
#: bytes per second: 40 kB/s (a weak 3G or EDGE link) and 1 MB/s (good 3G / 4G)
SPEEDS = {"40 kB/s": 40_000, "1 MB/s": 1_000_000}


def _upload(page, photo: Path, speed: int, latency_ms: float, reduce: bool) -> dict:
    if not reduce:
        page.evaluate("document.getElementById('upload-OD').removeAttribute('data-max-side')")
    page.set_input_files("#upload-OD input[type=file]", str(photo))
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": latency_ms,
                                                  "downloadThroughput": speed, "uploadThroughput": speed})
    sent: dict[str, float] = {}
    page.on("request", lambda r: sent.setdefault("t", time.perf_counter()) if r.method == "POST" else None)
    with page.expect_response(lambda r: r.request.method == "POST" and "/captures" in r.url,
                              timeout=600_000) as answer:
        start = time.perf_counter()
        page.click("#upload-OD button[type=submit]")
    response = answer.value
    done = time.perf_counter()
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0, "downloadThroughput": -1,
                                                  "uploadThroughput": -1})
    cdp.detach()
    advice = page.locator("section.result p.advice").first
    advice.wait_for(state="visible", timeout=300_000)
    visit = page.request.get(f"/api/v1/visits/{page.url.split('/visits/')[1].split('#')[0]}").json()
    capture = visit["captures"][0]
    return {
        "status": response.status,
        "seconds": round(done - start, 2),
        "prepare_seconds": round(sent.get("t", start) - start, 2),
        "file_bytes_sent": capture["image"]["byte_size"],  # the stored file is the bytes the page sent
        "stored_image": capture["image"],
        "original_recorded": capture["original"],
        "advice": advice.inner_text().split(":", 1)[-1].strip(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/upload.json"))
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--latency-ms", type=float, default=0.0, help="round-trip latency added by the throttling")
    args = parser.parse_args()
    source = args.data_dir / IDRID_01
    if not source.is_file():
        raise SystemExit(f"{source} not found: give --data-dir (the folder with idrid/)")

    from playwright.sync_api import sync_playwright

    results = []
    with tempfile.TemporaryDirectory() as tmp, clinic_server(Path(tmp) / "home") as base, sync_playwright() as p:
        photo = Path(tmp) / "IDRiD_01-4288.jpg"
        photo.write_bytes(fundus_photo(source))
        browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox", "--disable-gpu"])
        context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
                                      base_url=base)
        page = context.new_page()
        page.set_default_timeout(120_000)
        sign_in(page, "nurse", PASSWORD)
        page.goto("/patients")
        page.fill("input[name=clinic_ref]", "BENCH-1")
        page.click("form[method=post][action='/patients'] button[type=submit]")
        page.wait_for_url("**/patients/*")
        patient_url = page.url
        for name, speed in SPEEDS.items():
            for reduce in (False, True):
                page.goto(patient_url)
                start_fundus_visit(page)
                sample = _upload(page, photo, speed, args.latency_ms, reduce)
                results.append({"speed": name, "bytes_per_s": speed, "photo": "reduced" if reduce else "full size",
                                **sample})
                print(json.dumps(results[-1]), flush=True)
        browser.close()
        photo_bytes = photo.stat().st_size
    report = {
        "benchmark": "upload",
        "what": "press 'Upload and screen' → the server's 202, Chromium at 360 px with DevTools network throttling "
                "(upload and download at the speed), reduction in the browser included",
        "photo": {"source": IDRID_01, "resized_to": [4288, 2848], "grain_sd": 1.5, "bytes": photo_bytes},
        "latency_ms": args.latency_ms,
        "results": results,
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps({r["speed"] + " " + r["photo"]: r["seconds"] for r in results}, indent=2))


if __name__ == "__main__":
    main()
