"""Recording an uploaded image: the file and its rows together, or nothing.

:func:`record_capture` validates the bytes, stores the file
(:class:`~medscreen.store.blobs.BlobStore`), then adds the :class:`Image` (reused
when the same bytes were uploaded before), the :class:`Capture`, a pending
:class:`Screening` and the audit row in one transaction. The file is written
(and fsynced) before the commit, so a committed row never points to a missing
file; if the transaction fails, a file this call wrote is removed again. A
crash between the two can only leave a file without rows, which
:func:`remove_orphan_blobs` deletes later; never rows without a file.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from medscreen.store.audit import audit
from medscreen.store.blobs import BlobStore, StoredBlob
from medscreen.store.errors import StoreError
from medscreen.store.models import Capture, Eye, Image, Modality, Screening, ScreeningStatus, User, Visit
from medscreen.store.users import require

__all__ = ["OriginalSize", "capture_for_key", "record_capture", "remove_orphan_blobs"]

logger = logging.getLogger(__name__)


class OriginalSize(NamedTuple):
    """The photo as the camera saved it, when the browser reduced it before upload."""

    byte_size: int
    width: int
    height: int


def _parse_eye(visit: Visit, eye: Eye | str | None) -> Eye | None:
    """OD/OS for a fundus visit, None for an ultrasound study."""
    if visit.modality is Modality.ULTRASOUND:
        if eye is not None:
            raise StoreError(f"visit {visit.id} is an ultrasound study: upload its images with eye=None, not {eye!r}")
        return None
    if eye is not None:
        try:
            return Eye(str(eye).strip().upper())
        except ValueError:
            pass
    raise StoreError(f"visit {visit.id} is a fundus visit: eye must be 'OD' (right) or 'OS' (left), got {eye!r}")


def record_capture(
    session: Session,
    blobs: BlobStore,
    *,
    visit: Visit,
    eye: Eye | str | None,
    data: bytes,
    filename: str,
    user: User,
    ip: str | None = None,
    max_pixels: int | None = None,
    idempotency_key: str | None = None,
    original: OriginalSize | None = None,
) -> Capture:
    """Store an uploaded image and record it on ``visit`` with a pending screening, atomically.

    The session is committed: call it with no other pending changes. On any
    failure the session is rolled back and a file newly written by this call
    is removed, so either the file and all rows exist, or none of them.

    Args:
        session: a session of the clinic database.
        blobs: the image store of the same data folder.
        visit: the visit (or ultrasound study) the image belongs to.
        eye: ``"OD"`` or ``"OS"`` for a fundus visit; ``None`` for ultrasound.
        data: the uploaded file's bytes.
        filename: the upload's file name, for error messages only (never stored).
        user: who uploads; needs ``capture.create`` on the visit's clinic.
        ip: the client's address, for the audit row.
        max_pixels: a lower pixel limit for this image (the clinic's limit for the visit's modality).
        idempotency_key: the client's key for this upload, kept on the capture (unique per uploader:
            a concurrent upload with the same key fails with IntegrityError; see :func:`capture_for_key`).
        original: the size of the photo before the browser reduced it, kept on the capture.

    Returns:
        The new capture; ``capture.screenings[0]`` is its pending screening.

    Raises:
        ImageReadError: the bytes are not a readable image within the limits (nothing stored).
        PermissionDeniedError: the user may not upload to this visit (nothing stored).
        StoreError: a bad eye for the visit's modality, or the file cannot be written.
        SQLAlchemyError: the transaction failed (rolled back, file removed).
    """
    side = _parse_eye(visit, eye)
    require(user, "capture.create", visit)
    blob = blobs.put(data, name=filename, max_pixels=max_pixels)
    try:
        try:
            capture = _add_rows(session, blob, visit, side, user, ip, idempotency_key, original)
            if blob.repaired:  # a damaged stored copy was replaced: on the record, not only in the log
                audit(session, user, "image.repair", "image", blob.sha256, ip)
            session.commit()
        except IntegrityError:
            # The same new image committed by a concurrent upload (a double click): retry once, reusing it.
            session.rollback()
            capture = _add_rows(session, blob, visit, side, user, ip, idempotency_key, original)
            session.commit()
    except BaseException:
        session.rollback()
        _discard_new_blob(session, blobs, blob)
        raise
    logger.info("recorded capture %d (image %s) on visit %d", capture.id, blob.sha256[:12], capture.visit_id)
    return capture


def _add_rows(session: Session, blob: StoredBlob, visit: Visit, eye: Eye | None, user: User, ip: str | None,
              idempotency_key: str | None = None, original: OriginalSize | None = None) -> Capture:
    image = session.scalar(select(Image).where(Image.sha256 == blob.sha256))
    if image is None:
        image = Image(
            sha256=blob.sha256,
            path=blob.relative_path,
            byte_size=blob.byte_size,
            width=blob.width,
            height=blob.height,
            media_type=blob.media_type,
        )
        session.add(image)
    capture = Capture(visit=visit, image=image, eye=eye, uploaded_by=user, idempotency_key=idempotency_key)
    if original is not None:
        capture.original_byte_size, capture.original_width, capture.original_height = original
    session.add(capture)
    session.add(Screening(capture=capture, status=ScreeningStatus.PENDING))
    session.flush()
    audit(session, user, "capture.create", "capture", capture.id, ip)
    session.flush()
    return capture


def _discard_new_blob(session: Session, blobs: BlobStore, blob: StoredBlob) -> None:
    """Remove the file this call wrote unless a committed row (a concurrent upload) uses it."""
    if not blob.created:
        return
    try:
        with session.no_autoflush:
            used = session.scalar(select(Image.id).where(Image.sha256 == blob.sha256))
        session.rollback()
    except Exception:  # noqa: BLE001 - the database is unreachable: keep the file, an orphan is harmless
        logger.warning(
            "kept image %s after a failed upload (database unreachable); remove_orphan_blobs cleans it",
            blob.sha256[:12],
        )
        return
    if used is None:
        blobs.remove(blob.sha256)


def capture_for_key(session: Session, user: User, idempotency_key: str) -> Capture | None:
    """The capture ``user`` already made with this idempotency key, or None."""
    return session.scalar(select(Capture).where(Capture.uploaded_by_id == user.id,
                                                Capture.idempotency_key == idempotency_key))


def remove_orphan_blobs(session: Session, blobs: BlobStore, *, older_than: timedelta = timedelta(hours=1)) -> list[str]:
    """Delete image files no :class:`Image` row refers to, and leftover temporary files.

    Only files older than ``older_than`` are touched, so an upload in flight
    (file written, transaction not yet committed) keeps its file.

    Returns:
        The SHA-256 of each image file removed.
    """
    cutoff = time.time() - older_than.total_seconds()
    known = set(session.scalars(select(Image.sha256)))
    removed = []
    for sha, path in blobs.iter_files():
        if sha not in known and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
            removed.append(sha)
    for tmp in blobs.iter_temp_files():
        if tmp.stat().st_mtime < cutoff:
            tmp.unlink(missing_ok=True)
    if removed:
        logger.info("removed %d orphan image files", len(removed))
    return removed
