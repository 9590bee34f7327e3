"""Reviews exported as a medscreen manifest that read_manifest (and training) reads back."""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from store_support import World, breast_result, fundus_result, png_bytes

from medscreen.datasets.manifest import read_manifest
from medscreen.store.blobs import BlobStore
from medscreen.store.errors import StoreError
from medscreen.store.labels import export_labels
from medscreen.store.models import Modality, Review
from medscreen.store.screenings import add_review, record_result
from medscreen.store.uploads import record_capture
from medscreen.training.config import CLASS_NAMES


def _screened(session: Session, blobs: BlobStore, world: World, result, colour, modality=Modality.FUNDUS, patient=None):
    visit = world.visit(session, patient, modality=modality)
    user = world.worker if patient is None else world.worker_b
    capture = record_capture(
        session,
        blobs,
        visit=visit,
        eye="OD" if modality is Modality.FUNDUS else None,
        data=png_bytes(colour=colour),
        filename="x.png",
        user=user,
    )
    screening = capture.screenings[0]
    record_result(session, screening, result)
    return screening


def test_export_labels_round_trips_through_read_manifest(
    session: Session, blobs: BlobStore, world: World, data_home: Path, tmp_path: Path
) -> None:
    confirmed = _screened(session, blobs, world, fundus_result(0.9), (1, 1, 1))
    corrected = _screened(session, blobs, world, fundus_result(0.8, progression=0.2), (2, 2, 2))
    study = _screened(
        session, blobs, world, breast_result("malignant"), (3, 3, 3), Modality.ULTRASOUND, world.patient_b
    )
    unreviewed = _screened(session, blobs, world, fundus_result(0.95), (4, 4, 4))
    add_review(session, confirmed, world.reviewer, task="glaucoma", decision="confirm")
    add_review(session, corrected, world.reviewer, task="glaucoma", decision="confirm")
    later = add_review(session, corrected, world.reviewer, task="glaucoma", decision="correct", label="normal")
    later.created_at += timedelta(minutes=5)  # the latest review of a finding wins
    add_review(session, corrected, world.reviewer, task="progression", decision="correct", label="progressing")
    add_review(session, study, world.reviewer_b, task="breast-class", decision="correct", label="benign")
    session.commit()

    out = tmp_path / "labels" / "labels.csv"
    assert export_labels(session, out, data_home) == 4
    index = read_manifest(out)
    assert index.errors == []
    got = {(r.image, r.fields["task"]): r for r in index.records}
    assert len(got) == 4 and unreviewed.capture.image.sha256 not in out.read_text()

    def row(screening, task):
        return got[(data_home.resolve() / screening.capture.image.path, task)]

    assert row(confirmed, "glaucoma").label == "glaucoma"  # confirm: the model's finding
    assert row(confirmed, "glaucoma").fields["decision"] == "confirm"
    assert row(corrected, "glaucoma").label == "normal"  # correct: the reviewer's label
    assert row(corrected, "progression").label == "progressing"
    assert row(study, "breast-class").label == "benign"
    assert row(study, "breast-class").patient_id == f"{world.clinic_b.id}-{world.patient_b.id}"
    assert row(confirmed, "glaucoma").patient_id == f"{world.clinic_a.id}-{world.patient.id}"
    for record in index.records:
        assert record.image.is_absolute() and record.image.is_file()
        assert "reviewed_at" in record.fields and record.dataset == "clinic"

    text = out.read_text()
    for secret in (world.patient.name, world.patient_b.name, world.patient.clinic_ref, str(world.patient.birth_year)):
        assert secret not in text
    with out.open(newline="") as f:
        header = next(csv.reader(f))
    assert header[:4] == ["image", "mask", "label", "patient_id"] and {"task", "reviewed_at"} <= set(header)


def test_export_one_task_reads_with_its_labels(
    session: Session, blobs: BlobStore, world: World, data_home: Path, tmp_path: Path
) -> None:
    screening = _screened(session, blobs, world, fundus_result(0.9), (1, 1, 1))
    add_review(session, screening, world.reviewer, task="glaucoma", decision="correct", label="normal")
    add_review(session, screening, world.reviewer, task="progression", decision="correct", label="stable")
    session.commit()
    out = tmp_path / "glaucoma.csv"
    assert export_labels(session, out, data_home, task="glaucoma") == 1
    index = read_manifest(out, labels=CLASS_NAMES["glaucoma"])
    assert index.errors == [] and [r.label for r in index.records] == ["normal"]


def test_export_with_nothing_reviewed_says_so(session: Session, data_home: Path, tmp_path: Path, world: World) -> None:
    with pytest.raises(StoreError, match="review cases first"):
        export_labels(session, tmp_path / "x.csv", data_home)
    with pytest.raises(StoreError, match="did you mean 'glaucoma'"):
        export_labels(session, tmp_path / "x.csv", data_home, task="glaucom")


def test_reviews_of_missing_images_are_skipped(
    session: Session, blobs: BlobStore, world: World, data_home: Path, tmp_path: Path
) -> None:
    kept = _screened(session, blobs, world, fundus_result(0.9), (1, 1, 1))
    lost = _screened(session, blobs, world, fundus_result(0.9), (2, 2, 2))
    for s in (kept, lost):
        add_review(session, s, world.reviewer, task="glaucoma", decision="confirm")
    session.commit()
    blobs.remove(lost.capture.image.sha256)
    assert export_labels(session, tmp_path / "x.csv", data_home) == 1
    assert session.query(Review).count() == 2
