"""The HTML pages: login, patients, patient, visit (upload and results), review queue and case.

Every form POST carries the session's CSRF token in a hidden ``csrf_token``
field; forms work without JavaScript (only the result polling needs it).
"""

from __future__ import annotations

import math
import secrets
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from medscreen.server.api import accept_upload, review_default_task, visit_report
from medscreen.server.charts import timeline_svg
from medscreen.server.deps import SESSION_KEY, DbSession, PageUser, require_csrf, session_user
from medscreen.server.schemas import RecordId
from medscreen.server.security import CSRF_FIELD, client_ip
from medscreen.server.services import (
    NotFoundError,
    UploadError,
    create_patient,
    create_visit,
    get_patient,
    get_screening,
    get_visit,
    latest_screenings,
    original_size,
    search_patients,
    set_capture_eye,
)
from medscreen.i18n import N_, Message
from medscreen.server.panels import screening_view
from medscreen.server.templating import page_translator, render, term
from medscreen.server.throttle import LoginThrottle, PasswordChecksBusy
from medscreen.store.audit import audit, audit_rows, authorize
from medscreen.store.errors import PermissionDeniedError, StorageUnavailableError, StoreError
from medscreen.store.logins import end_login_session, start_login_session
from medscreen.store.models import Role, Screening, ScreeningStatus, User, Visit
from medscreen.store.screenings import (
    MODALITY_TASKS,
    QUEUE_FILTERS,
    add_review,
    mark_reviews_seen,
    queue_category,
    review_queue,
    new_review_counts,
    unseen_reviews,
)
from medscreen.store.timeline import eye_timeline
from medscreen.store.users import authenticate, set_language, user_id_for
from medscreen.tasks import TASKS

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


def _safe_next(target: str | None) -> str:
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def _see(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# ---------------------------------------------------------------------------- sign in and out


@router.get("/login")
def login_page(request: Request, db: DbSession, next: str | None = None) -> Response:
    if session_user(request, db) is not None:
        return _see(_safe_next(next))
    return render(request, "login.html", {"next": _safe_next(next), "username": ""})


@router.post("/login")
def login(request: Request, db: DbSession, username: str = Form("", max_length=200),
          password: str = Form("", max_length=1100), csrf_token: str = Form("", alias=CSRF_FIELD),
          next: str = Form("/")) -> Response:
    require_csrf(request, csrf_token)
    throttle: LoginThrottle = request.app.state.login_throttle
    address = request.client.host if request.client else None
    context = {"next": _safe_next(next), "username": username}
    wait = throttle.retry_after(username, address)
    if wait is not None:
        audit(db, None, "login.throttled", "user", user_id_for(db, username), client_ip(request))
        db.commit()
        message = Message(N_("Too many failed sign-ins; try again in %(wait)s, or ask an admin to reset the "
                             "password."), {"wait": _minutes(wait)})
        return render(request, "login.html", {**context, "message": message},
                      status_code=429, headers={"Retry-After": str(wait)})
    try:
        with throttle.password_check():
            user = authenticate(db, username, password)
    except PasswordChecksBusy:
        return render(request, "login.html", {**context, "message": N_("Many people are signing in at once; "
                                                                      "try again in a few seconds.")},
                      status_code=503, headers={"Retry-After": "5"})
    if user is None:
        throttle.failed(username, address)
        audit(db, None, "login.failed", "user", user_id_for(db, username), client_ip(request))
        db.commit()
        return render(request, "login.html", {**context, "message": N_("Wrong username or password; try again.")},
                      status_code=401)
    throttle.succeeded(username)
    audit(db, user, "login.success", "user", user.id, client_ip(request))
    session_id = start_login_session(db, user, request.app.state.settings.server.session_max_age_s)
    db.commit()
    request.session.clear()  # a fresh session (and CSRF token) on every sign-in
    request.session[SESSION_KEY] = session_id
    target = _safe_next(next)
    if target == "/" and user.role is Role.REVIEWER:
        target = "/reviews"
    return _see(target)


def _minutes(seconds: int) -> Message:
    if seconds < 120:
        return Message(N_("%(n)s seconds"), {"n": seconds})
    return Message(N_("%(n)s minutes"), {"n": math.ceil(seconds / 60)})


@router.post("/logout")
def logout(request: Request, db: DbSession, csrf_token: str = Form("", alias=CSRF_FIELD)) -> Response:
    require_csrf(request, csrf_token)
    user_id = end_login_session(db, request.session.get(SESSION_KEY))
    if user_id is not None:
        audit(db, db.get(User, user_id), "logout", "user", user_id, client_ip(request))
    db.commit()
    request.session.clear()
    response = _see("/login")
    response.headers["Clear-Site-Data"] = '"cache"'  # the patient images this browser kept (private, max-age)
    return response


@router.get("/")
def home(auth: PageUser) -> Response:
    return _see("/reviews" if auth.user.role is Role.REVIEWER else "/patients")


# ---------------------------------------------------------------------------- the user's own settings


@router.get("/account")
def account_page(request: Request, auth: PageUser) -> Response:
    """The signed-in user's language (any role may set their own)."""
    return render(request, "account.html", {}, user=auth.user)


@router.post("/account/language")
def account_language(request: Request, db: DbSession, auth: PageUser, csrf_token: str = Form("", alias=CSRF_FIELD),
                     language: str = Form("", max_length=16)) -> Response:
    require_csrf(request, csrf_token)
    try:
        set_language(db, auth.user, language)
    except StoreError as exc:
        db.rollback()
        return render(request, "account.html", {"message": str(exc)}, user=auth.user, status_code=422)
    audit(db, auth.user, "user.language", "user", auth.user.id, auth.ip)
    db.commit()
    return _see("/account")


# ---------------------------------------------------------------------------- patients


@router.get("/patients")
def patients_page(request: Request, db: DbSession, auth: PageUser, q: str | None = None) -> Response:
    patients = search_patients(db, auth.user, q, auth.ip)
    db.commit()
    return render(request, "patients.html", {"patients": patients, "q": q or "", "form": {},
                                             "new_reviews": _new_reviews(db, patients)}, user=auth.user)


def _new_reviews(db: Session, patients: list[Any]) -> dict[int, int]:
    """Per patient id, how many of their screenings have a review no health worker has opened yet."""
    return new_review_counts(db, [p.id for p in patients])


@router.post("/patients")
def register_patient(request: Request, db: DbSession, auth: PageUser, csrf_token: str = Form("", alias=CSRF_FIELD),
                     name: str = Form(""), clinic_ref: str = Form(""), birth_year: str = Form(""),
                     sex: str = Form("")) -> Response:
    require_csrf(request, csrf_token)
    form = {"name": name, "clinic_ref": clinic_ref, "birth_year": birth_year, "sex": sex}
    try:
        year = int(birth_year) if birth_year.strip() else None
    except ValueError:
        year = -1
    try:
        if year == -1:
            raise StoreError(f"birth year {birth_year!r} is not a number; give a four-digit year such as 1961")
        patient = create_patient(db, auth.user, name=name, clinic_ref=clinic_ref, birth_year=year, sex=sex or None,
                                 clinic_id=None, ip=auth.ip)
        db.commit()
    except StoreError as exc:
        if isinstance(exc, PermissionDeniedError):
            raise
        db.rollback()
        patients = search_patients(db, auth.user, None, auth.ip)
        db.commit()
        return render(request, "patients.html", {"patients": patients, "q": "", "form": form, "message": str(exc),
                                                 "new_reviews": _new_reviews(db, patients)}, status_code=422, user=auth.user)
    return _see(f"/patients/{patient.id}")


@router.get("/patients/{patient_id}")
def patient_page(patient_id: RecordId, request: Request, db: DbSession, auth: PageUser) -> Response:
    patient = get_patient(db, auth.user, patient_id, auth.ip)
    t = page_translator(request, auth.user)
    charts = {eye: timeline_svg(eye_timeline(db, patient, eye), t.render(term(eye)), t) for eye in ("OD", "OS")}
    db.commit()
    visits = [{"visit": v, "views": _panels(request, v, auth.user), "new": len(unseen_reviews(v))}
              for v in patient.visits]
    return render(request, "patient.html", {"patient": patient, "charts": charts, "visits": visits}, user=auth.user)


@router.post("/patients/{patient_id}/visits")
def start_visit(patient_id: RecordId, request: Request, db: DbSession, auth: PageUser,
                csrf_token: str = Form("", alias=CSRF_FIELD), modality: str = Form("fundus")) -> Response:
    require_csrf(request, csrf_token)
    visit = create_visit(db, auth.user, patient_id, modality, None, auth.ip)
    db.commit()
    return _see(f"/visits/{visit.id}")


# ---------------------------------------------------------------------------- visits


def _panels(request: Request, visit: Visit, user: Any) -> list[dict[str, Any]]:
    t = page_translator(request, user)
    return [screening_view(screening, user, t).as_mapping() for _, screening in latest_screenings(visit)]


def _visit_page(request: Request, db: DbSession, auth: Any, visit_id: int, *, message: str | None = None,
                status_code: int = 200) -> Response:
    visit = get_visit(db, auth.user, visit_id, auth.ip)
    panels = _panels(request, visit, auth.user)  # before the reviews are marked seen
    mark_reviews_seen(visit, auth.user)
    db.commit()
    slots = ["OD", "OS"] if visit.modality.value == "fundus" else [None]
    return render(request, "visit.html", {"visit": visit, "slots": slots, "panels": panels,
                                          "message": message, "upload_key": secrets.token_urlsafe(16)},
                  status_code=status_code, user=auth.user)


@router.get("/visits/{visit_id}")
def visit_page(visit_id: RecordId, request: Request, db: DbSession, auth: PageUser) -> Response:
    return _visit_page(request, db, auth, visit_id)


@router.post("/visits/{visit_id}/captures")
def upload_page(visit_id: RecordId, request: Request, db: DbSession, auth: PageUser,
                csrf_token: str = Form("", alias=CSRF_FIELD), eye: str | None = Form(None),
                file: UploadFile = File(...), idempotency_key: str | None = Form(None, max_length=64),
                original_byte_size: int | None = Form(None), original_width: int | None = Form(None),
                original_height: int | None = Form(None)) -> Response:
    require_csrf(request, csrf_token)
    try:
        original = original_size(original_byte_size, original_width, original_height)
        capture = accept_upload(request, db, auth.user, auth.ip, visit_id, file, eye, idempotency_key, original)
    except UploadError as exc:
        return _visit_page(request, db, auth, visit_id, message=exc.message, status_code=exc.status)
    except StoreError as exc:
        if isinstance(exc, PermissionDeniedError | NotFoundError | StorageUnavailableError):
            raise
        return _visit_page(request, db, auth, visit_id, message=str(exc), status_code=422)
    return _see(f"/visits/{visit_id}#screening-{capture.screenings[0].id}")


@router.post("/captures/{capture_id}/eye")
def eye_answer(capture_id: RecordId, request: Request, db: DbSession, auth: PageUser,
               csrf_token: str = Form("", alias=CSRF_FIELD), eye: str = Form(...)) -> Response:
    """The answer to "this looks like the other eye": move the capture there, or keep it (audited)."""
    require_csrf(request, csrf_token)
    capture, _ = set_capture_eye(db, auth.user, capture_id, eye, auth.ip)
    db.commit()
    return _see(f"/visits/{capture.visit_id}#screening-{capture.screenings[-1].id}")


@router.get("/visits/{visit_id}/report.pdf")
def report_page(visit_id: RecordId, request: Request, db: DbSession, auth: PageUser) -> Response:
    return visit_report(request, db, auth, visit_id)


# ---------------------------------------------------------------------------- reviews


@router.get("/reviews")
def queue_page(request: Request, db: DbSession, auth: PageUser, show: str | None = None) -> Response:
    authorize(db, auth.user, "review.read", ip=auth.ip)
    show = show if show in QUEUE_FILTERS else None
    items = [(s, queue_category(s)) for s in review_queue(db, auth.user, category=show)]
    audit_rows(db, auth.user, "screening.list", "screening", [s.id for s, _ in items], auth.ip)
    db.commit()
    return render(request, "reviews.html", {"items": items, "show": show, "filters": QUEUE_FILTERS},
                  user=auth.user)


def _case(request: Request, db: DbSession, auth: Any, screening: Screening, *, message: str | None = None,
          status_code: int = 200) -> Response:
    capture = screening.capture
    visit = capture.visit
    modality = visit.modality
    tasks = [t.value for t in MODALITY_TASKS[modality]]
    tr = page_translator(request, auth.user)
    others = [screening_view(s, auth.user, tr) for c, s in latest_screenings(visit) if c.id != capture.id]
    earlier = []
    if capture.eye is not None:
        earlier = [screening_view(c.screenings[-1], auth.user, tr) for v in visit.patient.visits
                   if v.taken_at < visit.taken_at and v.modality is modality
                   for c in v.captures if c.eye is capture.eye and c.screenings
                   and c.screenings[-1].status is ScreeningStatus.DONE]
    return render(request, "review_case.html", {
        "screening": screening, "panel": screening_view(screening, auth.user, tr).as_mapping(),
        "patient": visit.patient, "visit": visit, "others": others, "earlier": earlier[::-1],
        "category": queue_category(screening) if screening.advice else None,
        "tasks": tasks, "default_task": review_default_task(modality),
        "labels": {t: TASKS[t].classes for t in tasks}, "message": message,
    }, status_code=status_code, user=auth.user)


@router.get("/reviews/{screening_id}")
def case_page(screening_id: RecordId, request: Request, db: DbSession, auth: PageUser) -> Response:
    authorize(db, auth.user, "review.read", ip=auth.ip)
    screening = get_screening(db, auth.user, screening_id, auth.ip)
    db.commit()
    return _case(request, db, auth, screening)


@router.post("/reviews/{screening_id}")
def review_form(screening_id: RecordId, request: Request, db: DbSession, auth: PageUser,
                csrf_token: str = Form("", alias=CSRF_FIELD), decision: str = Form(...), task: str = Form(""),
                label: str = Form(""), comment: str = Form("", max_length=4000)) -> Response:
    require_csrf(request, csrf_token)
    screening = get_screening(db, auth.user, screening_id, auth.ip)
    authorize(db, auth.user, "review.create", screening, ip=auth.ip)
    try:
        add_review(db, screening, auth.user, task=task or review_default_task(screening.capture.visit.modality),
                   decision=decision, label=(label or None) if decision == "correct" else None,
                   comment=comment.strip() or None)
        db.commit()
    except StoreError as exc:
        if isinstance(exc, PermissionDeniedError):
            raise
        db.rollback()
        screening = db.get(Screening, screening_id)
        return _case(request, db, auth, screening, message=str(exc), status_code=422)
    return _see("/reviews")
