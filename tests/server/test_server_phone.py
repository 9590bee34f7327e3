"""Phone uploads and images over a weak network, with a stub screener: the original's size, caching, renditions."""

from __future__ import annotations

import hashlib
import io

import pytest
from PIL import Image as PILImage
from server_support import Browser, World, png_bytes, wait_done

from medscreen.server.api import IMAGE_CACHE_CONTROL


def _visit(b: Browser, patient_id: int) -> int:
    r = b.api_post("/api/v1/visits", json={"patient_id": patient_id, "modality": "fundus"})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _jpeg(width: int, height: int, colour: tuple[int, int, int] = (120, 60, 30)) -> bytes:
    buf = io.BytesIO()
    PILImage.new("RGB", (width, height), colour).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def _captures(b: Browser, visit_id: int) -> list[dict]:
    return b.client.get(f"/api/v1/visits/{visit_id}").json()["captures"]


def test_reduced_upload_keeps_the_original_size(world: World, browsers: dict[str, Browser]) -> None:
    worker = browsers["worker"]
    visit_id = _visit(worker, world.patient_a)
    r = worker.api_post(f"/api/v1/visits/{visit_id}/captures", files={"file": ("eye.jpg", _jpeg(2048, 1360), "image/jpeg")},
                        data={"eye": "OD", "original_byte_size": "1734000", "original_width": "4288",
                              "original_height": "2848"})
    assert r.status_code == 202, r.text
    [capture] = _captures(worker, visit_id)
    assert capture["image"]["width"] == 2048 and capture["image"]["height"] == 1360
    assert capture["original"] == {"byte_size": 1734000, "width": 4288, "height": 2848}


def test_full_size_upload_from_an_api_client_has_no_original(world: World, browsers: dict[str, Browser]) -> None:
    worker = browsers["worker"]
    visit_id = _visit(worker, world.patient_a)
    data = _jpeg(3000, 2000)
    r = worker.api_post(f"/api/v1/visits/{visit_id}/captures", files={"file": ("big.jpg", data, "image/jpeg")},
                        data={"eye": "OS"})
    assert r.status_code == 202, r.text
    [capture] = _captures(worker, visit_id)
    assert capture["image"] == {"byte_size": len(data), "width": 3000, "height": 2000}
    assert capture["original"] is None


@pytest.mark.parametrize(("fields", "named"), [
    ({"original_byte_size": "1000", "original_width": "4000"}, "original_height"),
    ({"original_byte_size": "0", "original_width": "4000", "original_height": "3000"}, "original_byte_size is 0"),
    ({"original_byte_size": "1000", "original_width": "4000", "original_height": "300000"}, "original_height"),
])
def test_bad_original_size_is_refused_in_words(world: World, browsers: dict[str, Browser], fields: dict,
                                               named: str) -> None:
    worker = browsers["worker"]
    visit_id = _visit(worker, world.patient_a)
    r = worker.api_post(f"/api/v1/visits/{visit_id}/captures", files={"file": ("e.jpg", _jpeg(640, 480), "image/jpeg")},
                        data={"eye": "OD", **fields})
    assert r.status_code == 422 and named in r.json()["detail"]
    assert _captures(worker, visit_id) == []


def test_images_are_cached_privately_with_an_etag_and_pages_are_not(world: World,
                                                                    browsers: dict[str, Browser]) -> None:
    worker = browsers["worker"]
    visit_id = _visit(worker, world.patient_a)
    data = png_bytes(1600, 1200, colour=(90, 30, 20))
    sid = worker.api_post(f"/api/v1/visits/{visit_id}/captures", files={"file": ("e.png", data, "image/png")},
                          data={"eye": "OD"}).json()["screening_id"]
    assert wait_done(worker.client, sid)["status"] == "done"
    tags: dict[str, str] = {}
    for url, etag in ((f"/api/v1/screenings/{sid}/image", hashlib.sha256(data).hexdigest()),
                      (f"/api/v1/screenings/{sid}/overlay.jpg", None),
                      (f"/api/v1/screenings/{sid}/overlay.jpg?w=640", None),
                      (f"/api/v1/screenings/{sid}/disc.jpg", None)):
        first = worker.client.get(url)
        assert first.status_code == 200 and first.headers["cache-control"] == IMAGE_CACHE_CONTROL, url
        assert first.headers["cache-control"].startswith("private, max-age=")
        if etag is not None:
            assert first.headers["etag"] == f'"{etag}"'  # content-addressed: the stored image's SHA-256
        tags[url] = first.headers["etag"]
        again = worker.client.get(url, headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == first.headers["etag"]
        assert worker.client.get(url, headers={"If-None-Match": '"something-else"'}).status_code == 200
    assert len(set(tags.values())) == 4  # each image, and each overlay rendition, has its own tag
    # another clinic gets no image, cached or not
    other = browsers["worker.b"].client.get(f"/api/v1/screenings/{sid}/overlay.jpg",
                                            headers={"If-None-Match": first.headers["etag"]})
    assert other.status_code == 404
    page = worker.client.get(f"/visits/{visit_id}")
    assert page.headers["cache-control"] == "no-store"  # patient names and results: never kept on the phone
    assert 'overlay.jpg?w=640 640w' in page.text and 'sizes="' in page.text


def test_phone_overlay_is_smaller_and_made_for_older_screenings(world: World, browsers: dict[str, Browser]) -> None:
    from medscreen.server.worker import OVERLAY_PHONE_SIDE, overlay_path

    worker = browsers["worker"]
    visit_id = _visit(worker, world.patient_a)
    sid = worker.api_post(f"/api/v1/visits/{visit_id}/captures",
                          files={"file": ("e.png", png_bytes(2000, 1500, colour=(91, 30, 20)), "image/png")},
                          data={"eye": "OD"}).json()["screening_id"]
    assert wait_done(worker.client, sid)["status"] == "done"
    small = overlay_path(world.home, sid, OVERLAY_PHONE_SIDE)
    small.unlink()  # as a screening done before the phone rendition existed
    r = worker.client.get(f"/api/v1/screenings/{sid}/overlay.jpg?w={OVERLAY_PHONE_SIDE}")
    assert r.status_code == 200 and small.is_file()
    with PILImage.open(io.BytesIO(r.content)) as im:
        assert im.size == (640, 480)
    full = worker.client.get(f"/api/v1/screenings/{sid}/overlay.jpg")
    with PILImage.open(io.BytesIO(full.content)) as im:
        assert im.size == (1024, 768)
    assert len(r.content) < len(full.content)
    bad = worker.client.get(f"/api/v1/screenings/{sid}/overlay.jpg?w=123")
    assert bad.status_code == 422 and "w=640" in bad.json()["detail"]


def test_sign_out_clears_the_browsers_cache(world: World) -> None:
    b = Browser(world.app, "worker")
    r = b.client.post("/logout", data={"csrf_token": b.csrf})
    assert r.status_code == 303 and r.headers["clear-site-data"] == '"cache"'
