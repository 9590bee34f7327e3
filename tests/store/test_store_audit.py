"""Audit rows: every access recorded with ids only, never patient data."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from store_support import World, png_bytes

from medscreen.store.audit import audit, authorize
from medscreen.store.blobs import BlobStore
from medscreen.store.errors import PermissionDeniedError, StoreError
from medscreen.store.models import AuditEvent
from medscreen.store.uploads import record_capture


def _patient_values(world: World) -> list[str]:
    p = world.patient
    return [p.name, *p.name.split(), p.clinic_ref, str(p.birth_year), "od.png"]


def test_audit_rows_hold_ids_only(
    session: Session, blobs: BlobStore, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="medscreen")
    visit = world.visit(session)
    authorize(session, world.worker, "patient.read", world.patient, ip="192.168.1.20")
    authorize(session, world.worker, "patient.create", ip="::1")
    record_capture(session, blobs, visit=visit, eye="OD", data=png_bytes(), filename="od.png", user=world.worker)
    with pytest.raises(PermissionDeniedError):
        authorize(session, world.worker_b, "patient.read", world.patient)
    session.commit()

    events = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [(e.user_id, e.action, e.object_type, e.object_id) for e in events] == [
        (world.worker.id, "patient.read", "patient", str(world.patient.id)),
        (world.worker.id, "patient.create", "patient", None),
        (world.worker.id, "capture.create", "capture", "1"),
    ]
    assert events[0].ip == "192.168.1.20" and events[0].at.tzinfo is not None
    stored = " ".join(str(getattr(e, c.name)) for e in events for c in AuditEvent.__table__.columns)
    logged = caplog.text
    for value in _patient_values(world):
        assert value not in stored
        assert value not in logged


@pytest.mark.parametrize(
    ("action", "obj_type", "obj_id", "ip", "message"),
    [
        ("patient.read", "patient", "Amina Odhiambo", None, "never a name"),
        ("patient.read", "patient", "Amina", None, "never a name"),
        ("patient.read", "patient", True, None, "never a name"),
        ("read Amina's file", "patient", 1, None, "dotted lower-case"),
        ("patient.read", "Amina", 1, None, "lower-case name"),
        ("patient.read", "patient", 1, "not-an-ip", "not an IP"),
    ],
)
def test_audit_refuses_free_text(
    session: Session, world: World, action: str, obj_type: str, obj_id: object, ip: str | None, message: str
) -> None:
    with pytest.raises(StoreError, match=message):
        audit(session, world.worker, action, obj_type, obj_id, ip)  # type: ignore[arg-type]


def test_audit_accepts_ids_hashes_and_anonymous(session: Session, world: World) -> None:
    audit(session, None, "login.failed", "user", None, "10.1.2.3")
    audit(session, world.admin, "labels.export", "image", "ab" * 32)
    audit(session, world.admin, "patient.read", "patient", "3-17")
    session.commit()
    assert [e.object_id for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))] == [
        None,
        "ab" * 32,
        "3-17",
    ]
