"""The screening worker pool: pending screenings in, results (or failures) and overlay JPEGs out.

Uploads only record a pending :class:`~medscreen.store.models.Screening` and
hand its id to :meth:`ScreeningWorker.submit`; a thread of the pool claims it
(pending → running, atomically), reads the image from the
:class:`~medscreen.store.blobs.BlobStore`, runs the shared screener and stores
the result with :func:`~medscreen.store.screenings.record_result`. Screenings
left pending or running by a crash are queued again by :meth:`start`. A
screening that fails on storage (disk full, folder not writable, database
unwritable) is marked failed with :data:`STORAGE_FAILURE` and retried every
``retry_s`` seconds until storage is back.
Nothing about the patient is logged: ids only.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from PIL import Image as PILImage
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from medscreen.errors import MedscreenError
from medscreen.store.blobs import BlobStore
from medscreen.store.errors import StorageUnavailableError
from medscreen.store.models import Screening, ScreeningStatus
from medscreen.store.screenings import record_failure, record_result

__all__ = ["OVERLAY_DIR", "OVERLAY_PHONE_SIDE", "STORAGE_FAILURE", "ScreenerLike", "ScreeningWorker", "overlay_path",
           "phone_overlay"]

logger = logging.getLogger(__name__)

OVERLAY_DIR = "overlays"
OVERLAY_MAX_SIDE = 1024
#: the reason recorded on a screening that failed because storage was full or not writable
STORAGE_FAILURE = ("the result could not be saved: the clinic app's storage is full or not writable; "
                   "it is tried again automatically when storage is back")


class ScreenerLike(Protocol):
    """What the worker needs of :class:`~medscreen.pipelines.screening.Screener`."""

    def analyse(self, image: Any, modality: str | None = None, *, source: str | None = None) -> Any: ...


#: the overlay's rendition for phones: a 360-px screen at device scale 2 shows it about 620 pixels wide
OVERLAY_PHONE_SIDE = 640


def overlay_path(data_home: Path, screening_id: int, side: int | None = None) -> Path:
    """Where the overlay of a screening is kept (JPEG: a 1024-px PNG took 450 ms to encode and weighed ~1 MB).

    ``side``: the smaller rendition's longest side (:data:`OVERLAY_PHONE_SIDE`); None for the 1024-px overlay.
    """
    return Path(data_home) / OVERLAY_DIR / (f"{screening_id}.jpg" if side is None else f"{screening_id}-{side}.jpg")


def _save_jpeg(path: Path, image: PILImage.Image, quality: int) -> None:
    """Write ``image`` to ``path`` whole or not at all (a uniquely named temporary file, fsynced, renamed)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem + ".", suffix=".tmp")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as fp:
            image.save(fp, format="JPEG", quality=quality)
            fp.flush()
            os.fsync(fp.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _phone_rendition(image: PILImage.Image) -> PILImage.Image:
    small = image.convert("RGB")
    small.thumbnail((OVERLAY_PHONE_SIDE, OVERLAY_PHONE_SIDE), PILImage.Resampling.LANCZOS)
    return small


def phone_overlay(data_home: Path, screening_id: int) -> Path | None:
    """The overlay's :data:`OVERLAY_PHONE_SIDE` rendition, made from the full overlay when it is first asked for.

    Screenings done before the rendition existed get it here. None when the screening has no overlay yet; the
    full overlay when the rendition cannot be written (storage full): the phone then gets more bytes, not an error.
    """
    small = overlay_path(data_home, screening_id, OVERLAY_PHONE_SIDE)
    if small.is_file():
        return small
    full = overlay_path(data_home, screening_id)
    if not full.is_file():
        return None
    try:
        with PILImage.open(full) as im:
            _save_jpeg(small, _phone_rendition(im), quality=85)
    except OSError as exc:
        logger.warning("screening %d: the phone overlay could not be written (%s); serving the full one",
                       screening_id, type(exc).__name__)
        return full
    return small


class ScreeningWorker:
    """A pool of ``workers`` threads screening pending screenings with one shared screener.

    Args:
        sessions: session factory of the clinic database.
        blobs: the image store.
        screener: a :class:`~medscreen.pipelines.screening.Screener` (or an object with its ``analyse``).
        data_home: the data folder (overlays go in ``<data_home>/overlays``).
        workers: number of threads (≥ 1).
        retry_s: seconds between retries of screenings that failed on storage.
    """

    def __init__(self, sessions: sessionmaker[Session], blobs: BlobStore, screener: ScreenerLike,
                 data_home: Path, workers: int = 1, retry_s: float = 60.0) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.sessions = sessions
        self.blobs = blobs
        self.screener = screener
        self.data_home = Path(data_home)
        self.workers = workers
        self.retry_s = retry_s
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._retry: set[int] = set()
        self._timer: threading.Timer | None = None

    def start(self) -> int:
        """Start the threads and queue every screening left pending or running; returns how many."""
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="screening")
        with self.sessions() as session:
            ids = list(session.scalars(
                select(Screening.id)
                .where(Screening.status.in_([ScreeningStatus.PENDING, ScreeningStatus.RUNNING]))
                .order_by(Screening.id)
            ))
            if ids:
                session.execute(update(Screening).where(Screening.id.in_(ids)).values(status=ScreeningStatus.PENDING))
                session.commit()
        for screening_id in ids:
            self.submit(screening_id)
        if ids:
            logger.info("re-queued %d unfinished screenings", len(ids))
        return len(ids)

    def stop(self) -> None:
        """Finish the screening in progress, drop queued ones (they are re-queued on the next start)."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def submit(self, screening_id: int) -> Future[None]:
        """Queue a pending screening.

        Raises:
            RuntimeError: the worker is not started.
        """
        if self._pool is None:
            raise RuntimeError("the screening worker is not started; start the app (its lifespan starts it)")
        return self._pool.submit(self.run_one, screening_id)

    def run_one(self, screening_id: int) -> None:
        """Claim and screen one pending screening; a screening already claimed is left alone."""
        try:
            self._run(screening_id)
        except (OSError, StorageUnavailableError, OperationalError) as exc:
            logger.error("screening %d: storage fault (%s); retrying in %.0f s", screening_id,
                         type(exc).__name__, self.retry_s)
            self._fail(screening_id, STORAGE_FAILURE)
            self._schedule_retry(screening_id)
        except Exception:  # noqa: BLE001 - a worker thread must never die; the reason is recorded below
            logger.exception("screening %d failed unexpectedly", screening_id)
            self._fail(screening_id, "internal error while screening; upload the image again")

    def _fail(self, screening_id: int, reason: str) -> None:
        try:
            with self.sessions() as session:
                screening = session.get(Screening, screening_id)
                if screening is not None and screening.status is ScreeningStatus.RUNNING:
                    record_failure(session, screening, reason)
                    session.commit()
        except Exception:  # noqa: BLE001 - the database itself may be unwritable; start() re-queues it
            logger.exception("could not record the failure of screening %d; it is re-queued later", screening_id)

    def _schedule_retry(self, screening_id: int) -> None:
        with self._lock:
            self._retry.add(screening_id)
            if self._timer is None and self._pool is not None:
                self._timer = threading.Timer(self.retry_s, self._retry_now)
                self._timer.daemon = True
                self._timer.start()

    def _retry_now(self) -> None:
        """Queue again the screenings that failed on storage (pending again; a new failure schedules another try)."""
        with self._lock:
            ids, self._retry, self._timer = sorted(self._retry), set(), None
        try:
            with self.sessions() as session:
                session.execute(update(Screening).where(
                    Screening.id.in_(ids),
                    Screening.status.in_([ScreeningStatus.FAILED, ScreeningStatus.RUNNING]),
                ).values(status=ScreeningStatus.PENDING, error=None, finished_at=None))
                session.commit()
        except Exception:  # noqa: BLE001 - storage still down: try again later
            logger.warning("storage still unavailable; %d screenings wait for the next try", len(ids))
            for screening_id in ids:
                self._schedule_retry(screening_id)
            return
        for screening_id in ids:
            if self._pool is not None:
                self.submit(screening_id)

    def _run(self, screening_id: int) -> None:
        with self.sessions() as session:
            claimed = session.execute(
                update(Screening)
                .where(Screening.id == screening_id, Screening.status == ScreeningStatus.PENDING)
                .values(status=ScreeningStatus.RUNNING)
            ).rowcount
            session.commit()
            if not claimed:
                return
            screening = session.get(Screening, screening_id)
            capture = screening.capture
            modality = capture.visit.modality.value
            try:
                data = self.blobs.read(capture.image.sha256)  # DamagedBlobError when its SHA-256 does not match
                output = self.screener.analyse(data, modality, source=f"capture-{capture.id}")
            except MedscreenError as exc:
                record_failure(session, screening, str(exc))
                session.commit()
                logger.info("screening %d failed: %s", screening_id, type(exc).__name__)
                return
            self._save_overlay(screening_id, output)
            record_result(session, screening, output.result, reason_messages=output.reason_messages,
                          quality_messages=output.quality_messages)
            session.commit()
            logger.info("screening %d done: %s", screening_id, output.result.advice)

    def _save_overlay(self, screening_id: int, output: Any) -> None:
        from medscreen.pipelines.report import overlay_image

        image = PILImage.fromarray(overlay_image(output))
        image.thumbnail((OVERLAY_MAX_SIDE, OVERLAY_MAX_SIDE))
        _save_jpeg(overlay_path(self.data_home, screening_id), image, quality=90)
        _save_jpeg(overlay_path(self.data_home, screening_id, OVERLAY_PHONE_SIDE), _phone_rendition(image), quality=85)
