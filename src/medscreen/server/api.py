"""The JSON API under ``/api/v1`` (OpenAPI at ``/openapi.json``)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import datetime

from fastapi import APIRouter, File, Form, Header, Query, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from medscreen.i18n import N_, Message, Translator
from medscreen.server.deps import ApiUser, Auth, CsrfChecked, DbSession
from medscreen.server.panels import ScreeningView, screening_view
from medscreen.server.reports import (
    ReportImage,
    disc_crop_jpeg,
    full_resolution_png,
    visit_report_pdf,
)
from medscreen.server.schemas import (
    EyeAnswer,
    EyeAnswered,
    PatientCreate,
    PatientDetail,
    PatientPublic,
    QueueItem,
    RecordId,
    ReviewCreate,
    ReviewPublic,
    ScreeningPublic,
    UploadAccepted,
    VisitCreate,
    VisitPublic,
)
from medscreen.server.services import (
    NotFoundError,
    create_patient,
    create_visit,
    get_patient,
    get_screening,
    get_visit,
    latest_screenings,
    original_size,
    read_overlay,
    search_patients,
    set_capture_eye,
    upload_capture,
)
from medscreen.server.templating import page_translator, term
from medscreen.server.worker import OVERLAY_PHONE_SIDE, overlay_path, phone_overlay
from medscreen.store.audit import audit_rows, authorize
from medscreen.store.blobs import DamagedBlobError
from medscreen.store.errors import StoreError
from medscreen.store.models import (
    Capture,
    Eye,
    Modality,
    Screening,
    ScreeningStatus,
    User,
    Visit,
)
from medscreen.store.screenings import add_review, queue_category, review_queue
from medscreen.store.timeline import eye_timeline
from medscreen.store.uploads import OriginalSize
from medscreen.tasks import primary_task

__all__ = ["router", "review_default_task", "visit_report"]

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1", tags=["api"])

_BROWSER_IMAGES = frozenset({"image/jpeg", "image/png", "image/webp", "image/bmp"})


class TimelinePointPublic(BaseModel):
    visit_id: int
    taken_at: datetime
    capture_id: int
    screening_id: int
    status: str
    advice: str | None
    glaucoma_probability: float | None
    progression_probability: float | None
    disc_diameter_px: float | None


@router.get("/patients", response_model=list[PatientPublic])
def list_patients(db: DbSession, auth: ApiUser, q: str | None = Query(None, max_length=200)) -> list[PatientPublic]:
    """Patients of your clinic; ``q`` matches part of the name or the start of the clinic id."""
    patients = search_patients(db, auth.user, q, auth.ip)
    db.commit()
    return [PatientPublic.of(p) for p in patients]


@router.post("/patients", response_model=PatientPublic, status_code=201)
def post_patient(body: PatientCreate, db: DbSession, auth: CsrfChecked) -> PatientPublic:
    """Register a patient (health worker or admin)."""
    patient = create_patient(db, auth.user, ip=auth.ip, **body.model_dump())
    db.commit()
    return PatientPublic.of(patient)


@router.get("/patients/{patient_id}", response_model=PatientDetail)
def get_patient_detail(patient_id: RecordId, db: DbSession, auth: ApiUser) -> PatientDetail:
    """A patient with their visits and the captures of each."""
    patient = get_patient(db, auth.user, patient_id, auth.ip)
    db.commit()
    return PatientDetail(**PatientPublic.of(patient).model_dump(), visits=[VisitPublic.of(v) for v in patient.visits])


@router.get("/patients/{patient_id}/timeline", response_model=list[TimelinePointPublic])
def get_timeline(patient_id: RecordId, db: DbSession, auth: ApiUser,
                 eye: str = Query(..., pattern="^(OD|OS|od|os)$")) -> list[TimelinePointPublic]:
    """One eye's fundus screenings over time, oldest first."""
    patient = get_patient(db, auth.user, patient_id, auth.ip)
    points = eye_timeline(db, patient, eye)
    db.commit()
    return [TimelinePointPublic(**{k: v for k, v in p.items() if k != "image_sha256"}) for p in points]


@router.post("/visits", response_model=VisitPublic, status_code=201)
def post_visit(body: VisitCreate, db: DbSession, auth: CsrfChecked) -> VisitPublic:
    """Start a fundus visit or an ultrasound study."""
    visit = create_visit(db, auth.user, body.patient_id, body.modality, body.notes, auth.ip)
    db.commit()
    return VisitPublic.of(visit, captures=False)


@router.get("/visits/{visit_id}", response_model=VisitPublic)
def get_visit_detail(visit_id: RecordId, db: DbSession, auth: ApiUser) -> VisitPublic:
    """A visit with its captures and their screenings' status."""
    visit = get_visit(db, auth.user, visit_id, auth.ip)
    db.commit()
    return VisitPublic.of(visit)


_ORIGINAL_HELP = ("Only when the client reduced the photo before sending it: the original's size in bytes, width "
                  "and height in pixels (all three, or none).")


@router.post("/visits/{visit_id}/captures", response_model=UploadAccepted, status_code=202)
def post_capture(visit_id: RecordId, request: Request, db: DbSession, auth: CsrfChecked,
                 file: UploadFile = File(..., description="The image (PNG, JPEG, TIFF, BMP, WebP, DICOM)."),
                 eye: str | None = Form(None, description="OD (right) or OS (left) for a fundus visit; omit for ultrasound."),
                 idempotency_key: str | None = Form(None, max_length=64, description="One key per upload: a retry "
                                                    "with the same key returns the first upload's screening."),
                 idempotency_header: str | None = Header(None, alias="Idempotency-Key", max_length=64),
                 original_byte_size: int | None = Form(None, description=_ORIGINAL_HELP),
                 original_width: int | None = Form(None, description=_ORIGINAL_HELP),
                 original_height: int | None = Form(None, description=_ORIGINAL_HELP),
                 ) -> UploadAccepted:
    """Upload an image; it is screened in the background: poll the returned ``url``.

    Send an idempotency key (the ``Idempotency-Key`` header or the ``idempotency_key`` field)
    to make a retry safe: the same key and image return the first upload's screening.
    Full-size images are accepted (within the limits); a client that shrinks a photo
    before sending it gives the original's size in the three ``original_*`` fields.
    """
    original = original_size(original_byte_size, original_width, original_height)
    capture = accept_upload(request, db, auth.user, auth.ip, visit_id, file, eye,
                            idempotency_header or idempotency_key, original)
    screening = capture.screenings[0]
    return UploadAccepted(screening_id=screening.id, capture_id=capture.id, status=screening.status.value,
                          url=f"/api/v1/screenings/{screening.id}")


def accept_upload(request: Request, db: Session, user: User, ip: str | None, visit_id: int, file: UploadFile,
                  eye: str | None, idempotency_key: str | None = None, original: OriginalSize | None = None,
                  ) -> Capture:
    """Read the upload within the byte limit, record it and queue its screening (shared with the pages)."""
    state = request.app.state
    name = (file.filename or "upload").rsplit("/", 1)[-1][:200]
    data = file.file.read(state.blobs.max_bytes + 1)
    capture = upload_capture(db, state.blobs, user, visit_id, eye=eye, data=data, filename=name, ip=ip,
                             limits=state.settings.limits, idempotency_key=idempotency_key, original=original)
    state.worker.submit(capture.screenings[0].id)
    return capture


@router.get("/screenings/{screening_id}", response_model=ScreeningPublic)
def get_screening_status(screening_id: RecordId, db: DbSession, auth: ApiUser) -> ScreeningPublic:
    """A screening's status; ``result`` holds the ScreeningResult once done."""
    screening = get_screening(db, auth.user, screening_id, auth.ip)
    db.commit()
    return ScreeningPublic.of(screening, screening_view(screening, auth.user))


@router.post("/captures/{capture_id}/eye", response_model=EyeAnswered)
def post_capture_eye(capture_id: RecordId, body: EyeAnswer, db: DbSession, auth: CsrfChecked) -> EyeAnswered:
    """Answer a laterality warning: ``eye`` is the eye the photo shows (moves the capture when it differs)."""
    capture, moved = set_capture_eye(db, auth.user, capture_id, body.eye, auth.ip)
    db.commit()
    return EyeAnswered(capture_id=capture.id, eye=capture.eye.value, moved=moved)


def _stored_image(request: Request, screening: Screening) -> bytes:
    """The screening's original image; a missing file is a 404 in words for people (its path goes to the log)."""
    try:
        return request.app.state.blobs.read(screening.capture.image.sha256)
    except DamagedBlobError:
        raise
    except StoreError as exc:
        logger.error("screening %s: %s", screening.id, exc)
        raise NotFoundError(f"the image of screening {screening.id} is missing from this computer's data folder; "
                            "ask the person who looks after it to restore the data folder from a backup") from None


#: Images are patient data, so only the user's own browser may keep them (``private``), for a day; after that the
#: browser asks again with the ETag and gets a 304 without the bytes. Each URL's content never changes (an image is
#: stored by its SHA-256, an overlay is made once per screening), so a day-old copy is never stale; signing out
#: clears the browser's cache (``Clear-Site-Data``). Pages keep ``no-store``: see ``app.security_headers``.
IMAGE_CACHE_CONTROL = "private, max-age=86400"


def _image_response(request: Request, etag: str, make: Callable[[], tuple[bytes, str]]) -> Response:
    """``make()``'s image with the image caching headers, or a 304 when the browser already has this ETag."""
    tag = f'"{etag}"'
    headers = {"Cache-Control": IMAGE_CACHE_CONTROL, "ETag": tag}
    sent = request.headers.get("if-none-match", "")
    if any(t.strip().removeprefix("W/") in (tag, "*") for t in sent.split(",")):
        return Response(status_code=304, headers=headers)
    data, media_type = make()
    return Response(data, media_type=media_type, headers=headers)


@router.get("/screenings/{screening_id}/image", response_class=Response,
            responses={200: {"content": {"image/*": {}}}, 304: {"description": "The browser's copy is current."}})
def get_original(screening_id: RecordId, request: Request, db: DbSession, auth: ApiUser) -> Response:
    """The uploaded image at full resolution: as stored when a browser shows it, else as PNG (DICOM, TIFF)."""
    screening = get_screening(db, auth.user, screening_id, auth.ip)
    image = screening.capture.image
    db.commit()
    as_stored = image.media_type in _BROWSER_IMAGES

    def make() -> tuple[bytes, str]:
        data = _stored_image(request, screening)
        return (data, image.media_type) if as_stored else (full_resolution_png(data), "image/png")

    return _image_response(request, image.sha256 if as_stored else f"{image.sha256}-png", make)


@router.get("/screenings/{screening_id}/disc.jpg", response_class=Response,
            responses={200: {"content": {"image/jpeg": {}}}, 304: {"description": "The browser's copy is current."}})
def get_disc_crop(screening_id: RecordId, request: Request, db: DbSession, auth: ApiUser) -> Response:
    """The square around the optic disc that the glaucoma model looked at, from the original image."""
    screening = get_screening(db, auth.user, screening_id, auth.ip)
    db.commit()
    box = ((screening.result_json or {}).get("disc") or {}).get("crop_box")
    if not box:
        raise NotFoundError(f"screening {screening_id} has no disc crop (no disc found, or not a fundus photo)")
    etag = hashlib.sha256(f"{screening.capture.image.sha256} {box}".encode()).hexdigest()
    return _image_response(request, etag,
                           lambda: (disc_crop_jpeg(_stored_image(request, screening), box), "image/jpeg"))


@router.get("/screenings/{screening_id}/overlay.jpg", response_class=Response,
            responses={200: {"content": {"image/jpeg": {}}}, 304: {"description": "The browser's copy is current."}})
def get_overlay(screening_id: RecordId, request: Request, db: DbSession, auth: ApiUser,
                w: int | None = Query(None, description=f"{OVERLAY_PHONE_SIDE} for the phone's rendition (its "
                                                        "longest side); omit for the 1024-px overlay.")) -> Response:
    """The image with the disc (or lesion) outlined, once the screening is done."""
    if w not in (None, OVERLAY_PHONE_SIDE):
        raise StoreError(f"w={w} is not a size this server makes: use w={OVERLAY_PHONE_SIDE} or leave it out")
    get_screening(db, auth.user, screening_id, auth.ip)
    db.commit()
    home = request.app.state.data_home
    path = overlay_path(home, screening_id) if w is None else phone_overlay(home, screening_id)
    if path is None or not path.is_file():
        raise NotFoundError(f"screening {screening_id} has no overlay yet; wait until its status is done")
    # the overlay is written once (atomically; a retried screening writes a new file), so its size and time name
    # its content: a browser that already has it gets a 304 without the file being read
    stat = path.stat()
    etag = hashlib.sha256(f"{screening_id} {path.name} {stat.st_size} {stat.st_mtime_ns}".encode()).hexdigest()
    return _image_response(request, etag, lambda: (path.read_bytes(), "image/jpeg"))


def review_default_task(modality: Modality) -> str:
    """The finding a review is about when none is named."""
    return primary_task(modality.value).name


@router.post("/screenings/{screening_id}/reviews", response_model=ReviewPublic, status_code=201)
def post_review(screening_id: RecordId, body: ReviewCreate, db: DbSession, auth: CsrfChecked) -> ReviewPublic:
    """Confirm or correct a finding (reviewers and admins)."""
    screening = get_screening(db, auth.user, screening_id, auth.ip)
    authorize(db, auth.user, "review.create", screening, ip=auth.ip)
    task = body.task or review_default_task(screening.capture.visit.modality)
    review = add_review(db, screening, auth.user, task=task, decision=body.decision, label=body.label,
                        comment=body.comment)
    db.commit()
    return ReviewPublic.of(review)


@router.get("/reviews/queue", response_model=list[QueueItem])
def get_review_queue(db: DbSession, auth: ApiUser,
                     show: str | None = Query(None, description="One of urgent, refer, review, rescreen, rejected "
                                              "(not a fundus/ultrasound image); default: all but rejected.")
                     ) -> list[QueueItem]:
    """Finished, unreviewed screenings, most urgent first: urgent malignant, refer, review, rescreen (reviewers)."""
    authorize(db, auth.user, "review.read", ip=auth.ip)
    items = review_queue(db, auth.user, category=show)
    audit_rows(db, auth.user, "screening.list", "screening", [s.id for s in items], auth.ip)
    db.commit()
    return [QueueItem(screening_id=s.id, category=queue_category(s), patient_id=s.capture.visit.patient_id, visit_id=s.capture.visit_id,
                      modality=s.capture.visit.modality.value, eye=None if s.capture.eye is None else s.capture.eye.value,
                      advice=None if s.advice is None else s.advice.value, finished_at=s.finished_at)
            for s in items]


def _review_status(view: ScreeningView, t: Translator) -> str:
    rv = view.review
    if rv is None:
        waiting = view.advice in ("refer", "review", "rescreen")
        return t.gettext(N_("not reviewed yet (a specialist will look at it)") if waiting else N_("not reviewed yet"))
    confirmed = rv.decision.value == "confirm"
    status = Message(N_("confirmed by %(name)s on %(time)s UTC: %(task)s finding is %(label)s") if confirmed else
                     N_("corrected by %(name)s on %(time)s UTC: %(task)s finding is now %(label)s"), {
        "name": rv.reviewer.username, "time": f"{rv.created_at:%Y-%m-%d %H:%M}", "task": term(rv.task.value),
        "label": term(rv.label or "")})
    return t.render(status) + (f" — “{rv.comment}”" if rv.comment else "")


def _report_choice(visit: Visit, user: User, t: Translator
                   ) -> tuple[list[tuple[str, ScreeningView, str | None]], list[str]]:
    """Per eye the latest gradable photo (else the latest finished one); per ultrasound image, each finished one."""
    done = [(c, s) for c, s in latest_screenings(visit) if s.status is ScreeningStatus.DONE and s.result_json]
    chosen: list[tuple[str, ScreeningView, str | None]] = []
    missing: list[str] = []
    if visit.modality is Modality.ULTRASOUND:
        for n, (_, screening) in enumerate(done, start=1):
            chosen.append((t.render(Message(N_("Image %(n)s"), {"n": n})), screening_view(screening, user, t), None))
        return chosen, missing
    for eye, name in ((Eye.OD, N_("Right eye (OD)")), (Eye.OS, N_("Left eye (OS)"))):
        photos = [(c, s) for c, s in done if c.eye is eye]
        gradable = [(c, s) for c, s in photos if s.result_json.get("gradable")]
        if not photos:
            missing.append(t.render(Message(N_("%(eye)s: no finished screening in this visit."), {"eye": Message(name)})))
            continue
        _, screening = (gradable or photos)[-1]
        note = None if len(photos) == 1 else t.render(Message(
            N_("the latest gradable of %(n)s photos") if gradable else N_("no gradable photo among %(n)s"),
            {"n": len(photos)}))
        chosen.append((t.gettext(name), screening_view(screening, user, t), note))
    return chosen, missing


def visit_report(request: Request, db: Session, auth: Auth, visit_id: int) -> Response:
    """The visit's PDF (shared with the pages), in the reader's language."""
    t = page_translator(request, auth.user)
    visit = get_visit(db, auth.user, visit_id, auth.ip)
    db.commit()
    chosen, missing = _report_choice(visit, auth.user, t)
    items = []
    for label, view, note in chosen:
        overlay = read_overlay(overlay_path(request.app.state.data_home, view.screening.id))
        if overlay is None or view.result is None:
            continue
        items.append(ReportImage(label=label, result=view.result, overlay=overlay, advice=view.advice or view.result.advice,
                                 review=_review_status(view, t), limits=[t.render(lim.message()) for lim in view.limits.values()],
                                 note=note, reasons=view.reasons, quality_reasons=view.quality_reasons))
    if not items:
        raise NotFoundError(f"visit {visit_id} has no finished screening yet; upload an image and wait for its result")
    p = visit.patient
    unknown = Message(N_("not recorded"))
    patient_lines = [t.render(m) for m in (
        Message(N_("Patient: %(name)s"), {"name": p.name or Message(N_("(no name)"))}) if not p.clinic_ref else
        Message(N_("Patient: %(name)s · clinic id %(ref)s"), {"name": p.name or Message(N_("(no name)")),
                                                              "ref": p.clinic_ref}),
        Message(N_("Birth year: %(year)s · sex: %(sex)s"), {"year": p.birth_year or unknown,
                                                            "sex": term(p.sex.value) if p.sex else unknown}),
        Message(N_("Clinic: %(clinic)s"), {"clinic": p.clinic.name}),
        Message(N_("Visit: %(time)s UTC · %(what)s"), {
            "time": f"{visit.taken_at:%Y-%m-%d %H:%M}",
            "what": Message(N_("fundus photos") if visit.modality is Modality.FUNDUS else N_("breast ultrasound study"))}),
    )]
    pdf = visit_report_pdf(patient_lines, items, missing=missing, t=t)
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="visit-{visit.id}.pdf"',
                             "Cache-Control": "private, no-store", "Content-Language": t.language})


@router.get("/visits/{visit_id}/report.pdf", response_class=Response,
            responses={200: {"content": {"application/pdf": {}}}})
def get_visit_report(visit_id: RecordId, request: Request, db: DbSession, auth: ApiUser) -> Response:
    """A printable PDF of the visit: patient, the latest gradable photo of each eye, advice, reviews, models."""
    return visit_report(request, db, auth, visit_id)
