"""Pipeline results on screenings, the review queue, and reviews."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session
from store_support import World, breast_result, fundus_result, png_bytes

from medscreen.store.blobs import BlobStore
from medscreen.store.errors import PermissionDeniedError, StoreError
from medscreen.store.models import Advice, Decision, Modality, Patient, Screening, ScreeningStatus
from medscreen.store.screenings import (
    add_review,
    current_review,
    mark_reviews_seen,
    model_label,
    queue_category,
    record_failure,
    record_result,
    review_queue,
    standing_advice,
    unseen_reviews,
)
from medscreen.store.uploads import record_capture


def _screening(
    session: Session,
    blobs: BlobStore,
    world: World,
    *,
    patient: Patient | None = None,
    modality: Modality = Modality.FUNDUS,
    colour: tuple[int, int, int] = (9, 9, 9),
) -> Screening:
    visit = world.visit(session, patient, modality=modality)
    eye = "OD" if modality is Modality.FUNDUS else None
    capture = record_capture(
        session,
        blobs,
        visit=visit,
        eye=eye,
        data=png_bytes(colour=colour),
        filename="x.png",
        user=world.worker if (patient or world.patient) is world.patient else world.worker_b,
    )
    return capture.screenings[0]


def test_record_result_copies_the_queried_values(session: Session, blobs: BlobStore, world: World) -> None:
    screening = _screening(session, blobs, world)
    record_result(session, screening, fundus_result(0.81, progression=0.7, diameter=142.5))
    session.commit()
    session.expire_all()
    assert screening.status is ScreeningStatus.DONE and screening.advice is Advice.REFER
    assert (screening.glaucoma_probability, screening.progression_probability, screening.disc_diameter_px) == (
        0.81,
        0.7,
        142.5,
    )
    assert screening.model_hashes == {"glaucoma": "ab" * 32}
    assert screening.result_json["glaucoma"]["threshold"] == 0.5 and screening.finished_at.tzinfo is not None
    assert screening.messages_json is None  # no messages given: pages show the result's English reasons
    assert (model_label(screening, "glaucoma"), model_label(screening, "progression")) == ("glaucoma", "progressing")


def test_record_result_keeps_the_reasons_as_messages(session: Session, blobs: BlobStore, world: World) -> None:
    from medscreen.i18n import Message, Number
    from medscreen.pipelines.schema import GlaucomaFinding
    from medscreen.pipelines.screening import glaucoma_reasons

    screening = _screening(session, blobs, world)
    reasons = glaucoma_reasons(GlaucomaFinding(probability=0.81, threshold=0.5, positive=True))
    quality = [Message("only %(value)s of it is red-orange (≥ %(limit)s)", {"value": Number(0.5, ".0%"),
                                                                           "limit": Number(0.758, ".0%")})]
    record_result(session, screening, fundus_result(0.81), reason_messages=reasons, quality_messages=quality)
    session.commit()
    session.expire_all()
    stored = screening.messages_json
    assert [Message.from_json(m) for m in stored["reasons"]] == reasons
    assert [str(Message.from_json(m)) for m in stored["quality_reasons"]] == ["only 50% of it is red-orange (≥ 76%)"]


def test_record_failure(session: Session, blobs: BlobStore, world: World) -> None:
    screening = _screening(session, blobs, world)
    record_failure(session, screening, "model file missing: " + "x" * 5000)
    assert screening.status is ScreeningStatus.FAILED and len(screening.error) == 2000


def test_review_queue_is_per_clinic_and_excludes_reviewed_and_routine(
    session: Session, blobs: BlobStore, world: World
) -> None:
    referred = _screening(session, blobs, world, colour=(1, 1, 1))
    routine = _screening(session, blobs, world, colour=(2, 2, 2))
    other_clinic = _screening(session, blobs, world, patient=world.patient_b, colour=(3, 3, 3))
    pending = _screening(session, blobs, world, colour=(4, 4, 4))
    record_result(session, referred, fundus_result(0.9))
    record_result(session, routine, fundus_result(0.1))
    record_result(session, other_clinic, fundus_result(0.9))
    session.commit()
    assert pending.status is ScreeningStatus.PENDING
    assert review_queue(session, world.reviewer) == [referred]
    assert review_queue(session, world.reviewer_b) == [other_clinic]
    assert review_queue(session, world.admin) == [referred, other_clinic]
    with pytest.raises(PermissionDeniedError):
        review_queue(session, world.worker)
    add_review(session, referred, world.reviewer, task="glaucoma", decision="confirm")
    assert review_queue(session, world.reviewer) == []


def test_add_review_validates(session: Session, blobs: BlobStore, world: World) -> None:
    fundus = _screening(session, blobs, world, colour=(1, 1, 1))
    with pytest.raises(StoreError, match="pending; review it once it is done"):
        add_review(session, fundus, world.reviewer, task="glaucoma", decision="confirm")
    record_result(session, fundus, fundus_result(0.9, progression=None))
    with pytest.raises(PermissionDeniedError):
        add_review(session, fundus, world.reviewer_b, task="glaucoma", decision="confirm")
    with pytest.raises(StoreError, match="did you mean 'normal'"):
        add_review(session, fundus, world.reviewer, task="glaucoma", decision="correct", label="norml")
    with pytest.raises(StoreError, match="must be glaucoma, progression"):
        add_review(session, fundus, world.reviewer, task="breast-class", decision="correct", label="benign")
    with pytest.raises(StoreError, match="no progression finding to confirm"):
        add_review(session, fundus, world.reviewer, task="progression", decision="confirm")
    with pytest.raises(StoreError, match="use decision 'correct'"):
        add_review(session, fundus, world.reviewer, task="glaucoma", decision="confirm", label="normal")
    review = add_review(
        session, fundus, world.reviewer, task="progression", decision="correct", label="stable", comment="old photo"
    )
    assert (review.decision, review.label) == (Decision.CORRECT, "stable")
    confirmed = add_review(session, fundus, world.reviewer, task="glaucoma", decision="confirm")
    assert confirmed.label == "glaucoma"


def test_breast_review(session: Session, blobs: BlobStore, world: World) -> None:
    study = _screening(session, blobs, world, modality=Modality.ULTRASOUND)
    record_result(session, study, breast_result("malignant"))
    assert study.breast_label == "malignant" and model_label(study, "breast-class") == "malignant"
    review = add_review(session, study, world.reviewer, task="breast-class", decision="correct", label="benign")
    assert review.label == "benign"


def _fundus_with(result_kwargs: dict, **kwargs: object):  # a fundus result with some fields replaced
    return fundus_result(**kwargs).model_copy(update=result_kwargs)


def test_queue_sorted_by_urgency_with_rejections_apart(session: Session, blobs: BlobStore, world: World) -> None:
    from medscreen.pipelines.schema import ScreeningResult

    rescreen = _screening(session, blobs, world, colour=(11, 1, 1))
    cat = _screening(session, blobs, world, colour=(12, 1, 1))
    review = _screening(session, blobs, world, colour=(13, 1, 1))
    refer = _screening(session, blobs, world, colour=(14, 1, 1))
    urgent = _screening(session, blobs, world, modality=Modality.ULTRASOUND, colour=(15, 1, 1))
    poor = {"modality": "fundus", "modality_confidence": 0.9, "gradable": False, "advice": "rescreen",
            "reasons": ["too dark"]}
    record_result(session, rescreen, ScreeningResult(detected_modality="fundus", **poor))
    record_result(session, cat, ScreeningResult(detected_modality="unknown", **poor))
    record_result(session, review, _fundus_with({"advice": "review"}, probability=0.45))
    record_result(session, refer, fundus_result(0.9))
    malignant = breast_result("benign")
    record_result(session, urgent, malignant.model_copy(
        update={"breast_class": malignant.breast_class.model_copy(update={"urgent": True})}))
    session.commit()
    assert review_queue(session, world.reviewer) == [urgent, refer, review, rescreen]
    assert review_queue(session, world.reviewer, category="rejected") == [cat]
    assert review_queue(session, world.reviewer, category="review") == [review]
    assert [queue_category(s) for s in (urgent, refer, review, rescreen, cat)] == [
        "urgent", "refer", "review", "rescreen", "rejected"]
    with pytest.raises(StoreError, match="did you mean 'refer'"):
        review_queue(session, world.reviewer, category="refr")


def test_a_new_review_supersedes_the_old_and_sets_the_standing_advice(
    session: Session, blobs: BlobStore, world: World
) -> None:
    screening = _screening(session, blobs, world, colour=(21, 1, 1))
    record_result(session, screening, fundus_result(0.9, progression=None))
    session.commit()
    assert current_review(screening) is None and standing_advice(screening) is Advice.REFER
    first = add_review(session, screening, world.reviewer, task="glaucoma", decision="confirm")
    assert current_review(screening) is first and standing_advice(screening) is Advice.REFER
    second = add_review(session, screening, world.reviewer, task="glaucoma", decision="correct", label="normal",
                        comment="physiological cup")
    session.commit()
    session.expire_all()
    assert [r.id for r in screening.reviews] == [first.id, second.id]  # both kept for audit
    assert first.superseded_at is not None and second.superseded_at is None
    assert current_review(screening) is second and standing_advice(screening) is Advice.ROUTINE
    visit = screening.capture.visit
    assert unseen_reviews(visit) == [second]
    assert mark_reviews_seen(visit, world.reviewer) == 0  # only a health worker's visit marks them seen
    assert mark_reviews_seen(visit, world.worker) == 1 and unseen_reviews(visit) == []


def test_laterality_question_and_answer(session: Session, blobs: BlobStore, world: World) -> None:
    from medscreen.pipelines.schema import DiscFinding
    from medscreen.store.laterality import answer_eye, eye_mismatch, eye_warning
    from medscreen.store.models import AuditEvent, Eye

    screening = _screening(session, blobs, world, colour=(31, 1, 1))  # saved as OD
    left = fundus_result(0.1).model_copy(update={"disc": DiscFinding(found=True, centre_x=5.0, centre_y=5.0,
                                                                     diameter_px=10.0, eye="left")})
    record_result(session, screening, left)
    capture = screening.capture
    assert eye_mismatch(capture) is Eye.OS and "looks like a left eye (OS)" in eye_warning(capture)
    with pytest.raises(PermissionDeniedError):
        answer_eye(session, capture, world.worker_b, "OS")
    assert answer_eye(session, capture, world.worker, "OS") is True
    assert capture.eye is Eye.OS and eye_mismatch(capture) is None
    assert session.query(AuditEvent).filter_by(action="capture.eye", object_id=str(capture.id)).count() == 1
    # kept: asked once, never again
    other = _screening(session, blobs, world, colour=(32, 1, 1))
    record_result(session, other, left)
    assert answer_eye(session, other.capture, world.worker, "OD") is False
    assert other.capture.eye is Eye.OD and eye_mismatch(other.capture) is None
