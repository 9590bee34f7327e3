"""What the pages and the JSON API share: each request's work on the store, with its access check.

Every function that reaches patient data calls
:func:`~medscreen.store.audit.authorize` (role + clinic check + audit row)
first. Functions add and flush; the route commits.
"""

from __future__ import annotations

import hashlib
import io
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image as PILImage
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from medscreen.config import LimitSettings
from medscreen.errors import ImageReadError
from medscreen.io.images import image_info
from medscreen.store.audit import audit, audit_rows, authorize
from medscreen.store.blobs import BlobStore
from medscreen.store.database import get_row
from medscreen.store.errors import StoreError
from medscreen.store.laterality import answer_eye
from medscreen.store.models import (
    Capture,
    Clinic,
    Modality,
    Patient,
    Role,
    Screening,
    Sex,
    User,
    Visit,
    utcnow,
)
from medscreen.store.uploads import OriginalSize, capture_for_key, record_capture
from medscreen.store.users import require

__all__ = [
    "NotFoundError",
    "get_record",
    "check_text",
    "UploadError",
    "create_patient",
    "create_visit",
    "get_patient",
    "get_screening",
    "get_visit",
    "latest_screenings",
    "original_size",
    "search_patients",
    "set_capture_eye",
    "upload_capture",
]


class NotFoundError(StoreError):
    """The record does not exist (the server answers 404)."""


@dataclass
class UploadError(Exception):
    """An upload refused before anything was stored; ``status`` is 413, 415 or 422."""

    status: int
    message: str

    def __str__(self) -> str:
        return self.message


def get_record(session: Session, cls: type, record_id: int) -> Any:
    """The row of ``cls`` with ``record_id``.

    Raises:
        NotFoundError: none (ids the database cannot hold included: above 2³¹−1 on PostgreSQL, 2⁶³−1 on SQLite).
    """
    obj = get_row(session, cls, record_id)
    if obj is None:
        raise NotFoundError(f"{cls.__name__.lower()} {record_id} does not exist; check the id")
    return obj


#: characters refused in names and notes: controls (NUL …) and the bidirectional overrides/isolates that
#: make text display in another order than it is stored (a name that reads differently on screen)
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


def check_text(field: str, value: str | None, *, newlines: bool = False) -> None:
    """Refuse control characters (NUL, escapes …) and bidirectional overrides in a field typed by a person.

    Raises:
        StoreError: names the field and the character's code point.
    """
    for char in value or "":
        if char in "\n\r\t" and newlines:
            continue
        if unicodedata.category(char) == "Cc" or char in _BIDI_CONTROLS:
            raise StoreError(f"{field} contains the invisible character U+{ord(char):04X}; retype it without "
                             "copying from another program")


def get_patient(session: Session, user: User, patient_id: int, ip: str | None) -> Patient:
    """The patient, after ``patient.read`` is authorized and audited."""
    patient = get_record(session, Patient, patient_id)
    authorize(session, user, "patient.read", patient, ip=ip)
    return patient


def get_visit(session: Session, user: User, visit_id: int, ip: str | None) -> Visit:
    """The visit, after ``visit.read`` is authorized and audited."""
    visit = get_record(session, Visit, visit_id)
    authorize(session, user, "visit.read", visit, ip=ip)
    return visit


def get_screening(session: Session, user: User, screening_id: int, ip: str | None) -> Screening:
    """The screening, after ``screening.read`` is authorized and audited."""
    screening = get_record(session, Screening, screening_id)
    authorize(session, user, "screening.read", screening, ip=ip)
    return screening


def search_patients(session: Session, user: User, query: str | None, ip: str | None, limit: int = 50) -> list[Patient]:
    """Patients of the user's clinic (admin: all) whose name contains ``query`` or whose clinic id starts with it."""
    authorize(session, user, "patient.read", ip=ip)
    stmt = select(Patient).order_by(Patient.name, Patient.id).limit(limit)
    if user.role is not Role.ADMIN:
        stmt = stmt.where(Patient.clinic_id == user.clinic_id)
    text = (query or "").strip()
    if text:
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(or_(Patient.name.ilike(f"%{escaped}%", escape="\\"),
                              Patient.clinic_ref.ilike(f"{escaped}%", escape="\\")))
    patients = list(session.scalars(stmt))
    audit_rows(session, user, "patient.list", "patient", [p.id for p in patients], ip)
    return patients


def create_patient(session: Session, user: User, *, name: str | None, clinic_ref: str | None,
                   birth_year: int | None, sex: str | None, clinic_id: int | None, ip: str | None) -> Patient:
    """Register a patient in the user's clinic (an admin names the clinic).

    Raises:
        StoreError: neither name nor clinic id, a bad birth year or sex, no clinic, or a clinic id already used.
        PermissionDeniedError: the user may not register patients there.
    """
    name, clinic_ref = (name or "").strip(), (clinic_ref or "").strip() or None
    check_text("name", name)
    check_text("clinic id", clinic_ref)
    if not name and not clinic_ref:
        raise StoreError("give the patient's name or the clinic's id for them (or both)")
    if len(name) > 200 or (clinic_ref and len(clinic_ref) > 64):
        raise StoreError("name must be at most 200 characters and clinic id at most 64")
    this_year = utcnow().year
    if birth_year is not None and not 1900 <= birth_year <= this_year:
        raise StoreError(f"birth year {birth_year} is not plausible: give a four-digit year from 1900 to {this_year}, "
                         "such as 1961")
    sex_value = None
    if sex:
        try:
            sex_value = Sex(sex.strip().lower())
        except ValueError:
            raise StoreError(f"sex {sex!r} must be one of {', '.join(s.value for s in Sex)}, or left empty") from None
    target = clinic_id if clinic_id is not None else user.clinic_id
    if target is None:
        raise StoreError("an admin has no clinic: choose the clinic the patient belongs to (clinic_id)")
    clinic = get_record(session, Clinic, target)
    require(user, "patient.create", clinic)
    patient = Patient(clinic=clinic, clinic_ref=clinic_ref, name=name, birth_year=birth_year, sex=sex_value)
    session.add(patient)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise StoreError(f"clinic id {clinic_ref!r} is already used by another patient of this clinic; "
                         "search for that patient instead") from None
    audit(session, user, "patient.create", "patient", patient.id, ip)  # the new patient, not its clinic
    return patient


def create_visit(session: Session, user: User, patient_id: int, modality: str, notes: str | None,
                 ip: str | None) -> Visit:
    """Start a fundus visit or an ultrasound study for a patient.

    Raises:
        StoreError: unknown modality.
        PermissionDeniedError: the user may not add visits for this patient.
    """
    try:
        kind = Modality(str(modality).strip().lower())
    except ValueError:
        raise StoreError(f"modality {modality!r} must be 'fundus' or 'ultrasound'") from None
    check_text("notes", notes, newlines=True)
    patient = get_record(session, Patient, patient_id)
    require(user, "visit.create", patient)
    visit = Visit(patient=patient, modality=kind, created_by=user, notes=(notes or "").strip() or None)
    session.add(visit)
    session.flush()
    audit(session, user, "visit.create", "visit", visit.id, ip)  # the new visit, not its patient
    return visit


def classify_image_error(exc: ImageReadError) -> int:
    """413 for files or images over the limits, 415 for content that is no supported image, else 422."""
    text = str(exc)
    if "over the limit" in text or "exceeds the limit" in text:
        return 413
    if "not an image" in text:
        return 415
    return 422


def _people_message(exc: ImageReadError, status: int, filename: str) -> str:
    """What a health worker reads when an upload is refused: what is wrong and what to do, no settings."""
    if status == 413 and "pixels" in str(exc):
        return (f"{filename}: the image has more pixels than this app accepts. Upload the photo as the camera "
                "saved it, or a smaller copy.")
    return str(exc)


def check_upload_shape(filename: str, width: int, height: int, modality: Modality, limits: LimitSettings) -> None:
    """Refuse images too small, too elongated or too large (in pixels, per modality) to screen.

    Raises:
        UploadError: 413 over the modality's pixel limit, 422 too small or too elongated; the message is for people.
    """
    cap = _modality_cap(modality, limits)
    kind = "fundus photo" if modality is Modality.FUNDUS else "ultrasound image"
    if width * height > cap:
        raise UploadError(413, f"{filename}: this {kind} is {width:,} × {height:,} pixels, more than this app "
                               f"accepts ({cap / 1e6:.0f} megapixels). Upload the photo as the camera saved it, "
                               "or a smaller copy.")
    if min(width, height) < limits.min_image_side:
        raise UploadError(422, f"{filename}: this image is only {width} × {height} pixels, too small to screen. "
                               f"Upload the full {kind}, not an icon or a thumbnail.")
    if max(width, height) > limits.max_image_aspect * min(width, height):
        raise UploadError(422, f"{filename}: this image is {width:,} × {height:,} pixels, a thin strip rather than "
                               f"a {kind}. Upload the whole {kind}.")


def upload_capture(session: Session, blobs: BlobStore, user: User, visit_id: int, *, eye: str | None,
                   data: bytes, filename: str, ip: str | None, limits: LimitSettings | None = None,
                   idempotency_key: str | None = None, original: OriginalSize | None = None) -> Capture:
    """Validate and store an uploaded image on a visit with a pending screening (committed).

    The header is read first: an image over the modality's pixel limit, too small or
    too elongated is refused before any pixel is decoded (:func:`check_upload_shape`).
    ``original`` is the photo's size before the page reduced it (see :func:`original_size`).
    With an ``idempotency_key`` (one per upload form), a retry — or a double submit
    running at the same time — returns the capture the first one made.

    Raises:
        UploadError: too large (413), not an image (415), corrupt or unusable (422), the key
            already used for another image (409); nothing is stored.
        StoreError: bad eye for the visit's modality; PermissionDeniedError: not allowed.
    """
    visit = get_record(session, Visit, visit_id)
    if visit.modality is Modality.ULTRASOUND and not eye:
        eye = None
    if len(data) > blobs.max_bytes:
        raise UploadError(413, f"{filename}: file is {len(data):,} bytes, over the limit of {blobs.max_bytes:,}; "
                               "compress or downscale the image")
    key = _check_key(idempotency_key)
    if key is not None and (earlier := capture_for_key(session, user, key)) is not None:
        return _same_upload(earlier, data, visit_id)
    try:
        if limits is not None:
            info = image_info(data, name=filename, max_pixels=blobs.max_pixels, max_bytes=blobs.max_bytes)
            check_upload_shape(filename, info.width, info.height, visit.modality, limits)
        return record_capture(session, blobs, visit=visit, eye=eye, data=data, filename=filename, user=user, ip=ip,
                              max_pixels=None if limits is None else _modality_cap(visit.modality, limits),
                              idempotency_key=key, original=original)
    except ImageReadError as exc:
        status = classify_image_error(exc)
        raise UploadError(status, _people_message(exc, status, filename)) from None
    except IntegrityError:
        earlier = None if key is None else capture_for_key(session, user, key)
        if earlier is None:
            raise
        return _same_upload(earlier, data, visit_id)  # a double submit that ran at the same time


#: the largest original the page may report: 2 GB and 100,000 px a side (a camera's photo is far smaller)
_MAX_ORIGINAL_BYTES, _MAX_ORIGINAL_SIDE = 2**31 - 1, 100_000


def original_size(byte_size: int | None, width: int | None, height: int | None) -> OriginalSize | None:
    """The upload form's ``original_byte_size``, ``original_width`` and ``original_height``: all three, or none.

    Raises:
        UploadError: 422 naming the field that is missing or out of range; nothing is stored.
    """
    fields = {"original_byte_size": byte_size, "original_width": width, "original_height": height}
    given = [name for name, value in fields.items() if value is not None]
    if not given:
        return None
    if len(given) < 3:
        missing = ", ".join(name for name in fields if name not in given)
        raise UploadError(422, f"the upload gave {', '.join(given)} but not {missing}: send all three sizes of the "
                               "original photo, or none; reload the page and upload again")
    for name, value in fields.items():
        top = _MAX_ORIGINAL_BYTES if name == "original_byte_size" else _MAX_ORIGINAL_SIDE
        if not 1 <= value <= top:
            raise UploadError(422, f"{name} is {value}, outside 1 … {top:,}; reload the page and upload again")
    return OriginalSize(byte_size, width, height)  # type: ignore[arg-type]


_KEY = re.compile(r"[A-Za-z0-9_-]{8,64}")


def _check_key(key: str | None) -> str | None:
    if key is None or not key.strip():
        return None
    if not _KEY.fullmatch(key.strip()):
        raise UploadError(422, "the upload's idempotency key must be 8 to 64 letters, digits, '-' or '_'; "
                               "reload the page")
    return key.strip()


def _same_upload(earlier: Capture, data: bytes, visit_id: int) -> Capture:
    if earlier.visit_id != visit_id or earlier.image.sha256 != hashlib.sha256(data).hexdigest():
        raise UploadError(409, "this upload form was already used for another image; reload the page and "
                               "upload again")
    return earlier


def _modality_cap(modality: Modality, limits: LimitSettings) -> int:
    return limits.max_fundus_pixels if modality is Modality.FUNDUS else limits.max_ultrasound_pixels


def set_capture_eye(session: Session, user: User, capture_id: int, eye: str, ip: str | None) -> tuple[Capture, bool]:
    """Answer the laterality question for a capture: keep its eye or move it (audited); True when it moved.

    Raises:
        NotFoundError: no such capture; PermissionDeniedError: not allowed; StoreError: a bad eye.
    """
    capture = get_record(session, Capture, capture_id)
    return capture, answer_eye(session, capture, user, eye, ip)


def latest_screenings(visit: Visit) -> list[tuple[Capture, Screening]]:
    """Each capture of the visit with its newest screening, in upload order."""
    return [(c, c.screenings[-1]) for c in visit.captures if c.screenings]


def read_overlay(path: Path) -> np.ndarray | None:
    """An overlay image as an RGB array, or None when it is missing."""
    if not path.is_file():
        return None
    with PILImage.open(io.BytesIO(path.read_bytes())) as im:
        return np.asarray(im.convert("RGB"))
