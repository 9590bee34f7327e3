"""The audit trail: one row per access to patient data, with ids only.

Rows name the user, an action (``patient.read``, ``capture.create``...), the
record's type and id, the time and the client's IP address. Names, birth
years, comments, file names and any other patient data never go in: the
action, type and id are checked against narrow patterns so that free text
cannot slip in by mistake.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from medscreen.store.errors import PermissionDeniedError, StoreError
from medscreen.store.models import AuditEvent, User
from medscreen.store.users import require

__all__ = ["audit", "audit_denial", "audit_rows", "authorize", "search_audit"]

logger = logging.getLogger(__name__)

_ACTION = re.compile(r"[a-z][a-z_]*(\.[a-z][a-z_]*)*")
_OBJECT_TYPE = re.compile(r"[a-z][a-z_]*")
_OBJECT_ID = re.compile(r"\d{1,20}(-\d{1,20})*|[0-9a-f]{64}")


def audit(
    session: Session,
    user: User | None,
    action: str,
    obj_type: str,
    obj_id: int | str | None,
    ip: str | None = None,
) -> AuditEvent:
    """Add an audit row to the session (it is written with the caller's transaction).

    Args:
        session: the session doing the access.
        user: who acted; ``None`` for an anonymous attempt (a failed login).
        action: dotted lower-case verb, e.g. ``patient.read``, ``capture.create``, ``login.failed``.
        obj_type: the record's table-like name, e.g. ``patient``, ``screening``.
        obj_id: the record's id: an integer, ``"<int>-<int>"``, or a SHA-256 (an image); ``None`` for lists.
        ip: the client's IP address.

    Raises:
        StoreError: an argument is not in its narrow form (which keeps patient data out).
    """
    if len(action) > 64 or not _ACTION.fullmatch(action):
        raise StoreError(f"audit action {action!r} must be a dotted lower-case verb such as 'patient.read'")
    if len(obj_type) > 32 or not _OBJECT_TYPE.fullmatch(obj_type):
        raise StoreError(f"audit object type {obj_type!r} must be a lower-case name such as 'patient'")
    object_id = None if obj_id is None else str(obj_id)
    if isinstance(obj_id, bool) or (object_id is not None and not _OBJECT_ID.fullmatch(object_id)):
        raise StoreError(
            f"audit object id for {obj_type} must be a record id (integer, '<int>-<int>' or SHA-256), "
            "never a name or other patient data"
        )
    address = None
    if ip is not None:
        try:
            address = str(ipaddress.ip_address(ip.strip()))
        except ValueError:
            raise StoreError(f"audit ip {ip!r} is not an IP address; pass the client's address or None") from None
    if user is not None and user.id is None:
        session.flush()  # a user created in this transaction gets its id
    event = AuditEvent(
        user_id=None if user is None else user.id, action=action, object_type=obj_type, object_id=object_id, ip=address
    )
    session.add(event)
    logger.debug("audit: user %s %s %s %s", event.user_id, action, obj_type, object_id)
    return event


def audit_denial(session: Session, exc: PermissionDeniedError, ip: str | None = None) -> AuditEvent:
    """Add the audit row of a refused access (``<action>.denied`` on the record tried); the caller commits.

    Call it with a session of its own: the request's transaction is rolled back on the refusal.
    """
    user = None if exc.user_id is None else session.get(User, exc.user_id)
    obj_type = exc.object_type or exc.action.partition(".")[0] or "unknown"
    return audit(session, user, f"{exc.action or 'access'}.denied", obj_type, exc.object_id, ip)


def audit_rows(session: Session, user: User, action: str, obj_type: str, ids: Iterable[int],
               ip: str | None = None) -> None:
    """One audit row per record a list, search or queue showed (``patient.list``, ``screening.list``)."""
    for record_id in ids:
        audit(session, user, action, obj_type, record_id, ip)


def authorize(session: Session, user: User | None, action: str, obj: Any = None, *, ip: str | None = None) -> None:
    """Check that ``user`` may do ``action`` to ``obj`` and audit the access: the one call per request.

    The audit row names ``obj``'s type and id (or, without ``obj``, the
    action's record type and no id). A refusal is logged (ids only) and raised; the
    caller's transaction rolls back, so the server audits it in a session of its own
    (:func:`audit_denial`).

    Raises:
        PermissionDeniedError: the role or clinic does not allow it (see :func:`medscreen.store.users.can`).
    """
    require(user, action, obj)
    if obj is None:
        audit(session, user, action, action.partition(".")[0], None, ip)
    else:
        audit(session, user, action, type(obj).__name__.lower(), obj.id, ip)


def search_audit(session: Session, *, user_id: int | None = None, patient_id: int | None = None,
                 action: str | None = None, since: datetime | None = None, until: datetime | None = None,
                 limit: int = 500) -> list[AuditEvent]:
    """Audit events, newest first, filtered (for the admins' audit page and its CSV export).

    Args:
        user_id: only this user's events.
        patient_id: only events on this patient record (``object_type`` patient).
        action: only this action, or actions starting with it when it ends in ``.`` (``login.``).
        since, until: only events at or after ``since`` and before ``until`` (UTC).
        limit: at most this many events.
    """
    query = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)
    if user_id is not None:
        query = query.where(AuditEvent.user_id == user_id)
    if patient_id is not None:
        query = query.where(AuditEvent.object_type == "patient", AuditEvent.object_id == str(patient_id))
    if action:
        query = query.where(AuditEvent.action.startswith(action, autoescape=True) if action.endswith(".") else
                            AuditEvent.action == action)
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    if until is not None:
        query = query.where(AuditEvent.at < until)
    return list(session.scalars(query))
