"""Follow-up of one eye: its fundus screenings over time, oldest first.

For each fundus photo of the eye, the latest screening of that photo (a photo
screened again with newer models shows the newer result), with the glaucoma
and progression probabilities and the disc diameter the follow-up plots.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict

from sqlalchemy import select
from sqlalchemy.orm import Session

from medscreen.store.errors import StoreError
from medscreen.store.models import Capture, Eye, Image, Modality, Patient, Screening, ScreeningStatus, Visit

__all__ = ["TimelinePoint", "eye_timeline"]


class TimelinePoint(TypedDict):
    """One photo of the eye and its latest screening (values are None until it is done)."""

    visit_id: int
    taken_at: datetime
    capture_id: int
    screening_id: int
    status: str
    advice: str | None
    glaucoma_probability: float | None
    progression_probability: float | None
    disc_diameter_px: float | None
    image_sha256: str


def eye_timeline(session: Session, patient: Patient, eye: Eye | str) -> list[TimelinePoint]:
    """The screenings of one eye of a patient, ordered by visit date (then upload order).

    Args:
        session: a session of the clinic database.
        patient: the patient (check ``patient.read`` before calling).
        eye: ``"OD"`` (right) or ``"OS"`` (left).

    Raises:
        StoreError: ``eye`` is not OD or OS.
    """
    try:
        side = Eye(str(eye).strip().upper())
    except ValueError:
        raise StoreError(f"eye must be 'OD' (right) or 'OS' (left), got {eye!r}") from None
    rows = session.execute(
        select(Visit.id, Visit.taken_at, Capture.id, Screening, Image.sha256)
        .join(Capture, Capture.visit_id == Visit.id)
        .join(Image, Capture.image_id == Image.id)
        .join(Screening, Screening.capture_id == Capture.id)
        .where(Visit.patient_id == patient.id, Visit.modality == Modality.FUNDUS, Capture.eye == side)
        .order_by(Visit.taken_at, Capture.uploaded_at, Capture.id, Screening.id)
    )
    latest: dict[int, TimelinePoint] = {}  # capture id → point; later screenings of a capture replace earlier ones
    for visit_id, taken_at, capture_id, screening, sha in rows:
        latest[capture_id] = TimelinePoint(
            visit_id=visit_id,
            taken_at=taken_at,
            capture_id=capture_id,
            screening_id=screening.id,
            status=ScreeningStatus(screening.status).value,
            advice=None if screening.advice is None else screening.advice.value,
            glaucoma_probability=screening.glaucoma_probability,
            progression_probability=screening.progression_probability,
            disc_diameter_px=screening.disc_diameter_px,
            image_sha256=sha,
        )
    return list(latest.values())
