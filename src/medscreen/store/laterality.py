"""The laterality question: the photo's disc says one eye, the health worker chose the other.

Screening runs in the worker after the upload, so the question is asked on the
finished result: :func:`eye_mismatch` tells whether to ask, :func:`answer_eye`
records the answer (move the capture to the detected eye, or keep the chosen
one), audited as ``capture.eye`` and asked only once. The screening itself does
not change: no model uses the chosen eye.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from medscreen.store.audit import audit
from medscreen.store.errors import StoreError
from medscreen.store.models import Capture, Eye, User, utcnow
from medscreen.store.users import require

__all__ = ["DETECTED_EYE", "answer_eye", "detected_eye", "eye_mismatch", "eye_warning"]

logger = logging.getLogger(__name__)

#: the result's ``disc.eye`` as the store's eye
DETECTED_EYE: dict[str, Eye] = {"right": Eye.OD, "left": Eye.OS}
_NAME = {Eye.OD: "right eye (OD)", Eye.OS: "left eye (OS)"}


def detected_eye(capture: Capture) -> Eye | None:
    """The eye the newest finished screening of the capture saw (from the disc's side), or None."""
    for screening in reversed(capture.screenings):
        if screening.result_json:
            return DETECTED_EYE.get(((screening.result_json.get("disc") or {}).get("eye")) or "")
    return None


def eye_mismatch(capture: Capture) -> Eye | None:
    """The detected eye when it differs from the chosen one and the health worker has not answered yet."""
    seen = detected_eye(capture)
    if seen is None or capture.eye is None or seen is capture.eye or capture.eye_confirmed_at is not None:
        return None
    return seen


def eye_warning(capture: Capture) -> str | None:
    """The question in words, or None when there is nothing to ask."""
    seen = eye_mismatch(capture)
    if seen is None:
        return None
    return (f"this looks like a {_NAME[seen]} (the optic disc is on that side) but it was saved as the "
            f"{_NAME[capture.eye]}: save it as the {_NAME[seen]}, or keep it if you are sure")


def answer_eye(session: Session, capture: Capture, user: User, eye: Eye | str, ip: str | None = None) -> bool:
    """Keep the capture's eye or move it to ``eye``; returns True when it moved.

    Raises:
        PermissionDeniedError: the user may not upload to this visit.
        StoreError: ``eye`` is not OD/OS, or the capture is an ultrasound image.
    """
    require(user, "capture.create", capture.visit)
    if capture.eye is None:
        raise StoreError(f"capture {capture.id} is an ultrasound image: it has no eye to change")
    try:
        side = Eye(str(eye).strip().upper())
    except ValueError:
        raise StoreError(f"eye must be 'OD' (right) or 'OS' (left), got {eye!r}") from None
    moved = side is not capture.eye
    capture.eye = side
    capture.eye_confirmed_at = utcnow()
    audit(session, user, "capture.eye", "capture", capture.id, ip)
    session.flush()
    logger.info("capture %d: eye %s (%s)", capture.id, side.value, "moved" if moved else "kept")
    return moved
