"""One screening as the pages, the API and the PDF show it: result, limits, review, standing advice, eye question.

Built once per screening (:func:`screening_view`) so the health worker's visit
page, the reviewer's case page and the visit PDF say the same thing. What a
reader may see depends on the reader: a model whose card says ``experimental``
(progression) is shown to reviewers only, labelled experimental.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from medscreen.i18n import Message, Translator, english
from medscreen.pipelines.report import describe_findings
from medscreen.pipelines.schema import ScreeningResult
from medscreen.server.limits import ModelLimits, model_limits
from medscreen.store.laterality import eye_mismatch, eye_warning
from medscreen.store.models import Capture, Eye, Review, Screening, User
from medscreen.store.screenings import current_review, standing_advice
from medscreen.store.users import can

__all__ = ["ScreeningView", "screening_view", "sees_experimental"]


def sees_experimental(user: User | None) -> bool:
    """Experimental models are for reviewers (and admins), who can weigh them; never for the health worker."""
    return can(user, "review.read")


@dataclass
class ScreeningView:
    """What a reader is shown of one screening (``result`` None until it is done)."""

    capture: Capture
    screening: Screening
    result: ScreeningResult | None
    findings: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)  # the result's reasons in the reader's language
    quality_reasons: list[str] = field(default_factory=list)
    reasons_language: str | None = None  # "en" when the reasons are stored English (older screenings), else None
    limits: dict[str, ModelLimits] = field(default_factory=dict)
    review: Review | None = None
    advice: str | None = None  # the advice that stands: the review's, else the model's
    ask_eye: Eye | None = None  # the eye the photo looks like, when it differs from the chosen one
    eye_warning: str | None = None

    @property
    def reviewed(self) -> bool:
        return self.review is not None

    def as_mapping(self) -> dict[str, Any]:  # the templates index panels like dicts
        return {"capture": self.capture, "screening": self.screening, "result": self.result, "view": self}


def screening_view(screening: Screening, user: User | None, t: Translator | None = None) -> ScreeningView:
    """The screening as ``user`` is allowed to see it, its text in ``t``'s language (default English).

    Reasons stored as messages (``messages_json``) are shown in that language; a screening stored before them
    shows the English reasons of its result.
    """
    t = t or english()
    result = ScreeningResult.model_validate(screening.result_json) if screening.result_json else None
    if result is None:
        return ScreeningView(screening.capture, screening, None)
    if result.progression is not None and result.progression.experimental and not sees_experimental(user):
        result = result.model_copy(update={"progression": None})
    review = current_review(screening)
    advice = standing_advice(screening)
    reasons, quality_reasons, stored_english = _reasons(screening, result, t)
    return ScreeningView(
        capture=screening.capture, screening=screening, result=result, findings=describe_findings(result, t),
        reasons=reasons, quality_reasons=quality_reasons,
        reasons_language="en" if stored_english and t.language != "en" else None,
        limits=model_limits(result), review=review, advice=None if advice is None else advice.value,
        ask_eye=eye_mismatch(screening.capture), eye_warning=eye_warning(screening.capture),
    )


def _reasons(screening: Screening, result: ScreeningResult, t: Translator) -> tuple[list[str], list[str], bool]:
    """The reasons and the input check's reasons in ``t``'s language, else (older screenings) the English ones
    (the third value True)."""
    stored = screening.messages_json or {}
    try:
        reasons = [t.render(Message.from_json(m)) for m in stored.get("reasons") or []]
        quality = [t.render(Message.from_json(m)) for m in stored.get("quality_reasons") or []]
    except (ValueError, KeyError, TypeError):  # a message this version cannot render: the result's English
        reasons, quality = [], []
    if not reasons:
        return list(result.reasons), list(result.quality_reasons), True
    return reasons, quality, False
