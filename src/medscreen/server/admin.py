"""The admins' pages: users, clinics, the audit log and the models — what the ``medscreen users`` commands do, in the browser.

Every page needs an admin (``user.read``/``user.manage``, ``clinic.manage``,
``audit.read``); every change is a form POST with the session's CSRF token,
is audited under the same action names as the command line, and answers with a
redirect (or the page again, with the problem, when it is refused).
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from medscreen.i18n import N_
from medscreen.server.deps import DbSession, PageUser, require_csrf
from medscreen.server.doctor import check_models
from medscreen.server.limits import bundled_cards, model_limits_of
from medscreen.server.schemas import MAX_RECORD_ID
from medscreen.server.security import CSRF_FIELD
from medscreen.server.services import get_record
from medscreen.server.templating import render
from medscreen.store.audit import audit, authorize, search_audit
from medscreen.store.clinics import find_or_create_clinic, list_clinics, rename_clinic
from medscreen.store.errors import StoreError
from medscreen.store.models import ApiToken, Clinic, Role, User
from medscreen.store.users import (
    create_user,
    list_api_tokens,
    list_users,
    require,
    revoke_api_token,
    set_active,
    set_language,
    set_password,
    set_role,
)

__all__ = ["router"]

router = APIRouter(prefix="/admin", include_in_schema=False)


def _see(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _clinic(db: Any, clinic_id: str) -> Clinic | None:
    return get_record(db, Clinic, int(clinic_id)) if clinic_id.strip().isdecimal() else None


# ---------------------------------------------------------------------------- users


def _users_page(request: Request, db: Any, auth: Any, message: str | None = None, status: int = 200) -> Response:
    authorize(db, auth.user, "user.read", ip=auth.ip)
    context = {"users": list_users(db), "clinics": list_clinics(db), "tokens": list_api_tokens(db),
               "roles": [r.value for r in Role], "message": message}
    db.commit()
    return render(request, "admin_users.html", context, user=auth.user, status_code=status)


@router.get("/users")
def users_page(request: Request, db: DbSession, auth: PageUser) -> Response:
    return _users_page(request, db, auth)


def _change(request: Request, db: Any, auth: Any, token: str, change: Any, *, section: str = "users") -> Response:
    """Run ``change()``, an admin's audited change, and go back to ``/admin/<section>``; or show that page again
    with the problem when the change is refused."""
    require_csrf(request, token)
    require(auth.user, "user.manage" if section == "users" else "clinic.manage")
    try:
        change()
        db.commit()
    except StoreError as exc:
        db.rollback()
        page = _users_page if section == "users" else _clinics_page
        return page(request, db, auth, str(exc), status=422)
    return _see(f"/admin/{section}")


@router.post("/users")
def create_user_form(request: Request, db: DbSession, auth: PageUser, csrf_token: str = Form("", alias=CSRF_FIELD),
                     username: str = Form("", max_length=64), password: str = Form("", max_length=1024),
                     role: str = Form(""), clinic_id: str = Form(""), language: str = Form("", max_length=16)
                     ) -> Response:
    def change() -> None:
        user = create_user(db, username, password, role, _clinic(db, clinic_id), language=language or None)
        audit(db, auth.user, "user.create", "user", user.id, auth.ip)

    return _change(request, db, auth, csrf_token, change)


@router.post("/users/{user_id}/role")
def set_role_form(request: Request, user_id: int, db: DbSession, auth: PageUser,
                  csrf_token: str = Form("", alias=CSRF_FIELD), role: str = Form(""),
                  clinic_id: str = Form("")) -> Response:
    def change() -> None:
        target = get_record(db, User, user_id)
        if target.id == auth.user.id and role != Role.ADMIN.value:
            raise StoreError(N_("you cannot take away your own admin role; ask another admin"))
        set_role(db, target, role, _clinic(db, clinic_id))
        audit(db, auth.user, "user.role", "user", target.id, auth.ip)

    return _change(request, db, auth, csrf_token, change)


@router.post("/users/{user_id}/language")
def set_language_form(request: Request, user_id: int, db: DbSession, auth: PageUser,
                      csrf_token: str = Form("", alias=CSRF_FIELD), language: str = Form("", max_length=16)) -> Response:
    def change() -> None:
        target = get_record(db, User, user_id)
        set_language(db, target, language)
        audit(db, auth.user, "user.language", "user", target.id, auth.ip)

    return _change(request, db, auth, csrf_token, change)


@router.post("/users/{user_id}/active")
def set_active_form(request: Request, user_id: int, db: DbSession, auth: PageUser,
                    csrf_token: str = Form("", alias=CSRF_FIELD), active: bool = Form(False)) -> Response:
    def change() -> None:
        target = get_record(db, User, user_id)
        if target.id == auth.user.id and not active:
            raise StoreError(N_("you cannot deactivate your own account; ask another admin"))
        set_active(db, target, active)
        audit(db, auth.user, "user.reactivate" if active else "user.deactivate", "user", target.id, auth.ip)

    return _change(request, db, auth, csrf_token, change)


@router.post("/users/{user_id}/password")
def reset_password_form(request: Request, user_id: int, db: DbSession, auth: PageUser,
                        csrf_token: str = Form("", alias=CSRF_FIELD),
                        password: str = Form("", max_length=1024)) -> Response:
    def change() -> None:
        target = get_record(db, User, user_id)
        set_password(db, target, password)
        audit(db, auth.user, "user.password_reset", "user", target.id, auth.ip)

    return _change(request, db, auth, csrf_token, change)


@router.post("/tokens/{token_id}/revoke")
def revoke_token_form(request: Request, token_id: int, db: DbSession, auth: PageUser,
                      csrf_token: str = Form("", alias=CSRF_FIELD)) -> Response:
    def change() -> None:
        token = get_record(db, ApiToken, token_id)
        revoke_api_token(db, token)
        audit(db, auth.user, "token.revoke", "api_token", token.id, auth.ip)

    return _change(request, db, auth, csrf_token, change)


# ---------------------------------------------------------------------------- clinics


def _clinics_page(request: Request, db: Any, auth: Any, message: str | None = None, status: int = 200) -> Response:
    require(auth.user, "clinic.manage")
    return render(request, "admin_clinics.html", {"clinics": list_clinics(db), "message": message},
                  user=auth.user, status_code=status)


@router.get("/clinics")
def clinics_page(request: Request, db: DbSession, auth: PageUser) -> Response:
    return _clinics_page(request, db, auth)


@router.post("/clinics")
def create_clinic_form(request: Request, db: DbSession, auth: PageUser, csrf_token: str = Form("", alias=CSRF_FIELD),
                       name: str = Form("", max_length=300)) -> Response:
    def change() -> None:
        before = {c.id for c in list_clinics(db)}
        clinic = find_or_create_clinic(db, name)
        if clinic.id in before:
            raise StoreError(f"clinic {clinic.name!r} exists already")
        audit(db, auth.user, "clinic.create", "clinic", clinic.id, auth.ip)

    return _change(request, db, auth, csrf_token, change, section="clinics")


@router.post("/clinics/{clinic_id}/name")
def rename_clinic_form(request: Request, clinic_id: int, db: DbSession, auth: PageUser,
                       csrf_token: str = Form("", alias=CSRF_FIELD), name: str = Form("", max_length=300)) -> Response:
    def change() -> None:
        clinic = get_record(db, Clinic, clinic_id)
        rename_clinic(db, clinic, name)
        audit(db, auth.user, "clinic.rename", "clinic", clinic.id, auth.ip)

    return _change(request, db, auth, csrf_token, change, section="clinics")


# ---------------------------------------------------------------------------- audit log


def _day(text: str | None, what: str) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise StoreError(f"{what} {text!r} is not a date; give YYYY-MM-DD") from None


@router.get("/audit")
def audit_page(request: Request, db: DbSession, auth: PageUser, user: str = "", patient: str = "",
               action: str = "", since: str = "", until: str = "", format: str = "html") -> Response:
    """The audit log, newest first, filtered by user, patient, action and dates; ``format=csv`` downloads it."""
    authorize(db, auth.user, "audit.read", ip=auth.ip)
    db.commit()
    users = {u.id: u.username for u in list_users(db)}
    by_name = {name: uid for uid, name in users.items()}
    message = None
    try:
        if user and user not in by_name:
            raise StoreError(f"no user {user!r}; choose one from the list")
        if patient and not (patient.isdecimal() and int(patient) <= MAX_RECORD_ID):
            raise StoreError(N_("the patient filter takes a patient's number (the id in the patient page's "
                                "address), not a name"))
        start, end = _day(since, "from"), _day(until, "to")
        events = search_audit(db, user_id=by_name.get(user), patient_id=int(patient) if patient else None,
                              action=action.strip() or None, since=start,
                              until=end + timedelta(days=1) if end else None,
                              limit=100_000 if format == "csv" else 500)
    except StoreError as exc:
        events, message = [], str(exc)
    if format == "csv" and message is None:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["at", "user", "action", "object_type", "object_id", "ip"])
        for e in events:
            writer.writerow([e.at.isoformat(), users.get(e.user_id, ""), e.action, e.object_type,
                             e.object_id or "", e.ip or ""])
        return Response(out.getvalue(), media_type="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="medscreen-audit.csv"'})
    filters = {"user": user, "patient": patient, "action": action, "since": since, "until": until}
    return render(request, "admin_audit.html", {"events": events, "users": users, "filters": filters,
                                                "message": message}, user=auth.user,
                  status_code=422 if message else 200)


# ---------------------------------------------------------------------------- models


@lru_cache(maxsize=1)
def _model_checks() -> tuple:
    """The bundled files hashed against their cards once per process (they do not change while serving)."""
    return tuple(check_models())


@router.get("/models")
def models_page(request: Request, auth: PageUser) -> Response:
    """The bundled models: name, file hash checked against the card, measured limits and the card's known limits."""
    require(auth.user, "clinic.manage")
    checks = {c.name.removeprefix("model "): c for c in _model_checks()}
    models = [{"task": task, "card": card, "check": checks.get(task), "measured": model_limits_of(task)}
              for task, card in bundled_cards().items()]
    return render(request, "admin_models.html", {"models": models}, user=auth.user)
