"""The clinic web app end to end with a stub screener: auth, CSRF, roles, uploads, results, reviews, reports."""

from __future__ import annotations

import os
import stat

import pytest
from server_support import Browser, World, csrf_of, outside_references, png_bytes, wait_done
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from medscreen.store.models import AuditEvent, Capture, Image, Screening
from medscreen.store.users import create_api_token


def _visit(b: Browser, patient_id: int, modality: str = "fundus") -> int:
    r = b.api_post("/api/v1/visits", json={"patient_id": patient_id, "modality": modality})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _upload(b: Browser, visit_id: int, data: bytes, name: str = "eye.png", eye: str | None = "OD"):
    return b.api_post(f"/api/v1/visits/{visit_id}/captures", files={"file": (name, data, "image/png")},
                      data={"eye": eye} if eye else {})


def _count(world: World, model: type) -> int:
    with world.app.state.sessions() as s:
        return s.scalar(select(func.count()).select_from(model))


def _token(world: World, username: str) -> str:
    from medscreen.store.models import User

    with world.app.state.sessions() as s:
        user = s.scalar(select(User).where(User.username == username))
        token = create_api_token(s, user, "test script")
        s.commit()
        return token


# ---------------------------------------------------------------------------- auth


def test_secret_key_is_private(world: World) -> None:
    mode = stat.S_IMODE(os.stat(world.home / "secret_key").st_mode)
    assert mode == 0o600


def test_login_logout_and_cookie_flags(world: World) -> None:
    b = Browser(world.app)
    assert b.client.get("/patients").status_code == 303  # anonymous → login
    assert b.client.get("/patients").headers["location"].startswith("/login?next=/patients")
    bad = b.client.post("/login", data={"username": "worker", "password": "wrong password!", "csrf_token": b.csrf})
    assert bad.status_code == 401 and "Wrong username or password" in bad.text
    ok = b.client.post("/login", data={"username": "worker", "password": "correct horse battery",
                                       "csrf_token": b.csrf, "next": "/patients"})
    assert ok.status_code == 303 and ok.headers["location"] == "/patients"
    cookie = ok.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    page = b.client.get("/patients")
    assert page.status_code == 200 and "Amina Odhiambo" in page.text
    out = b.client.post("/logout", data={"csrf_token": csrf_of(page.text)})
    assert out.status_code == 303
    assert b.client.get("/patients").status_code == 303


def test_open_redirect_refused(world: World) -> None:
    b = Browser(world.app)
    r = b.client.post("/login", data={"username": "worker", "password": "correct horse battery",
                                      "csrf_token": b.csrf, "next": "//evil.example/x"})
    assert r.headers["location"] == "/"


def test_csrf_rejected(world: World, browsers: dict[str, Browser]) -> None:
    b = Browser(world.app)
    r = b.client.post("/login", data={"username": "worker", "password": "correct horse battery", "csrf_token": "x"})
    assert r.status_code == 403 and "reload the page" in r.text
    worker = browsers["worker"]
    r = worker.client.post("/api/v1/patients", json={"name": "No Token"})
    assert r.status_code == 403 and "X-CSRF-Token" in r.json()["detail"]
    r = worker.client.post("/patients", data={"name": "No Token", "csrf_token": "wrong"})
    assert r.status_code == 403
    assert worker.client.get("/api/v1/patients", params={"q": "No Token"}).json() == []


def test_api_unauthenticated_is_json_401(world: World) -> None:
    client = TestClient(world.app)
    r = client.get(f"/api/v1/patients/{world.patient_a}")
    assert r.status_code == 401 and "sign in" in r.json()["detail"]
    r = client.get("/api/v1/patients", headers={"Authorization": "Bearer msk_nonsense"})
    assert r.status_code == 401 and "token" in r.json()["detail"]


def test_bearer_token_needs_no_csrf_and_other_clinic_denied(world: World) -> None:
    token_b = _token(world, "worker.b")
    client = TestClient(world.app)
    headers = {"Authorization": f"Bearer {token_b}"}
    r = client.post("/api/v1/patients", json={"clinic_ref": "B-777"}, headers=headers)
    assert r.status_code == 201, r.text
    denied = client.get(f"/api/v1/patients/{world.patient_a}", headers=headers)
    assert denied.status_code == 404 and "does not exist" in denied.json()["detail"]  # as if missing (issue 13)
    assert client.get(f"/api/v1/patients/{world.patient_b}", headers=headers).status_code == 200


# ---------------------------------------------------------------------------- roles and patients


def test_roles(world: World, browsers: dict[str, Browser]) -> None:
    reviewer, admin, worker = browsers["reviewer"], browsers["admin"], browsers["worker"]
    # reviewer reads but may not register patients or upload
    assert reviewer.client.get(f"/api/v1/patients/{world.patient_a}").status_code == 200
    r = reviewer.api_post("/api/v1/patients", json={"name": "X"})
    assert r.status_code == 403 and "may not patient.create" in r.json()["detail"]
    # health worker may not see the review queue (page: clear 403 page)
    page = worker.client.get("/reviews")
    assert page.status_code == 403 and "Not allowed" in page.text
    assert worker.client.get("/api/v1/reviews/queue").status_code == 403
    # admin sees every clinic, and must name the clinic to register
    names = {p["name"] for p in admin.client.get("/api/v1/patients").json()}
    assert {"Amina Odhiambo", "Baraka Mwangi"} <= names
    r = admin.api_post("/api/v1/patients", json={"name": "Admin Made"})
    assert r.status_code == 422 and "clinic_id" in r.json()["detail"]
    r = admin.api_post("/api/v1/patients", json={"name": "Admin Made", "clinic_id": world.clinic_b})
    assert r.status_code == 201
    # a worker of clinic A never sees clinic B's patients
    names = {p["name"] for p in worker.client.get("/api/v1/patients").json()}
    assert "Baraka Mwangi" not in names and "Admin Made" not in names


def test_register_and_search(world: World, browsers: dict[str, Browser]) -> None:
    worker = browsers["worker"]
    r = worker.client.post("/patients", data={"csrf_token": worker.csrf, "name": "Zawadi Kamau",
                                              "clinic_ref": "A-100", "birth_year": "1970", "sex": "female"})
    assert r.status_code == 303
    assert "Zawadi Kamau" in worker.client.get(r.headers["location"]).text
    assert [p["clinic_ref"] for p in worker.client.get("/api/v1/patients", params={"q": "zawadi"}).json()] == ["A-100"]
    assert [p["name"] for p in worker.client.get("/api/v1/patients", params={"q": "A-10"}).json()] == ["Zawadi Kamau"]
    assert "Zawadi Kamau" in worker.client.get("/patients", params={"q": "Kamau"}).text
    dup = worker.api_post("/api/v1/patients", json={"name": "Other", "clinic_ref": "A-100"})
    assert dup.status_code == 422 and "already used" in dup.json()["detail"]
    empty = worker.client.post("/patients", data={"csrf_token": worker.csrf, "name": "", "clinic_ref": ""})
    assert empty.status_code == 422 and "name or the clinic" in empty.text


# ---------------------------------------------------------------------------- uploads, results, reviews


def test_upload_screen_review_report(world: World, browsers: dict[str, Browser]) -> None:
    worker, reviewer = browsers["worker"], browsers["reviewer"]
    visit_id = _visit(worker, world.patient_a)
    r = _upload(worker, visit_id, png_bytes(), eye="OD")
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["status"] in ("pending", "running", "done") and body["url"].endswith(str(body["screening_id"]))
    done = wait_done(worker.client, body["screening_id"])
    assert done["status"] == "done", done
    assert done["result"]["advice"] == "refer" and done["result"]["glaucoma"]["probability"] == 0.8
    assert done["eye"] == "OD"
    overlay = worker.client.get(done["overlay_url"])
    assert overlay.status_code == 200 and overlay.content[:3] == b"\xff\xd8\xff"
    assert browsers["worker.b"].client.get(done["overlay_url"]).status_code == 404
    # the visit page shows the result panel; the patient page draws the timeline
    page = worker.client.get(f"/visits/{visit_id}")
    assert "Advice: <strong>REFER</strong>" in page.text and 'capture="environment"' in page.text
    assert "<svg" in worker.client.get(f"/patients/{world.patient_a}").text
    timeline = worker.client.get(f"/api/v1/patients/{world.patient_a}/timeline", params={"eye": "OD"}).json()
    assert timeline[-1]["screening_id"] == body["screening_id"] and timeline[-1]["glaucoma_probability"] == 0.8
    # report
    pdf = worker.client.get(f"/api/v1/visits/{visit_id}/report.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    # review queue and confirm (API) / correct (form)
    queue = reviewer.client.get("/api/v1/reviews/queue").json()
    assert body["screening_id"] in [q["screening_id"] for q in queue]
    assert worker.api_post(f"/api/v1/screenings/{body['screening_id']}/reviews",
                           json={"decision": "confirm"}).status_code == 403
    r = reviewer.api_post(f"/api/v1/screenings/{body['screening_id']}/reviews", json={"decision": "confirm"})
    assert r.status_code == 201 and r.json()["label"] == "glaucoma"
    assert body["screening_id"] not in [q["screening_id"] for q in reviewer.client.get("/api/v1/reviews/queue").json()]
    case = reviewer.client.get(f"/reviews/{body['screening_id']}")
    assert case.status_code == 200 and "Confirm the model" in case.text
    r = reviewer.client.post(f"/reviews/{body['screening_id']}", data={
        "csrf_token": reviewer.csrf, "task": "progression", "decision": "correct", "label": "progressing",
        "comment": "cup enlarged since last year"})
    assert r.status_code == 303
    reviews = worker.client.get(f"/api/v1/screenings/{body['screening_id']}").json()["reviews"]
    assert [(x["task"], x["decision"], x["label"]) for x in reviews] == [
        ("glaucoma", "confirm", "glaucoma"), ("progression", "correct", "progressing")]
    bad = reviewer.api_post(f"/api/v1/screenings/{body['screening_id']}/reviews",
                            json={"decision": "correct", "label": "glaukoma"})
    assert bad.status_code == 422 and "did you mean 'glaucoma'" in bad.json()["detail"]


def test_ultrasound_study(world: World, browsers: dict[str, Browser]) -> None:
    worker = browsers["worker"]
    visit_id = _visit(worker, world.patient_a, "ultrasound")
    r = _upload(worker, visit_id, png_bytes(colour=(90, 90, 90)), name="us.png", eye=None)
    assert r.status_code == 202, r.text
    done = wait_done(worker.client, r.json()["screening_id"])
    assert done["status"] == "done" and done["result"]["breast_class"]["label"] == "benign"
    assert "Benign" in worker.client.get(f"/visits/{visit_id}").text


def test_form_upload_without_js(world: World, browsers: dict[str, Browser]) -> None:
    worker = browsers["worker"]
    visit_id = _visit(worker, world.patient_a)
    r = worker.client.post(f"/visits/{visit_id}/captures", data={"csrf_token": worker.csrf, "eye": "OS"},
                           files={"file": ("left.png", png_bytes(colour=(10, 200, 10)), "image/png")})
    assert r.status_code == 303 and "#screening-" in r.headers["location"]


@pytest.mark.parametrize(("data", "name", "status", "words"), [
    (b"patient notes, not an image", "notes.txt", 415, "not an image"),
    (b"", "empty.png", 422, "empty"),
])
def test_bad_upload_stores_nothing(world: World, browsers: dict[str, Browser], data: bytes, name: str, status: int,
                                   words: str) -> None:
    worker = browsers["worker"]
    visit_id = _visit(worker, world.patient_a)
    before = (_count(world, Capture), _count(world, Image), _count(world, Screening))
    r = _upload(worker, visit_id, data, name=name)
    assert r.status_code == status and name in r.json()["detail"] and words in r.json()["detail"]
    assert (_count(world, Capture), _count(world, Image), _count(world, Screening)) == before


def test_too_many_pixels_and_bytes(world: World, browsers: dict[str, Browser]) -> None:
    worker = browsers["worker"]
    visit_id = _visit(worker, world.patient_a)
    blobs = world.app.state.blobs
    before = _count(world, Capture)
    saved = blobs.max_pixels, blobs.max_bytes
    try:
        blobs.max_pixels = 100
        r = _upload(worker, visit_id, png_bytes(20, 20), name="huge.png")
        assert r.status_code == 413 and "huge.png" in r.json()["detail"] and "pixels" in r.json()["detail"]
        blobs.max_pixels, blobs.max_bytes = saved[0], 50
        r = _upload(worker, visit_id, png_bytes(), name="big.png")
        assert r.status_code == 413 and "big.png" in r.json()["detail"] and "bytes" in r.json()["detail"]
        # the page form shows the same message on the visit page
        page = worker.client.post(f"/visits/{visit_id}/captures", data={"csrf_token": worker.csrf, "eye": "OD"},
                                  files={"file": ("big.png", png_bytes(), "image/png")})
        assert page.status_code == 413 and "big.png" in page.text
    finally:
        blobs.max_pixels, blobs.max_bytes = saved
    assert _count(world, Capture) == before
    r = _upload(worker, visit_id, png_bytes(), eye="left")
    assert r.status_code == 422 and "OD" in r.json()["detail"]


def test_other_clinic_cannot_upload(world: World, browsers: dict[str, Browser]) -> None:
    visit_id = _visit(browsers["worker"], world.patient_a)
    r = _upload(browsers["worker.b"], visit_id, png_bytes(colour=(1, 2, 3)))
    assert r.status_code == 404
    assert browsers["worker.b"].client.get(f"/visits/{visit_id}").status_code == 404


def test_requeue_after_crash(world: World, browsers: dict[str, Browser]) -> None:
    """A screening left running by a crash is screened again when the worker starts."""
    visit_id = _visit(browsers["worker"], world.patient_a)
    r = _upload(browsers["worker"], visit_id, png_bytes(colour=(5, 6, 7)))
    sid = r.json()["screening_id"]
    wait_done(browsers["worker"].client, sid)
    with world.app.state.sessions() as s:
        s.get(Screening, sid).status = "running"
        s.commit()
    world.app.state.worker.stop()
    assert world.app.state.worker.start() >= 1
    assert wait_done(browsers["worker"].client, sid)["status"] == "done"


# ---------------------------------------------------------------------------- audit, OpenAPI, pages


def test_audit_rows_have_no_patient_data(world: World, browsers: dict[str, Browser]) -> None:
    browsers["worker"].client.get(f"/api/v1/patients/{world.patient_a}")
    anonymous = Browser(world.app)  # this test's own failed login: tests run in any order, on any worker
    anonymous.client.post("/login", data={"username": "worker", "password": "wrong password!",
                                          "csrf_token": anonymous.csrf})
    with world.app.state.sessions() as s:
        rows = list(s.scalars(select(AuditEvent)))
    assert any(r.action == "patient.read" and r.object_id == str(world.patient_a) for r in rows)
    assert any(r.action == "login.failed" and r.user_id is None for r in rows)
    text = " ".join(f"{r.action} {r.object_type} {r.object_id} {r.ip}" for r in rows)
    for secret in (world.patient_name, "Amina", "Odhiambo", "A-001", "1961", "Zawadi", "eye.png"):
        assert secret not in text


def test_openapi_and_static(world: World, browsers: dict[str, Browser]) -> None:
    client = TestClient(world.app)
    assert client.get("/openapi.json").status_code == 401  # signed-in users only (issue 13)
    spec = browsers["worker"].client.get("/openapi.json").json()
    assert "/api/v1/visits/{visit_id}/captures" in spec["paths"]
    assert "/login" not in spec["paths"]
    css = client.get("/static/app.css")
    assert css.status_code == 200 and "http" not in client.get("/static/app.js").text.replace("XMLHttpRequest", "")
    page = client.get("/login")
    assert "Content-Security-Policy" in page.headers and outside_references(page.text) == []
    assert outside_references('<script src="https://cdn.example/x.js"></script><a href="//fonts.example/">') == [
        "https://cdn.example/x.js", "//fonts.example/"]

