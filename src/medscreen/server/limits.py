"""What each model that gave a result is known to get right: its card's measured figures, shown beside the result.

The figures come from the model's card (``medscreen/weights/<task>.json``), and only
when the card's SHA-256 is the one of the file that ran (the result's ``models``):
a model file the card does not describe has no measured figures, and the page says
so. An ``operating_points`` entry (figures at the decision the app makes, e.g. the
breast-class malignancy threshold) comes first; else the first ``metrics`` entry
with a sensitivity and a specificity is used: the
held-out validation at the shipped operating point (data the model did not train
on); for a multi-class model, its last (most serious) class against the rest.
Cards are read as typed :class:`~medscreen.inference.card.ModelCard` (Pydantic only: no
model runtime is loaded for this).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from medscreen.errors import MedscreenError
from medscreen.i18n import N_, Message, Number
from medscreen.inference.card import ModelCard, load_card
from medscreen.pipelines.report import TERMS
from medscreen.pipelines.schema import ScreeningResult

__all__ = ["ModelLimits", "bundled_cards", "model_limits", "model_limits_of"]

WEIGHTS = Path(str(resources.files("medscreen") / "weights"))


@dataclass(frozen=True)
class ModelLimits:
    """One model's measured sensitivity and specificity (None when its card gives none for this file)."""

    task: str
    sensitivity: float | None
    specificity: float | None
    sensitivity_ci95: tuple[float, float] | None
    specificity_ci95: tuple[float, float] | None
    measured_on: str | None
    positive: str | None
    experimental: bool
    data: str | None = None  # the card's name of the data measured on (``measured_on`` adds the threshold)
    threshold: float | None = None  # the operating point's threshold, when the figures are at one

    def message(self) -> Message:
        """One line for a page or the PDF, translatable (the card's own words, ``measured_on``, stay as written)."""
        task = Message(TERMS[self.task]) if self.task in TERMS else self.task
        if self.sensitivity is None or self.specificity is None:
            return Message(N_("%(task)s: no measured sensitivity/specificity for this model file"), {"task": task})
        positive = Message(TERMS[self.positive]) if self.positive in TERMS else self.positive or ""
        return Message(N_("%(task)s%(what)s: sensitivity %(sensitivity)s, specificity %(specificity)s on "
                          "%(measured_on)s%(experimental)s"), {
            "task": task, "sensitivity": Number(self.sensitivity), "specificity": Number(self.specificity),
            "what": Message(N_(" (%(positive)s vs the rest)"), {"positive": positive}) if self.positive else "",
            "measured_on": self.measured_on or "" if self.threshold is None else Message(
                N_("%(data)s, threshold %(threshold)s"), {"data": self.data or "", "threshold": _number(self.threshold)}),
            "experimental": Message(N_(" — EXPERIMENTAL")) if self.experimental else ""})

    def text(self) -> str:
        """:meth:`message` in English."""
        return str(self.message())


def _number(value: Any) -> Number | str:
    """A card's number as written (a value that is no number is shown as it is)."""
    return Number(float(value), "") if isinstance(value, int | float) and not isinstance(value, bool) else str(value)


@lru_cache(maxsize=32)
def _card(task: str) -> ModelCard | None:
    try:
        return load_card(WEIGHTS / f"{task}.json")
    except MedscreenError:
        return None


def bundled_cards() -> dict[str, ModelCard]:
    """Every bundled model's card, by task (the ``<task>.json`` beside each ``<task>.onnx``)."""
    tasks = sorted(p.stem for p in WEIGHTS.glob("*.onnx"))
    return {task: card for task in tasks if (card := _card(task)) is not None}


def model_limits_of(task: str) -> ModelLimits:
    """The measured limits of the bundled model of ``task`` (as its card describes the shipped file)."""
    card = _card(task)
    return _limits(task, card.sha256 if card else "")


def _ci(value: Any) -> tuple[float, float] | None:
    return (float(value[0]), float(value[1])) if isinstance(value, list | tuple) and len(value) == 2 else None


def _figures(task: str, name: str, figures: dict[str, Any], positive: str | None, experimental: bool,
             threshold: Any = None) -> ModelLimits:
    measured_on = name if threshold is None else f"{name}, threshold {threshold}"
    return ModelLimits(task, float(figures["sensitivity"]), float(figures["specificity"]),
                       _ci(figures.get("sensitivity_ci95")), _ci(figures.get("specificity_ci95")),
                       measured_on, positive, experimental, name, threshold)


def _limits(task: str, sha256: str) -> ModelLimits:
    card = _card(task)
    experimental = bool(card and (card.experimental or card.params.experimental))
    none = ModelLimits(task, None, None, None, None, None, None, experimental)
    if card is None or card.sha256 != sha256:
        return none
    labels = list(card.params.labels or [])
    for name, point in card.operating_points.items():  # figures at the decision the app makes
        if isinstance(point, dict) and point.get("sensitivity") is not None and point.get("specificity") is not None:
            # a multi-class model's point is for one class against the rest; a binary model's is the model's own
            positive = name.split(" ")[0] if len(labels) > 2 else None
            return _figures(task, name, point, positive, experimental, point.get("threshold"))
    for name, figures in card.metrics.items():
        if not isinstance(figures, dict) or "comparison" in name:
            continue
        positive = None
        if figures.get("per_class") and labels:
            positive = labels[-1]
            figures = figures["per_class"].get(positive) or {}
        if figures.get("sensitivity") is not None and figures.get("specificity") is not None:
            return _figures(task, name, figures, positive, experimental)
    return none


def model_limits(result: ScreeningResult) -> dict[str, ModelLimits]:
    """Per classifier that ran for this result (glaucoma, progression, breast-class), its measured limits."""
    shown = {"glaucoma": result.glaucoma, "progression": result.progression, "breast-class": result.breast_class}
    out = {}
    for task, version in result.models.items():
        key = task.replace("_", "-")
        if shown.get(key) is not None:
            out[key] = _limits(key, version.sha256)
    return out
