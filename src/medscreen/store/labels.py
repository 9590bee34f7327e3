"""Reviewers' verdicts as a training manifest (``medscreen export-labels``).

Each reviewed finding becomes one row of a medscreen CSV manifest
(:mod:`medscreen.datasets.manifest`): the image's absolute path in the data
folder, the label (the model's finding when the reviewer confirmed it, the
reviewer's label when they corrected it), an opaque patient id
(``<clinic id>-<patient id>``, never a name, so patient-level splits keep a
patient's images together), the task, the decision and when it was reviewed.
Only the latest review of each image and task counts.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from medscreen.datasets.manifest import write_manifest
from medscreen.datasets.records import Record
from medscreen.store.errors import StoreError
from medscreen.store.models import Capture, Decision, Image, Patient, Review, ReviewTask, Screening, Visit
from medscreen.store.screenings import model_label, parse_task

__all__ = ["LABEL_DATASET", "export_labels"]

logger = logging.getLogger(__name__)

#: the manifest's ``dataset`` column for exported clinic labels
LABEL_DATASET = "clinic"


def export_labels(
    session: Session, out_csv: str | Path, data_home: str | Path, *, task: ReviewTask | str | None = None
) -> int:
    """Write the reviewed labels as a CSV manifest that ``read_manifest`` (and training) reads.

    Columns: ``image, mask, label, patient_id, dataset, key, task, decision,
    reviewed_at``. Give ``task`` to export one task only, the form ``medscreen
    train <task> --manifest`` takes (a mixed file mixes label vocabularies).

    Args:
        session: a session of the clinic database.
        out_csv: the manifest to write (written atomically; its folder is made).
        data_home: the data folder holding the images.
        task: ``glaucoma``, ``progression`` or ``breast-class``; None exports all.

    Returns:
        The number of rows written.

    Raises:
        StoreError: no reviewed finding to export (for this task).
    """
    home = Path(data_home).expanduser().resolve()
    query = (
        select(Review, Screening, Image.sha256, Image.path, Patient.clinic_id, Patient.id)
        .join(Screening, Review.screening_id == Screening.id)
        .join(Capture, Screening.capture_id == Capture.id)
        .join(Image, Capture.image_id == Image.id)
        .join(Visit, Capture.visit_id == Visit.id)
        .join(Patient, Visit.patient_id == Patient.id)
        .order_by(Review.created_at, Review.id)
    )
    only = None if task is None else parse_task(task)
    if only is not None:
        query = query.where(Review.task == only)
    latest: dict[tuple[str, ReviewTask], tuple[Review, Screening, str, str]] = {}
    for review, screening, sha, rel_path, clinic_id, patient_id in session.execute(query):
        latest[(sha, review.task)] = (review, screening, rel_path, f"{clinic_id}-{patient_id}")
    records, tasks, decisions, times = [], [], [], []
    for (sha, review_task), (review, screening, rel_path, patient_ref) in latest.items():
        image = home / rel_path
        label = model_label(screening, review_task) if review.decision is Decision.CONFIRM else review.label
        if label is None:
            logger.warning("review %d of screening %d gives no label; skipped", review.id, screening.id)
            continue
        if not image.is_file():
            logger.warning("image %s of review %d is missing from %s; skipped", sha[:12], review.id, home)
            continue
        records.append(
            Record(
                image=image,
                label=label,
                patient_id=patient_ref,
                dataset=LABEL_DATASET,
                key=f"{sha[:16]}-{review_task.value}",
            )
        )
        tasks.append(review_task.value)
        decisions.append(review.decision.value)
        times.append(review.created_at.isoformat())
    if not records:
        which = f" for task {only.value!r}" if only is not None else ""
        raise StoreError(f"no reviewed findings{which} to export from the database; review cases first")
    write_manifest(records, out_csv, extra={"task": tasks, "decision": decisions, "reviewed_at": times}, relative=False)
    logger.info("exported %d labels to %s", len(records), out_csv)
    return len(records)
