"""Items 10, 11, 12: audit gaps, validation of typed text and numbers, what is exposed to whom."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from reliability_support import (
    Browser,
    World,
    make_world,
    png_bytes,
    small_settings,
    wait_done,
)
from server.server_support import outside_references
from sqlalchemy import select

from medscreen.store.models import AuditEvent, User, utcnow


def _events(world: World, action: str) -> list[AuditEvent]:
    with world.app.state.sessions() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


# ---------------------------------------------------------------------------- 12: exposure


def test_api_description_needs_sign_in_and_loads_nothing_from_elsewhere(world: World,
                                                                       browsers: dict[str, Browser]) -> None:
    anonymous = TestClient(world.app, follow_redirects=False)
    assert anonymous.get("/openapi.json").status_code == 401
    assert anonymous.get("/api/docs").status_code == 303
    page = browsers["worker"].client.get("/api/docs")
    assert page.status_code == 200 and "/api/v1/visits/{visit_id}/captures" in page.text
    assert outside_references(page.text) == [] and "<script" not in page.text.replace('<script src="/static/', "")
    assert browsers["worker"].client.get("/openapi.json").json()["paths"]


def test_api_description_can_be_switched_off(tmp_path: Path) -> None:
    for world in make_world(tmp_path / "home", small_settings(api_docs=False)):
        b = Browser(world.app, "admin")
        assert b.client.get("/openapi.json").status_code == 404
        assert b.client.get("/api/docs").status_code == 404


@pytest.mark.parametrize("kind", ["patient", "visit"])
def test_other_clinic_looks_like_missing(world: World, browsers: dict[str, Browser], kind: str) -> None:
    other = browsers["worker.b"]
    record = world.patient_a if kind == "patient" else world.visit_fundus
    theirs = other.client.get(f"/api/v1/{kind}s/{record}")
    missing = other.client.get(f"/api/v1/{kind}s/987654321")
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["detail"].replace(str(record), "N") == missing.json()["detail"].replace("987654321", "N")
    denied = _events(world, f"{kind}.read.denied")
    assert denied and denied[-1].object_id == str(record)  # the attempt is audited (item 10)


def test_role_refusals_stay_403_and_are_audited(world: World, browsers: dict[str, Browser]) -> None:
    assert browsers["worker"].client.get("/api/v1/reviews/queue").status_code == 403
    assert _events(world, "review.read.denied")


@pytest.mark.skipif(os.name != "posix", reason="file modes 0600/0700 are POSIX permissions")
@pytest.mark.sqlite_only  # the database file's mode: PostgreSQL keeps no file in the data folder
def test_data_folder_database_and_images_are_private(world: World, browsers: dict[str, Browser]) -> None:
    r = browsers["worker"].api_post(f"/api/v1/visits/{world.visit_fundus}/captures",
                                    files={"file": ("p.png", png_bytes(70, 50, (9, 9, 9)), "image/png")},
                                    data={"eye": "OD"})
    assert r.status_code == 202
    assert stat.S_IMODE(world.home.stat().st_mode) == 0o700
    assert stat.S_IMODE((world.home / "medscreen.db").stat().st_mode) == 0o600
    images = [p for p in (world.home / "images").rglob("*")]
    assert images
    for path in images:
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path


# ---------------------------------------------------------------------------- 11: validation


@pytest.mark.parametrize(("body", "words"), [
    ({"name": "Future Child", "birth_year": utcnow().year + 1}, "not plausible"),
    ({"name": "Far Future", "birth_year": 2100}, "not plausible"),
    ({"name": "Nul\x00Name"}, "U+0000"),
    ({"name": "Evil\u202eeman"}, "U+202E"),
    ({"name": "Ok", "clinic_ref": "A\u2066-9"}, "U+2066"),
])
def test_typed_values_are_checked(browsers: dict[str, Browser], body: dict, words: str) -> None:
    r = browsers["worker"].api_post("/api/v1/patients", json=body)
    assert r.status_code == 422 and words in r.json()["detail"], r.text


def test_page_review_comment_is_bounded(world: World, browsers: dict[str, Browser]) -> None:
    reviewer = browsers["reviewer"]
    r = reviewer.client.post("/reviews/1", data={"csrf_token": reviewer.csrf, "decision": "confirm",
                                                 "comment": "c" * 4001})
    assert r.status_code in (413, 422)


# ---------------------------------------------------------------------------- 10: audit gaps


def test_lists_and_creations_name_their_records(world: World, browsers: dict[str, Browser]) -> None:
    worker = browsers["worker"]
    created = worker.api_post("/api/v1/patients", json={"name": "Audit Trail", "clinic_ref": "AT-1"}).json()
    assert _events(world, "patient.create")[-1].object_id == str(created["id"])
    visit = worker.api_post("/api/v1/visits", json={"patient_id": created["id"], "modality": "fundus"}).json()
    assert _events(world, "visit.create")[-1].object_id == str(visit["id"])
    listed = worker.client.get("/api/v1/patients", params={"q": "Audit"}).json()
    assert {str(p["id"]) for p in listed} <= {e.object_id for e in _events(world, "patient.list")}
    upload = worker.api_post(f"/api/v1/visits/{visit['id']}/captures", data={"eye": "OD"},
                             files={"file": ("p.png", png_bytes(70, 50, (8, 8, 8)), "image/png")}).json()
    assert wait_done(worker.client, upload["screening_id"])["status"] == "done"  # a case in the queue (refer)
    browsers["reviewer"].client.get("/api/v1/reviews/queue")
    with world.app.state.sessions() as s:
        reviewer_id = s.scalar(select(User.id).where(User.username == "reviewer"))
    listed = _events(world, "screening.list")
    assert listed and all(e.user_id == reviewer_id for e in listed)
