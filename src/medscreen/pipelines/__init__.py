"""Screening pipelines: the input check, then the models, then the result. No torch here."""

from __future__ import annotations

from medscreen.pipelines.quality import (
    MODALITIES,
    THRESHOLDS,
    Gate,
    Modality,
    QualityReport,
    assess_fundus,
    assess_image,
    assess_ultrasound,
    detect_modality,
    judge,
    measure_image,
)

__all__ = [
    "MODALITIES",
    "THRESHOLDS",
    "Gate",
    "Modality",
    "QualityReport",
    "assess_fundus",
    "assess_image",
    "assess_ultrasound",
    "detect_modality",
    "judge",
    "measure_image",
]
