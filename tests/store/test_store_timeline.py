"""One eye's screenings over time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.orm import Session
from store_support import World, fundus_result, png_bytes

from medscreen.store.blobs import BlobStore
from medscreen.store.errors import StoreError
from medscreen.store.models import Screening
from medscreen.store.screenings import record_result
from medscreen.store.timeline import eye_timeline
from medscreen.store.uploads import record_capture


def _photo(
    session: Session, blobs: BlobStore, world: World, taken_at: datetime, eye: str, shade: int, probability: float
):
    visit = world.visit(session, taken_at=taken_at)
    capture = record_capture(
        session, blobs, visit=visit, eye=eye, data=png_bytes(colour=(shade, 0, 0)), filename="x.png", user=world.worker
    )
    record_result(session, capture.screenings[0], fundus_result(probability, diameter=100.0 + shade))
    session.commit()
    return capture


def test_timeline_is_ordered_by_visit_date(session: Session, blobs: BlobStore, world: World) -> None:
    start = datetime(2023, 5, 1, 9, 0, tzinfo=UTC)
    # recorded out of order; one visit given in another time zone
    late = _photo(session, blobs, world, start + timedelta(days=400), "OD", 3, 0.7)
    first = _photo(session, blobs, world, start, "OD", 1, 0.2)
    middle = _photo(
        session, blobs, world, (start + timedelta(days=200)).astimezone(timezone(timedelta(hours=3))), "OD", 2, 0.4
    )
    _photo(session, blobs, world, start + timedelta(days=100), "OS", 4, 0.9)  # the other eye

    points = eye_timeline(session, world.patient, "od")
    assert [p["capture_id"] for p in points] == [first.id, middle.id, late.id]
    assert [p["glaucoma_probability"] for p in points] == [0.2, 0.4, 0.7]
    assert [p["disc_diameter_px"] for p in points] == [101.0, 102.0, 103.0]
    assert points[0]["taken_at"] == start and points[0]["taken_at"].tzinfo is not None
    assert points[2]["advice"] == "refer" and points[0]["status"] == "done"
    assert points[0]["image_sha256"] == first.image.sha256
    assert [p["glaucoma_probability"] for p in eye_timeline(session, world.patient, "OS")] == [0.9]
    assert eye_timeline(session, world.patient_b, "OD") == []


def test_a_rescreened_photo_shows_its_latest_screening(session: Session, blobs: BlobStore, world: World) -> None:
    capture = _photo(session, blobs, world, datetime(2024, 1, 1, tzinfo=UTC), "OS", 1, 0.3)
    again = Screening(capture=capture)
    session.add(again)
    session.flush()
    record_result(session, again, fundus_result(0.6))
    [point] = eye_timeline(session, world.patient, "OS")
    assert (point["screening_id"], point["glaucoma_probability"]) == (again.id, 0.6)


def test_bad_eye(session: Session, world: World) -> None:
    with pytest.raises(StoreError, match="'OD' \\(right\\) or 'OS' \\(left\\)"):
        eye_timeline(session, world.patient, "both")


def test_naive_datetimes_are_refused(session: Session, world: World) -> None:
    with pytest.raises(StoreError, match="no time zone"):
        world.visit(session, taken_at=datetime(2024, 1, 1))


def test_datetimes_read_back_in_utc(session: Session, world: World) -> None:
    """On every backend; PostgreSQL answers in the server's time zone (the test cluster's is Africa/Nairobi)."""
    nairobi = timezone(timedelta(hours=3))
    visit = world.visit(session, taken_at=datetime(2024, 1, 1, 12, 0, tzinfo=nairobi))
    session.expire_all()  # read from the database, not the objects in memory
    assert visit.taken_at == datetime(2024, 1, 1, 9, 0, tzinfo=UTC) and visit.taken_at.tzinfo is UTC
    assert world.clinic_a.created_at.tzinfo is UTC
