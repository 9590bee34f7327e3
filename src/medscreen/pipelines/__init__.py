"""Screening pipelines: the input check, then the models, then the result. No torch here.

Every name is imported on first use: the input check pulls in SciPy's filters and
``Screener``, ``screen`` and ``get_screener`` (:mod:`.screening`) the model runtime,
neither of which the server needs to start or to show a stored result.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    from medscreen.pipelines.screening import Screener, get_screener, screen

#: public name → the module that defines it
_SOURCES: dict[str, str] = {
    **dict.fromkeys(["MODALITIES", "THRESHOLDS", "Gate", "Modality", "QualityReport", "assess_fundus", "assess_image",
                     "assess_ultrasound", "detect_modality", "judge", "measure_image"], "quality"),
    **dict.fromkeys(["SCHEMA_VERSION", "ScreeningResult"], "schema"),
    **dict.fromkeys(["Screener", "get_screener", "screen"], "screening"),
}


def __getattr__(name: str) -> Any:
    if name in _SOURCES:
        return getattr(import_module(f"medscreen.pipelines.{_SOURCES[name]}"), name)
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
