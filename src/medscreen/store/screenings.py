"""Screening results and reviews: storing the pipeline's answer, the review queue, a reviewer's verdict.

The screening worker calls :func:`record_result` (or :func:`record_failure`)
on a pending :class:`Screening`; reviewers work through :func:`review_queue`
and answer with :func:`add_review`. A review confirms the model's finding for
one task or corrects it with a label of that task (the classes of ``medscreen
train``); :func:`model_label` gives the model's finding in the same words, so
:mod:`medscreen.store.labels` can export both as training labels.
Functions add and flush; the caller commits.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from medscreen.errors import did_you_mean
from medscreen.store.errors import StoreError
from medscreen.store.models import (
    Advice,
    Capture,
    Decision,
    Modality,
    Patient,
    Review,
    ReviewTask,
    Role,
    Screening,
    ScreeningStatus,
    User,
    Visit,
    utcnow,
)
from medscreen.store.users import require
from medscreen.tasks import TASKS, task_names

if TYPE_CHECKING:
    from medscreen.pipelines.schema import ScreeningResult

__all__ = [
    "MODALITY_TASKS",
    "QUEUE_ADVICE",
    "add_review",
    "model_label",
    "parse_task",
    "record_failure",
    "record_result",
    "review_queue",
]

logger = logging.getLogger(__name__)

#: the findings a reviewer can confirm or correct, per modality
MODALITY_TASKS: dict[Modality, tuple[ReviewTask, ...]] = {
    m: tuple(ReviewTask(t) for t in task_names(modality=m.value, reviewed=True)) for m in Modality
}
#: advice that puts a screening in the review queue: referred, review (the model could not decide), and
#: rescreen (the pipeline could not use the image)
QUEUE_ADVICE: tuple[Advice, ...] = (Advice.REFER, Advice.REVIEW, Advice.RESCREEN)
_MAX_ERROR = 2000


def record_result(session: Session, screening: Screening, result: ScreeningResult) -> None:
    """Store the pipeline's result on a screening and mark it done.

    The whole result goes in ``result_json``; advice, probabilities, disc
    diameter, breast class and model hashes are copied to their columns.
    """
    screening.status = ScreeningStatus.DONE
    screening.error = None
    screening.result_json = result.model_dump(mode="json")
    screening.advice = Advice(result.advice)
    screening.glaucoma_probability = result.glaucoma.probability if result.glaucoma else None
    screening.progression_probability = result.progression.probability if result.progression else None
    screening.disc_diameter_px = result.disc.diameter_px if result.disc else None
    screening.breast_label = result.breast_class.label if result.breast_class else None
    screening.model_hashes = {task: model.sha256 for task, model in result.models.items()}
    screening.finished_at = utcnow()
    session.flush()


def record_failure(session: Session, screening: Screening, error: str) -> None:
    """Mark a screening failed with a short reason (no patient data: say what failed, not whose)."""
    screening.status = ScreeningStatus.FAILED
    screening.error = error[:_MAX_ERROR]
    screening.finished_at = utcnow()
    session.flush()


def model_label(screening: Screening, task: ReviewTask | str) -> str | None:
    """The model's finding for ``task`` as a class name of that task, or None when the model gave none."""
    spec = TASKS[parse_task(task).value]
    finding = (screening.result_json or {}).get(spec.result_field)
    if not finding:
        return None
    if spec.positive_flag is not None:  # a binary finding: its flag means the second class
        return spec.classes[1] if finding[spec.positive_flag] else spec.classes[0]
    return finding.get("label")


def parse_task(task: ReviewTask | str) -> ReviewTask:
    """A :class:`ReviewTask` from itself or its value; unknown names raise StoreError with a suggestion."""
    try:
        return ReviewTask(task)
    except ValueError:
        choices = [t.value for t in ReviewTask]
        raise StoreError(f"review task {task!r} is not one of {', '.join(choices)}" + did_you_mean(task, choices)) from None


def review_queue(
    session: Session, user: User, *, advice: Sequence[Advice] = QUEUE_ADVICE, limit: int = 100
) -> list[Screening]:
    """Finished, unreviewed screenings with the given advice, oldest first; the user's clinic only (admin: all).

    Raises:
        PermissionDeniedError: the user may not read reviews (health workers).
    """
    require(user, "review.read")
    query = (
        select(Screening)
        .where(Screening.status == ScreeningStatus.DONE, Screening.advice.in_(list(advice)))
        .where(~exists().where(Review.screening_id == Screening.id))
        .order_by(Screening.finished_at, Screening.id)
        .limit(limit)
    )
    if user.role is not Role.ADMIN:
        query = (
            query.join(Capture, Screening.capture_id == Capture.id)
            .join(Visit, Capture.visit_id == Visit.id)
            .join(Patient, Visit.patient_id == Patient.id)
            .where(Patient.clinic_id == user.clinic_id)
        )
    return list(session.scalars(query))


def add_review(
    session: Session,
    screening: Screening,
    reviewer: User,
    *,
    task: ReviewTask | str,
    decision: Decision | str,
    label: str | None = None,
    comment: str | None = None,
) -> Review:
    """Record a reviewer's verdict on one finding of a finished screening.

    Args:
        task: ``glaucoma`` or ``progression`` (fundus), ``breast-class`` (ultrasound).
        decision: ``confirm`` (the model's finding stands; ``label`` may be omitted)
            or ``correct`` (``label`` is the right class).
        label: a class of the task: ``normal``/``glaucoma``, ``stable``/``progressing``,
            ``normal``/``benign``/``malignant``.
        comment: free text for colleagues (never exported, never logged).

    Raises:
        PermissionDeniedError: the reviewer may not review this clinic's screenings.
        StoreError: the screening is not done, the task does not fit its modality, the label is
            not a class of the task, or a confirmation of a finding the model did not make.
    """
    require(reviewer, "review.create", screening)
    task = parse_task(task)
    try:
        decision = Decision(decision)
    except ValueError:
        raise StoreError(f"decision {decision!r} must be 'confirm' or 'correct'") from None
    if screening.status is not ScreeningStatus.DONE:
        raise StoreError(f"screening {screening.id} is {screening.status.value}; review it once it is done")
    modality = screening.capture.visit.modality
    if task not in MODALITY_TASKS[modality]:
        allowed = ", ".join(t.value for t in MODALITY_TASKS[modality])
        raise StoreError(
            f"screening {screening.id} is {modality.value}: review task must be {allowed}, not {task.value!r}"
        )
    finding = model_label(screening, task)
    if decision is Decision.CONFIRM:
        if finding is None:
            raise StoreError(
                f"screening {screening.id} has no {task.value} finding to confirm; use decision 'correct' with a label"
            )
        if label is not None and label != finding:
            raise StoreError(
                f"confirming screening {screening.id} keeps the model's {task.value} finding {finding!r}; "
                f"to give {label!r} use decision 'correct'"
            )
        label = finding
    classes = TASKS[task.value].classes
    if label not in classes:
        raise StoreError(
            f"label {label!r} is not a {task.value} class ({', '.join(classes)})" + did_you_mean(label, classes)
        )
    review = Review(screening=screening, reviewer=reviewer, task=task, decision=decision, label=label, comment=comment)
    session.add(review)
    session.flush()
    logger.info("review %d of screening %d: %s %s", review.id, screening.id, task.value, decision.value)
    return review
