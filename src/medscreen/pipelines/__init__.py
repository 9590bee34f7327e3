"""Screening pipelines: the input check, then the models, then the result. No torch here.

``Screener``, ``screen`` and ``get_screener`` (:mod:`.screening`) are imported on
first use: they pull in the model runtime, which the input check alone does not need.
"""

from __future__ import annotations

from typing import Any

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
from medscreen.pipelines.schema import SCHEMA_VERSION, ScreeningResult

_LAZY = ("Screener", "get_screener", "screen")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from medscreen.pipelines import screening

        return getattr(screening, name)
    raise AttributeError(f"module 'medscreen.pipelines' has no attribute {name!r}")


__all__ = [
    "MODALITIES",
    "SCHEMA_VERSION",
    "ScreeningResult",
    "Screener",
    "get_screener",
    "screen",
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
