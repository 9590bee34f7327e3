"""An upload is recorded whole (file + image, capture, screening, audit rows) or not at all."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session
from store_support import World, png_bytes

from medscreen.errors import ImageReadError
from medscreen.store.blobs import BlobStore
from medscreen.store.errors import PermissionDeniedError, StoreError
from medscreen.store.models import AuditEvent, Capture, Eye, Image, Modality, Screening, ScreeningStatus
from medscreen.store.uploads import record_capture, remove_orphan_blobs


def _counts(session: Session) -> dict[str, int]:
    return {
        m.__name__: session.scalar(select(func.count()).select_from(m)) for m in (Image, Capture, Screening, AuditEvent)
    }


def _image_files(blobs: BlobStore) -> list[Path]:
    return [path for _, path in blobs.iter_files()] + list(blobs.iter_temp_files())


def test_upload_records_image_capture_pending_screening_and_audit(
    session: Session, blobs: BlobStore, world: World
) -> None:
    visit = world.visit(session)
    capture = record_capture(
        session,
        blobs,
        visit=visit,
        eye="od",
        data=png_bytes(32, 24),
        filename="od.png",
        user=world.worker,
        ip="10.0.0.7",
    )
    assert capture.eye is Eye.OD and capture.visit_id == visit.id and capture.uploaded_by_id == world.worker.id
    assert (capture.image.width, capture.image.height, capture.image.media_type) == (32, 24, "image/png")
    assert blobs.path(capture.image.sha256) == blobs.root / capture.image.path
    [screening] = capture.screenings
    assert screening.status is ScreeningStatus.PENDING
    event = session.scalar(select(AuditEvent))
    assert (event.action, event.object_type, event.object_id, event.ip) == (
        "capture.create",
        "capture",
        str(capture.id),
        "10.0.0.7",
    )
    with Session(session.get_bind()) as other:  # committed: another connection sees it
        assert _counts(other) == {"Image": 1, "Capture": 1, "Screening": 1, "AuditEvent": 1}


def test_same_bytes_twice_share_one_image_and_one_file(session: Session, blobs: BlobStore, world: World) -> None:
    visit = world.visit(session)
    data = png_bytes()
    first = record_capture(session, blobs, visit=visit, eye=Eye.OD, data=data, filename="a.png", user=world.worker)
    second = record_capture(session, blobs, visit=visit, eye=Eye.OS, data=data, filename="b.png", user=world.worker)
    assert first.image_id == second.image_id
    assert _counts(session) == {"Image": 1, "Capture": 2, "Screening": 2, "AuditEvent": 2}
    assert len(_image_files(blobs)) == 1


@pytest.mark.parametrize("broken", ["flush", "commit"])
def test_failed_transaction_leaves_no_rows_and_no_new_file(
    session: Session, blobs: BlobStore, world: World, monkeypatch: pytest.MonkeyPatch, broken: str
) -> None:
    visit = world.visit(session)
    before = _counts(session)

    def fail(*args: object, **kwargs: object) -> None:
        raise OperationalError("INSERT", {}, Exception("disk I/O error"))

    monkeypatch.setattr(session, broken, fail)
    with pytest.raises(OperationalError):
        record_capture(session, blobs, visit=visit, eye="OD", data=png_bytes(), filename="od.png", user=world.worker)
    monkeypatch.undo()
    session.rollback()
    assert _counts(session) == before
    assert _image_files(blobs) == []


def test_failure_keeps_a_file_that_other_rows_use(
    session: Session, blobs: BlobStore, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    visit = world.visit(session)
    data = png_bytes()
    kept = record_capture(session, blobs, visit=visit, eye="OD", data=data, filename="od.png", user=world.worker)
    monkeypatch.setattr(session, "commit", lambda: (_ for _ in ()).throw(RuntimeError("crash")))
    with pytest.raises(RuntimeError):
        record_capture(session, blobs, visit=visit, eye="OS", data=data, filename="os.png", user=world.worker)
    monkeypatch.undo()
    assert blobs.find(kept.image.sha256) is not None
    assert _counts(session)["Capture"] == 1


def test_a_concurrent_insert_of_the_same_image_is_retried(
    session: Session, blobs: BlobStore, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    visit = world.visit(session)
    real_commit = session.commit
    calls = []

    def commit_once_conflicting() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise IntegrityError("INSERT INTO images", {}, Exception("UNIQUE constraint failed: images.sha256"))
        real_commit()

    monkeypatch.setattr(session, "commit", commit_once_conflicting)
    capture = record_capture(
        session, blobs, visit=visit, eye="OD", data=png_bytes(), filename="od.png", user=world.worker
    )
    monkeypatch.undo()
    assert len(calls) == 2 and blobs.find(capture.image.sha256) is not None
    assert _counts(session) == {"Image": 1, "Capture": 1, "Screening": 1, "AuditEvent": 1}


def test_invalid_image_stores_nothing(session: Session, blobs: BlobStore, world: World) -> None:
    visit = world.visit(session)
    before = _counts(session)
    with pytest.raises(ImageReadError, match="notes.txt"):
        record_capture(session, blobs, visit=visit, eye="OD", data=b"hello", filename="notes.txt", user=world.worker)
    assert _counts(session) == before and _image_files(blobs) == []


def test_other_clinic_cannot_upload(session: Session, blobs: BlobStore, world: World) -> None:
    visit = world.visit(session)
    with pytest.raises(PermissionDeniedError):
        record_capture(session, blobs, visit=visit, eye="OD", data=png_bytes(), filename="x.png", user=world.worker_b)
    with pytest.raises(PermissionDeniedError):  # reviewers read, they do not upload
        record_capture(session, blobs, visit=visit, eye="OD", data=png_bytes(), filename="x.png", user=world.reviewer)
    assert _image_files(blobs) == []


def test_eye_must_fit_the_modality(session: Session, blobs: BlobStore, world: World) -> None:
    fundus = world.visit(session)
    study = world.visit(session, modality=Modality.ULTRASOUND)
    for eye in (None, "left", "OU"):
        with pytest.raises(StoreError, match="'OD' \\(right\\) or 'OS' \\(left\\)"):
            record_capture(session, blobs, visit=fundus, eye=eye, data=png_bytes(), filename="x.png", user=world.worker)
    with pytest.raises(StoreError, match="ultrasound study"):
        record_capture(session, blobs, visit=study, eye="OD", data=png_bytes(), filename="x.png", user=world.worker)
    capture = record_capture(
        session, blobs, visit=study, eye=None, data=png_bytes(), filename="us.png", user=world.worker
    )
    assert capture.eye is None


def test_remove_orphan_blobs_spares_recorded_and_recent_files(session: Session, blobs: BlobStore, world: World) -> None:
    visit = world.visit(session)
    recorded = record_capture(
        session, blobs, visit=visit, eye="OD", data=png_bytes(), filename="a.png", user=world.worker
    )
    orphan = blobs.put(png_bytes(colour=(1, 2, 3)))  # as after a crash between file and commit
    recent = blobs.put(png_bytes(colour=(4, 5, 6)))
    old = time.time() - 7200
    os.utime(blobs.path(orphan.sha256), (old, old))
    os.utime(blobs.path(recorded.image.sha256), (old, old))
    assert remove_orphan_blobs(session, blobs, older_than=timedelta(hours=1)) == [orphan.sha256]
    assert blobs.find(recorded.image.sha256) and blobs.find(recent.sha256) and not blobs.find(orphan.sha256)
