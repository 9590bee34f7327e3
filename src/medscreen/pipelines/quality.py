"""Input check: is this image a retinal fundus photo, a breast ultrasound image, or neither — and is it gradable?

The screening pipelines run this before any model: a photo of something else,
or a fundus photo too blurred, dark or washed out to grade, is answered
"retake" with a reason a person can act on, and never reaches the glaucoma
model. NumPy/SciPy only (no torch); about 10–15 ms for a 1600×1063 photo on one
core, because every measure is taken on a copy whose longest side is 256 pixels
(the measures and why each is used: :mod:`medscreen.pipelines._quality_features`).

How it decides (the tests and how their thresholds were fitted on the public
datasets: :mod:`medscreen.pipelines._quality_gates`):

* **fundus** when every colour gate passes (inside the lit field most pixels
  are R > G ≥ B, green and blue are low relative to red, the mean hue lies
  between red and orange, one hue dominates, there is some structure) and
  either the whole-field gates (a dark camera surround, a round lit field,
  smooth retina-like texture) or the crop gate (smooth texture: ACRIMA and
  GRAPE's disc-centred crops fill the frame with no surround);
* **ultrasound** when it is grey (coloured annotation marks allowed), has
  speckle (local coefficient of variation in B-mode's range, grain elongated
  sideways) and layering (more vertical than horizontal gradient energy, as
  tissue planes run sideways), and enough contrast;
* otherwise **unknown**.

Gradable fundus photo: short side large enough (≥ 128 px for a crop, ≥ 384 px
for a whole-field photo), edges not blurred, brightest structures bright
enough, little of the field saturated, half-fields not too unevenly lit, a
bright disc-like spot, and (whole field) the lit field a large enough share of
the frame. Gradable ultrasound: large enough, not too dark, not saturated.

The confidence of a modality is ``1 / (1 + exp(-4·m))``, ``m`` being the
weakest gate's margin in units of the distance from its threshold to the
typical value of its measure (0.5 at a threshold, 0.98 at the typical value);
"unknown" gets one minus the larger of the fundus and ultrasound confidences.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

import numpy as np

from medscreen.errors import ConfigError
from medscreen.i18n import N_, Joined, Message
from medscreen.pipelines._quality_features import has_surround, measure_image
from medscreen.pipelines._quality_gates import (
    EXPOSURE,
    FUNDUS_COLOUR,
    FUNDUS_CROP,
    FUNDUS_CROP_GRADABLE,
    FUNDUS_GRADABLE,
    FUNDUS_WHOLE_FIELD,
    FUNDUS_WHOLE_FIELD_GRADABLE,
    THRESHOLDS,
    TYPICAL,
    ULTRASOUND,
    ULTRASOUND_GRADABLE,
    Gate,
)

__all__ = [
    "Modality",
    "MODALITIES",
    "QualityReport",
    "Gate",
    "THRESHOLDS",
    "TYPICAL",
    "measure_image",
    "detect_modality",
    "judge",
    "assess_image",
    "assess_fundus",
    "assess_ultrasound",
]

logger = logging.getLogger(__name__)

Modality = Literal["fundus", "ultrasound", "unknown"]
MODALITIES: tuple[str, ...] = get_args(Modality)


@dataclass(frozen=True)
class QualityReport:
    """The input check's answer for one image.

    Attributes:
        modality: what the image looks like: ``fundus``, ``ultrasound`` or ``unknown``.
        modality_confidence: 0..1, how clearly it is that (see the module docstring).
        gradable: True only when the image is the expected modality and good enough to
            grade; False means "retake", for the ``reasons`` given.
        reasons: plain-language reasons, each saying what to do; empty when gradable.
        measures: the measures the decision used (see :func:`measure_image`), plus
            ``fundus_score`` and ``ultrasound_score``, the two modality confidences.
        messages: the reasons as translatable messages (``reasons`` is their English).
    """

    modality: Modality
    modality_confidence: float
    gradable: bool
    reasons: list[str]
    measures: dict[str, float]
    messages: list[Message] = field(default_factory=list)


def _sigmoid(margin: float) -> float:
    return 1.0 / (1.0 + math.exp(-4.0 * max(-20.0, min(20.0, margin))))


def _weakest(gates: Sequence[Gate], measures: Mapping[str, float], limits: Mapping[str, float]) -> float:
    return min(g.margin(measures, limits) for g in gates)


def _failures(gates: Sequence[Gate], measures: Mapping[str, float], limits: Mapping[str, float]) -> list[Message]:
    return [g.explain(measures, limits) for g in gates if not g.passes(measures, limits)]


def _fundus_failures(measures: Mapping[str, float], limits: Mapping[str, float]) -> list[Message]:
    """Why the image is not a fundus photo: its colour failures, else those of its field type."""
    colour = _failures(FUNDUS_COLOUR, measures, limits)
    if colour:
        return colour
    whole = measures["corner_lum"] <= limits["fundus_surround_max"]
    return _failures(FUNDUS_WHOLE_FIELD if whole else FUNDUS_CROP, measures, limits)


def _classify(measures: Mapping[str, float], limits: Mapping[str, float]) -> tuple[Modality, float, float, float]:
    """``(modality, its confidence, fundus margin, ultrasound margin)``; a margin ≥ 0 accepts."""
    field = max(_weakest(FUNDUS_WHOLE_FIELD, measures, limits), _weakest(FUNDUS_CROP, measures, limits))
    fundus = min(_weakest(FUNDUS_COLOUR, measures, limits), field)
    ultrasound = _weakest(ULTRASOUND, measures, limits)
    if fundus >= 0 and fundus >= ultrasound:
        return "fundus", _sigmoid(fundus), fundus, ultrasound
    if ultrasound >= 0:
        return "ultrasound", _sigmoid(ultrasound), fundus, ultrasound
    return "unknown", 1.0 - _sigmoid(max(fundus, ultrasound)), fundus, ultrasound


def _check_args(modality: str | None, thresholds: Mapping[str, float] | None) -> Mapping[str, float]:
    """The thresholds to use; refuses an unknown modality or thresholds lacking a gate."""
    if modality is not None and modality not in ("fundus", "ultrasound"):
        raise ConfigError(f"modality {modality!r} cannot be checked; use 'fundus', 'ultrasound' or None to detect it")
    if thresholds is None:
        return THRESHOLDS
    if missing := sorted(set(THRESHOLDS) - set(thresholds)):
        raise ConfigError(f"input-check thresholds lack {', '.join(missing)}; start from a copy of THRESHOLDS")
    return thresholds


#: what to do with an image of the other modality, by the modality it looks like
_SEND_ELSEWHERE = {
    "fundus": N_("it looks like a fundus image; send it to the fundus screening instead"),
    "ultrasound": N_("it looks like an ultrasound image; send it to the ultrasound screening instead"),
}


def _not_modality(
    target: Modality, detected: Modality, measures: Mapping[str, float], limits: Mapping[str, float]
) -> list[Message]:
    """Reasons for an image that is not the expected modality (or neither)."""
    not_fundus = Joined(tuple(_fundus_failures(measures, limits)[:2]))
    not_us = Joined(tuple(_failures(ULTRASOUND, measures, limits)[:2]))
    if target == "fundus":
        reasons = [Message(N_("this does not look like a retinal fundus photo: %(why)s"), {"why": not_fundus})]
    elif target == "ultrasound":
        reasons = [Message(N_("this does not look like a breast ultrasound image: %(why)s"), {"why": not_us})]
    else:
        reasons = [Message(N_("this does not look like a retinal fundus photo (%(not_fundus)s) nor a breast "
                              "ultrasound image (%(not_ultrasound)s)"),
                           {"not_fundus": not_fundus, "not_ultrasound": not_us})]
    if detected not in ("unknown", target):
        reasons.append(Message(_SEND_ELSEWHERE[detected]))
    else:
        reasons.append(Message(N_("retake: photograph the retina with a fundus camera, or export the ultrasound "
                                  "image as acquired")))
    return _failures(EXPOSURE, measures, limits) + reasons


def judge(
    measures: Mapping[str, float],
    modality: Modality | None = None,
    thresholds: Mapping[str, float] | None = None,
) -> QualityReport:
    """Decide modality and gradability from measures already taken by :func:`measure_image`.

    Args:
        measures: the output of :func:`measure_image`.
        modality: the expected modality (``fundus`` or ``ultrasound``), or None to
            accept whichever is detected.
        thresholds: gate thresholds; :data:`THRESHOLDS` when None (the benchmark
            passes thresholds fitted on half of the data).

    Returns:
        The :class:`QualityReport`.

    Raises:
        ConfigError: ``modality`` is neither of the two, ``thresholds`` lacks a gate, or
            ``measures`` lacks a measure.
    """
    limits = _check_args(modality, thresholds)
    needed = {g.measure for g in FUNDUS_COLOUR + FUNDUS_WHOLE_FIELD + ULTRASOUND + FUNDUS_GRADABLE}
    if missing := sorted(needed - set(measures)):
        raise ConfigError(f"input-check measures lack {', '.join(missing)}; take them with measure_image()")
    detected, confidence, fundus, ultrasound = _classify(measures, limits)
    target: Modality = modality or detected
    if not {"fundus": fundus >= 0, "ultrasound": ultrasound >= 0, "unknown": False}[target]:
        reasons = _not_modality(target, detected, measures, limits)
    elif target == "fundus":
        field = FUNDUS_WHOLE_FIELD_GRADABLE if has_surround(measures) else FUNDUS_CROP_GRADABLE
        reasons = _failures(FUNDUS_GRADABLE + field, measures, limits)
    else:
        reasons = _failures(ULTRASOUND_GRADABLE, measures, limits)
    english = [str(m) for m in reasons]
    logger.debug("input check: looks %s (%.2f), expected %s: %s", detected, confidence, modality, english or "gradable")
    out = dict(measures, fundus_score=_sigmoid(fundus), ultrasound_score=_sigmoid(ultrasound))
    return QualityReport(detected, float(confidence), not reasons, english, out, reasons)


def detect_modality(image: np.ndarray) -> tuple[Modality, float, dict[str, float]]:
    """What the image looks like: ``fundus``, ``ultrasound`` or ``unknown``.

    Args:
        image: ``H×W×3`` uint8 RGB (grey images as equal channels), or ``H×W`` grey.

    Returns:
        ``(modality, confidence 0..1, measures)``.

    Raises:
        ImageReadError: not a uint8 image array.
    """
    measures = measure_image(image)
    modality, confidence, _, _ = _classify(measures, THRESHOLDS)
    return modality, float(confidence), measures


def assess_image(
    image: np.ndarray,
    modality: Modality | None = None,
    *,
    thresholds: Mapping[str, float] | None = None,
) -> QualityReport:
    """Check an image before screening: its modality and, for that modality, whether it can be graded.

    Args:
        image: ``H×W×3`` uint8 RGB as :func:`~medscreen.io.images.read_image` returns it
            (grey images as equal channels), or ``H×W`` grey.
        modality: the expected modality; None detects it. An image that does not look
            like the expected modality is not gradable, and the reason says so.
        thresholds: gate thresholds (default :data:`THRESHOLDS`).

    Returns:
        The :class:`QualityReport`; ``gradable`` False means "retake", for the reasons given.

    Raises:
        ImageReadError: not a uint8 image array.
        ConfigError: unknown ``modality`` or incomplete ``thresholds``.
    """
    _check_args(modality, thresholds)  # before the measuring work
    return judge(measure_image(image), modality, thresholds)


def assess_fundus(image: np.ndarray) -> QualityReport:
    """:func:`assess_image` expecting a retinal fundus photo (a whole-field photo or a disc-centred crop)."""
    return assess_image(image, "fundus")


def assess_ultrasound(image: np.ndarray) -> QualityReport:
    """:func:`assess_image` expecting a breast ultrasound (B-mode) image."""
    return assess_image(image, "ultrasound")
