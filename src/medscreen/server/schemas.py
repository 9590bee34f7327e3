"""JSON bodies of the API, one family per resource (Create / Public)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from annotated_types import Ge, Le
from pydantic import BaseModel, Field

from medscreen.store.laterality import detected_eye, eye_mismatch, eye_warning
from medscreen.store.models import Capture, Patient, Review, ReviewTask, Screening, Visit

__all__ = [
    "MAX_RECORD_ID",
    "RecordId",
    "CapturePublic",
    "EyeAnswer",
    "EyeAnswered",
    "LimitsPublic",
    "PatientCreate",
    "PatientDetail",
    "PatientPublic",
    "QueueItem",
    "ReviewCreate",
    "ReviewPublic",
    "ScreeningPublic",
    "UploadAccepted",
    "VisitCreate",
    "VisitPublic",
]


#: the largest id a request may name (a signed 64-bit integer; SQLite's ids): larger is a 422 on every backend.
#: PostgreSQL's INTEGER ids end at 2³¹−1: a larger id within this bound is a 404 there (store.database.get_row)
MAX_RECORD_ID = 2**63 - 1

#: a record id in a path, query or body: 1 to :data:`MAX_RECORD_ID`, else 422 before any SQL is run
RecordId = Annotated[int, Ge(1), Le(MAX_RECORD_ID)]


class PatientCreate(BaseModel):
    """A new patient: a name or the clinic's id for them (or both)."""

    name: str | None = Field(None, max_length=200)
    clinic_ref: str | None = Field(None, max_length=64, description="The clinic's own id for the patient.")
    birth_year: int | None = Field(None, ge=1900, description="From 1900 to the current year.")
    sex: Literal["female", "male", "other"] | None = None
    clinic_id: RecordId | None = Field(None, description="Admins only: the clinic; others register in their own.")


class PatientPublic(BaseModel):
    id: int
    clinic_id: int
    clinic_ref: str | None
    name: str
    birth_year: int | None
    sex: str | None

    @classmethod
    def of(cls, p: Patient) -> PatientPublic:
        return cls(id=p.id, clinic_id=p.clinic_id, clinic_ref=p.clinic_ref, name=p.name, birth_year=p.birth_year,
                   sex=None if p.sex is None else p.sex.value)


class VisitCreate(BaseModel):
    patient_id: RecordId
    modality: Literal["fundus", "ultrasound"]
    notes: str | None = Field(None, max_length=2000)


class ImageSize(BaseModel):
    byte_size: int
    width: int
    height: int


class CapturePublic(BaseModel):
    id: int
    eye: str | None
    uploaded_at: datetime
    screening_id: int | None
    status: str | None
    advice: str | None
    image: ImageSize | None = Field(None, description="The stored image.")
    original: ImageSize | None = Field(
        None, description="The photo as the camera saved it, when the page reduced it before upload; else null.")

    @classmethod
    def of(cls, c: Capture) -> CapturePublic:
        s = c.screenings[-1] if c.screenings else None
        original = None if c.original_byte_size is None else ImageSize(
            byte_size=c.original_byte_size, width=c.original_width, height=c.original_height)
        return cls(id=c.id, eye=None if c.eye is None else c.eye.value, uploaded_at=c.uploaded_at,
                   screening_id=None if s is None else s.id, status=None if s is None else s.status.value,
                   advice=None if s is None or s.advice is None else s.advice.value,
                   image=ImageSize(byte_size=c.image.byte_size, width=c.image.width, height=c.image.height),
                   original=original)


class VisitPublic(BaseModel):
    id: int
    patient_id: int
    modality: str
    taken_at: datetime
    captures: list[CapturePublic] = []

    @classmethod
    def of(cls, v: Visit, *, captures: bool = True) -> VisitPublic:
        return cls(id=v.id, patient_id=v.patient_id, modality=v.modality.value, taken_at=v.taken_at,
                   captures=[CapturePublic.of(c) for c in v.captures] if captures else [])


class PatientDetail(PatientPublic):
    visits: list[VisitPublic]


class UploadAccepted(BaseModel):
    """An upload stored; its screening runs in the background: poll ``url`` until ``status`` is done or failed."""

    screening_id: int
    capture_id: int
    status: str
    url: str


class ReviewCreate(BaseModel):
    """A reviewer's verdict: ``confirm`` the model's finding or ``correct`` it with ``label``."""

    decision: Literal["confirm", "correct"]
    task: ReviewTask | None = Field(
        None, description="Default: the modality's main finding (glaucoma for fundus photos, breast-class for ultrasound).")
    label: str | None = Field(None, max_length=32)
    comment: str | None = Field(None, max_length=4000)


class ReviewPublic(BaseModel):
    """A review; ``superseded_at`` is set once a newer review of the screening replaced it (kept for audit)."""

    id: int
    screening_id: int
    reviewer_id: int
    reviewer: str
    task: str
    decision: str
    label: str | None
    comment: str | None
    created_at: datetime
    superseded_at: datetime | None

    @classmethod
    def of(cls, r: Review) -> ReviewPublic:
        return cls(id=r.id, screening_id=r.screening_id, reviewer_id=r.reviewer_id, reviewer=r.reviewer.username,
                   task=r.task.value, decision=r.decision.value, label=r.label, comment=r.comment,
                   created_at=r.created_at, superseded_at=r.superseded_at)


class LimitsPublic(BaseModel):
    """A model's measured sensitivity and specificity on data it did not train on (from its card)."""

    sensitivity: float | None
    specificity: float | None
    sensitivity_ci95: tuple[float, float] | None
    specificity_ci95: tuple[float, float] | None
    measured_on: str | None
    positive: str | None = Field(None, description="For a multi-class model: the class measured against the rest.")
    experimental: bool


class EyeAnswer(BaseModel):
    """The answer to the laterality warning: the eye the photo is (the detected one, or the chosen one kept)."""

    eye: Literal["OD", "OS"]


class EyeAnswered(BaseModel):
    capture_id: int
    eye: str
    moved: bool


class ScreeningPublic(BaseModel):
    """A screening's state; ``result`` is the pipeline's ``ScreeningResult`` once ``status`` is ``done``.

    ``advice`` is the advice that stands (the current review's, else the model's). ``detected_eye``
    is the eye the photo shows (from the optic disc's side); when it differs from ``eye`` and nobody
    has answered yet, ``warnings`` says so: answer with ``POST /api/v1/captures/{capture_id}/eye``.
    An experimental model's finding (progression) is left out of ``result`` for health workers.
    """

    id: int
    capture_id: int
    visit_id: int
    patient_id: int
    modality: str
    eye: str | None
    detected_eye: str | None = None
    warnings: list[str] = []
    status: Literal["pending", "running", "done", "failed"]
    error: str | None
    result: dict[str, Any] | None
    advice: str | None = None
    model_limits: dict[str, LimitsPublic] = {}
    overlay_url: str | None
    reviews: list[ReviewPublic]
    current_review: ReviewPublic | None = None

    @classmethod
    def of(cls, s: Screening, view: Any) -> ScreeningPublic:
        """``view``: the reader's :class:`~medscreen.server.panels.ScreeningView` of ``s`` (it filters the result)."""
        c = s.capture
        seen = detected_eye(c)
        reviews = [ReviewPublic.of(r) for r in s.reviews]
        current = next((r for r in reviews if view.review is not None and r.id == view.review.id), None)
        warning = eye_warning(c) if eye_mismatch(c) is not None else None
        return cls(
            id=s.id, capture_id=c.id, visit_id=c.visit_id, patient_id=c.visit.patient_id,
            modality=c.visit.modality.value, eye=None if c.eye is None else c.eye.value,
            detected_eye=None if seen is None else seen.value, warnings=[warning] if warning else [],
            status=s.status.value, error=s.error,
            result=None if view.result is None else view.result.model_dump(mode="json"), advice=view.advice,
            model_limits={t: LimitsPublic(**{k: v for k, v in vars(lim).items() if k != "task"})
                          for t, lim in view.limits.items()},
            overlay_url=f"/api/v1/screenings/{s.id}/overlay.jpg" if s.status.value == "done" else None,
            reviews=reviews, current_review=current,
        )


class QueueItem(BaseModel):
    """A queued screening; ``category`` is its filter: urgent, refer, review, rescreen or rejected."""

    screening_id: int
    category: str
    patient_id: int
    visit_id: int
    modality: str
    eye: str | None
    advice: str | None
    finished_at: datetime | None
