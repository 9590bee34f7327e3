"""The screening worker pool: pending screenings in, results (or failures) and overlay JPEGs out.

Uploads only record a pending :class:`~medscreen.store.models.Screening` and
hand its id to :meth:`ScreeningWorker.submit`; a thread of the pool claims it
(pending → running, atomically), reads the image from the
:class:`~medscreen.store.blobs.BlobStore`, runs the shared screener and stores
the result with :func:`~medscreen.store.screenings.record_result`. Screenings
left pending or running by a crash are queued again by :meth:`start`.
Nothing about the patient is logged: ids only.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from PIL import Image as PILImage
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from medscreen.errors import MedscreenError
from medscreen.store.blobs import BlobStore
from medscreen.store.models import Screening, ScreeningStatus
from medscreen.store.screenings import record_failure, record_result

__all__ = ["OVERLAY_DIR", "ScreenerLike", "ScreeningWorker", "overlay_path"]

logger = logging.getLogger(__name__)

OVERLAY_DIR = "overlays"
OVERLAY_MAX_SIDE = 1024


class ScreenerLike(Protocol):
    """What the worker needs of :class:`~medscreen.pipelines.screening.Screener`."""

    def analyse(self, image: Any, modality: str | None = None, *, source: str | None = None) -> Any: ...


def overlay_path(data_home: Path, screening_id: int) -> Path:
    """Where the overlay of a screening is kept (JPEG: a 1024-px PNG took 450 ms to encode and weighed ~1 MB)."""
    return Path(data_home) / OVERLAY_DIR / f"{screening_id}.jpg"


class ScreeningWorker:
    """A pool of ``workers`` threads screening pending screenings with one shared screener.

    Args:
        sessions: session factory of the clinic database.
        blobs: the image store.
        screener: a :class:`~medscreen.pipelines.screening.Screener` (or an object with its ``analyse``).
        data_home: the data folder (overlays go in ``<data_home>/overlays``).
        workers: number of threads (≥ 1).
    """

    def __init__(self, sessions: sessionmaker[Session], blobs: BlobStore, screener: ScreenerLike,
                 data_home: Path, workers: int = 1) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.sessions = sessions
        self.blobs = blobs
        self.screener = screener
        self.data_home = Path(data_home)
        self.workers = workers
        self._pool: ThreadPoolExecutor | None = None

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
        except Exception:  # noqa: BLE001 - a worker thread must never die; the reason is recorded below
            logger.exception("screening %d failed unexpectedly", screening_id)
            with self.sessions() as session:
                screening = session.get(Screening, screening_id)
                if screening is not None and screening.status is ScreeningStatus.RUNNING:
                    record_failure(session, screening, "internal error while screening; upload the image again")
                    session.commit()

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
            record_result(session, screening, output.result)
            session.commit()
            logger.info("screening %d done: %s", screening_id, output.result.advice)

    def _save_overlay(self, screening_id: int, output: Any) -> None:
        from medscreen.pipelines.report import overlay_image

        path = overlay_path(self.data_home, screening_id)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        image = PILImage.fromarray(overlay_image(output))
        image.thumbnail((OVERLAY_MAX_SIDE, OVERLAY_MAX_SIDE))
        tmp = path.with_suffix(".tmp")
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as fp:
            image.save(fp, format="JPEG", quality=90)
            fp.flush()
            os.fsync(fp.fileno())
        tmp.replace(path)
