"""Item 1 (and 11's 2 MB JSON): a body is read only after sign-in, refused on Content-Length, capped while streamed."""

from __future__ import annotations

import json

import pytest
from reliability_support import BODY_CAP, JSON_CAP, Browser, World, raw_request

pytestmark = pytest.mark.sqlite_only  # request bodies are refused before any SQL: nothing to compare across databases

GIB = 1 << 30
MULTIPART = "multipart/form-data; boundary=xyz"


def _cookie(browser: Browser) -> str:
    return "; ".join(f"{k}={v}" for k, v in browser.client.cookies.items())


def test_anonymous_upload_is_refused_before_a_byte_is_read(world: World) -> None:
    r = raw_request(world.app, "POST", f"/api/v1/visits/{world.visit_fundus}/captures",
                    {"content-type": MULTIPART, "content-length": str(GIB)}, [b"x" * 65536] * 4)
    assert r.status == 401 and r.bytes_read == 0
    assert r.headers["www-authenticate"] == "Bearer"


def test_anonymous_page_upload_goes_to_sign_in_unread(world: World) -> None:
    r = raw_request(world.app, "POST", f"/visits/{world.visit_fundus}/captures",
                    {"content-type": MULTIPART, "content-length": str(GIB)}, [b"x" * 65536])
    assert r.status == 303 and r.headers["location"] == "/login" and r.bytes_read == 0


def test_a_revoked_token_cannot_send_a_body(world: World) -> None:
    r = raw_request(world.app, "POST", "/api/v1/patients", {"content-type": "application/json",
                    "authorization": "Bearer msk_not-a-token", "content-length": "2"}, [b"{}"])
    assert r.status == 401 and r.bytes_read == 0


def test_signed_in_upload_over_content_length_cap_is_refused_unread(world: World,
                                                                     browsers: dict[str, Browser]) -> None:
    worker = browsers["worker"]
    r = raw_request(world.app, "POST", f"/api/v1/visits/{world.visit_fundus}/captures",
                    {"content-type": MULTIPART, "content-length": str(200_000_000), "cookie": _cookie(worker),
                     "x-csrf-token": worker.csrf}, [b"x" * 65536])
    assert r.status == 413 and r.bytes_read == 0
    assert "larger than" in json.loads(r.body)["detail"]


def test_streamed_body_without_length_stops_at_the_cap(world: World, browsers: dict[str, Browser]) -> None:
    worker = browsers["worker"]
    chunks = [b"--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\r\n"]
    chunks += [b"\0" * 65536] * (BODY_CAP // 65536 + 40)
    r = raw_request(world.app, "POST", f"/api/v1/visits/{world.visit_fundus}/captures",
                    {"content-type": MULTIPART, "transfer-encoding": "chunked", "cookie": _cookie(worker),
                     "x-csrf-token": worker.csrf}, chunks)
    assert r.status == 413
    assert r.bytes_read <= BODY_CAP + 2 * 65536


def test_json_body_has_the_smaller_cap(world: World, browsers: dict[str, Browser]) -> None:
    big = json.dumps({"name": "x" * 100, "clinic_ref": "Z", "padding": "y" * 2_000_000})
    r = browsers["worker"].api_post("/api/v1/patients", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413, r.text
    small = json.dumps({"name": "Small Body", "padding": "y" * (JSON_CAP // 2)})
    assert browsers["worker"].api_post("/api/v1/patients", content=small,
                                       headers={"content-type": "application/json"}).status_code == 201


def test_sign_in_form_is_capped(world: World) -> None:
    client = Browser(world.app).client
    r = client.post("/login", data={"username": "worker", "password": "p" * (JSON_CAP + 10)})
    assert r.status_code == 413


def test_an_upload_within_the_cap_still_works(world: World, browsers: dict[str, Browser]) -> None:
    from reliability_support import png_bytes

    r = browsers["worker"].api_post(f"/api/v1/visits/{world.visit_fundus}/captures",
                                    files={"file": ("a.png", png_bytes(), "image/png")}, data={"eye": "OD"})
    assert r.status_code == 202, r.text
