"""Builders shared by the store tests (tiny images, a clinic world, screening results)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime

from PIL import Image as PILImage
from sqlalchemy.orm import Session

from medscreen.pipelines.schema import (
    BreastClassFinding,
    DiscFinding,
    GlaucomaFinding,
    ModelVersion,
    ProgressionFinding,
    ScreeningResult,
)
from medscreen.store.models import Clinic, Modality, Patient, User, Visit

PASSWORD = "correct horse battery"


def png_bytes(
    width: int = 24, height: int = 16, colour: tuple[int, int, int] = (200, 80, 40), fmt: str = "PNG"
) -> bytes:
    """A tiny solid-colour image file's bytes."""
    buf = io.BytesIO()
    PILImage.new("RGB", (width, height), colour).save(buf, format=fmt)
    return buf.getvalue()


@dataclass
class World:
    """Two clinics, a user of each role in clinic A, a health worker in clinic B, one patient each."""

    clinic_a: Clinic
    clinic_b: Clinic
    worker: User
    reviewer: User
    admin: User
    worker_b: User
    reviewer_b: User
    patient: Patient
    patient_b: Patient

    def visit(
        self,
        session: Session,
        patient: Patient | None = None,
        *,
        modality: Modality = Modality.FUNDUS,
        taken_at: datetime | None = None,
    ) -> Visit:
        visit = Visit(
            patient=patient or self.patient,
            modality=modality,
            created_by=self.worker,
            taken_at=taken_at or datetime(2024, 1, 1, tzinfo=UTC),
        )
        session.add(visit)
        session.commit()
        return visit


def fundus_result(
    probability: float = 0.8, threshold: float = 0.5, progression: float | None = 0.3, diameter: float = 120.0
) -> ScreeningResult:
    """A gradable fundus result: refer when the glaucoma probability reaches the threshold."""
    positive = probability >= threshold
    return ScreeningResult(
        modality="fundus",
        detected_modality="fundus",
        modality_confidence=0.95,
        gradable=True,
        advice="refer" if positive else "routine",
        reasons=["test"],
        disc=DiscFinding(found=True, centre_x=10.0, centre_y=10.0, diameter_px=diameter),
        glaucoma=GlaucomaFinding(probability=probability, threshold=threshold, positive=positive),
        progression=None
        if progression is None
        else ProgressionFinding(probability=progression, threshold=0.5, progressing=progression >= 0.5),
        models={"glaucoma": ModelVersion(file="glaucoma.onnx", sha256="ab" * 32)},
    )


def breast_result(label: str = "benign") -> ScreeningResult:
    probabilities = {"normal": 0.1, "benign": 0.1, "malignant": 0.1} | {label: 0.8}
    return ScreeningResult(
        modality="ultrasound",
        detected_modality="ultrasound",
        modality_confidence=0.9,
        gradable=True,
        advice="routine" if label == "normal" else "refer",
        reasons=["test"],
        breast_class=BreastClassFinding(probabilities=probabilities, label=label),
        models={"breast_class": ModelVersion(file="breast.onnx", sha256="cd" * 32)},
    )
