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

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session, selectinload

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
    from medscreen.i18n import Message
    from medscreen.pipelines.schema import ScreeningResult

__all__ = [
    "LABEL_ADVICE",
    "MODALITY_TASKS",
    "QUEUE_ADVICE",
    "QUEUE_FILTERS",
    "add_review",
    "current_review",
    "mark_reviews_seen",
    "model_label",
    "parse_task",
    "queue_category",
    "record_failure",
    "record_result",
    "review_queue",
    "standing_advice",
    "unseen_reviews",
    "new_review_counts",
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
#: the queue's filters, most urgent first: a malignant (or above the malignancy threshold) breast finding,
#: refer, review (uncertain), rescreen (a poor photo of the right kind), and images that are not the
#: modality's kind at all (a cat, a document: not fundus / not ultrasound), which never mix with referrals
QUEUE_FILTERS: tuple[str, ...] = ("urgent", "refer", "review", "rescreen", "rejected")
#: the advice that stands after a review, per task and reviewed label (the pipeline's rules: a positive
#: glaucoma or a breast lesion is referred; progression only ever adds a referral)
LABEL_ADVICE: dict[str, dict[str, Advice | None]] = {
    "glaucoma": {"glaucoma": Advice.REFER, "normal": Advice.ROUTINE},
    "progression": {"progressing": Advice.REFER, "stable": None},
    "breast-class": {"malignant": Advice.REFER, "benign": Advice.REFER, "normal": Advice.ROUTINE},
}


def record_result(session: Session, screening: Screening, result: ScreeningResult, *,
                  reason_messages: Sequence[Message] = (), quality_messages: Sequence[Message] = ()) -> None:
    """Store the pipeline's result on a screening and mark it done.

    The whole result goes in ``result_json``; advice, probabilities, disc
    diameter, breast class and model hashes are copied to their columns. The
    reasons as translatable messages (the pipeline's
    :class:`~medscreen.pipelines.schema.ScreeningOutput`), when given, go in
    ``messages_json`` so that readers see them in their language.
    """
    screening.status = ScreeningStatus.DONE
    screening.error = None
    screening.result_json = result.model_dump(mode="json")
    screening.messages_json = {"reasons": [m.to_json() for m in reason_messages],
                               "quality_reasons": [m.to_json() for m in quality_messages]} if reason_messages else None
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


def queue_category(screening: Screening) -> str:
    """The screening's queue filter (:data:`QUEUE_FILTERS`): urgent, refer, review, rescreen or rejected."""
    result = screening.result_json or {}
    if (result.get("breast_class") or {}).get("urgent"):
        return "urgent"
    if screening.advice is Advice.RESCREEN and result.get("detected_modality") not in (None, result.get("modality")):
        return "rejected"  # the input check says it is not a photo of this kind at all
    return screening.advice.value if screening.advice is not None else "rescreen"


def review_queue(
    session: Session, user: User, *, advice: Sequence[Advice] = QUEUE_ADVICE, category: str | None = None,
    limit: int = 100,
) -> list[Screening]:
    """Finished, unreviewed screenings with the given advice, most urgent first; the user's clinic only (admin: all).

    Args:
        category: one of :data:`QUEUE_FILTERS`; None: every category but ``rejected``.

    Raises:
        PermissionDeniedError: the user may not read reviews (health workers).
        StoreError: an unknown category.
    """
    require(user, "review.read")
    if category is not None and category not in QUEUE_FILTERS:
        raise StoreError(f"queue filter {category!r} is not one of {', '.join(QUEUE_FILTERS)}"
                         + did_you_mean(category, QUEUE_FILTERS))
    query = (
        select(Screening)
        .where(Screening.status == ScreeningStatus.DONE, Screening.advice.in_(list(advice)))
        .where(~exists().where(Review.screening_id == Screening.id))
        .order_by(Screening.finished_at, Screening.id)
    )
    if user.role is not Role.ADMIN:
        query = (
            query.join(Capture, Screening.capture_id == Capture.id)
            .join(Visit, Capture.visit_id == Visit.id)
            .join(Patient, Visit.patient_id == Patient.id)
            .where(Patient.clinic_id == user.clinic_id)
        )
    query = query.options(selectinload(Screening.capture).selectinload(Capture.visit).selectinload(Visit.patient))
    # every unreviewed case is ranked (the urgency comes from the stored result), then the first `limit` are kept
    ranked = [(QUEUE_FILTERS.index(queue_category(s)), s) for s in session.scalars(query)]
    wanted = [(rank, s) for rank, s in ranked
              if (QUEUE_FILTERS[rank] == category if category else rank < len(QUEUE_FILTERS) - 1)]
    wanted.sort(key=lambda item: item[0])  # stable: oldest first within a category
    return [s for _, s in wanted[:limit]]


def current_review(screening: Screening) -> Review | None:
    """The review that stands (the newest; older ones are superseded), or None."""
    current = [r for r in screening.reviews if r.superseded_at is None]
    return current[-1] if current else None


def standing_advice(screening: Screening) -> Advice | None:
    """The advice that stands: the current review's (its label through :data:`LABEL_ADVICE`), else the model's."""
    review = current_review(screening)
    if review is None or review.label is None:
        return screening.advice
    return LABEL_ADVICE.get(review.task.value, {}).get(review.label) or screening.advice


def unseen_reviews(visit: Visit) -> list[Review]:
    """Current reviews of the visit's screenings that no health worker has opened yet."""
    return [r for c in visit.captures for s in c.screenings
            if (r := current_review(s)) is not None and r.seen_at is None]


def new_review_counts(session: Session, patient_ids: list[int]) -> dict[int, int]:
    """Per patient id (only those with any), how many current reviews no health worker has opened: one query."""
    if not patient_ids:
        return {}
    rows = session.execute(
        select(Visit.patient_id, func.count(Review.id))
        .join(Capture, Capture.visit_id == Visit.id)
        .join(Screening, Screening.capture_id == Capture.id)
        .join(Review, Review.screening_id == Screening.id)
        .where(Visit.patient_id.in_(patient_ids), Review.superseded_at.is_(None), Review.seen_at.is_(None))
        .group_by(Visit.patient_id)
    )
    return {pid: n for pid, n in rows if n}


def mark_reviews_seen(visit: Visit, user: User) -> int:
    """A health worker opened the visit: its new reviews are seen now; returns how many (others: none)."""
    if user.role is not Role.HEALTH_WORKER:
        return 0
    fresh = unseen_reviews(visit)
    now = utcnow()
    for review in fresh:
        review.seen_at = now
    return len(fresh)


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
    """Record a reviewer's verdict on one finding of a finished screening; it supersedes earlier reviews.

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
    now = utcnow()
    for older in screening.reviews:
        if older.superseded_at is None:
            older.superseded_at = now  # one current review per screening; the older ones stay for audit
    review = Review(screening=screening, reviewer=reviewer, task=task, decision=decision, label=label, comment=comment,
                    created_at=now)
    session.add(review)
    session.flush()
    logger.info("review %d of screening %d: %s %s", review.id, screening.id, task.value, decision.value)
    return review
