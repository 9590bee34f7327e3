"""The screening result: one versioned schema for the Python API, the command line and the web API.

``ScreeningResult.model_dump_json()`` is what ``medscreen screen --json``
prints and what the server returns; ``ScreeningResult.model_json_schema()``
documents it. Bump :data:`SCHEMA_VERSION` on any change a reader could notice
(minor: a field added; major: a field renamed, removed or re-typed).

Boxes are ``[x0, y0, x1, y1]`` in pixels of the input image, end-exclusive
(the crop box may extend past the image: the crop is zero-padded there).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from medscreen import __version__
from medscreen.i18n import N_, Message

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "SCHEMA_VERSION",
    "DISCLAIMER",
    "ADVICE",
    "ADVICE_COLOUR",
    "ADVICE_LABEL",
    "Advice",
    "Backend",
    "BreastClassFinding",
    "DiscFinding",
    "GlaucomaFinding",
    "LesionFinding",
    "ModelVersion",
    "ProgressionFinding",
    "ScreeningOutput",
    "ScreeningResult",
]

SCHEMA_VERSION = "1.5"  # 1.1: disc.confidence, disc.size_ratio, progression.experimental; 1.2: disc.eye,
# an implausible disc (confidence below the disc card's min_confidence) gives rescreen with no glaucoma finding;
# 1.3: advice "review" (a probability in the model's review band below its threshold), glaucoma.review_band,
# breast_class.malignancy_threshold and breast_class.urgent; 1.4: disc.vertical_offset (a disc far above or below the
# view's middle has confidence 0, so rescreen); 1.5: glaucoma.disc_pallor (when the model fuses it into its probability)

#: shown with every result, in the report and on screen
DISCLAIMER = N_(
    "This is a screening aid, not a diagnosis: a qualified clinician must confirm any finding "
    "and decide on care."
)

Advice = Literal["refer", "review", "rescreen", "routine"]
#: the advice values, most urgent first: refer (a finding), review (the model cannot decide: a specialist
#: should look), rescreen (the image cannot be used: retake it), routine (nothing found)
ADVICE: tuple[str, ...] = ("refer", "review", "rescreen", "routine")
#: one colour per advice, for reports and pages
ADVICE_COLOUR: dict[str, str] = {"refer": "#b00020", "review": "#6a1b9a", "rescreen": "#b26a00", "routine": "#1b5e20"}
#: each advice as a person reads it (translated when shown; the JSON keeps the codes of :data:`ADVICE`)
ADVICE_LABEL: dict[str, str] = {"refer": N_("refer"), "review": N_("review"), "rescreen": N_("rescreen"),
                                "routine": N_("routine")}
Backend = Literal["onnxruntime", "torch"]
ScreenedModality = Literal["fundus", "ultrasound", "unknown"]
_Box = list[int]


class _Finding(BaseModel):
    model_config = ConfigDict(frozen=True)


class DiscFinding(_Finding):
    """The optic disc outlined by the ``disc`` model; measurements are None when none was found."""

    found: bool
    centre_x: float | None = None
    centre_y: float | None = None
    diameter_px: float | None = Field(None, description="Diameter of the circle of the disc's area.")
    area_px: float | None = None
    bbox: _Box | None = Field(None, description="[x0, y0, x1, y1] of the disc outline.")
    crop_box: _Box | None = Field(None, description="[x0, y0, x1, y1] of the square the glaucoma model saw.")
    confidence: float | None = Field(
        None, ge=0, le=1, description="How sure the disc stage is that this is the optic disc: model certainty × "
        "plausible size for the view × disc-like shape (see size_ratio).")
    size_ratio: float | None = Field(
        None, ge=0, description="Disc diameter ÷ the side of the squared field of view (or of the crop).")
    vertical_offset: float | None = Field(
        None, ge=0, description="How far above or below the middle of the view the disc's centre lies, in half "
        "view sides (0: on the middle, 1: at the top or bottom edge); beyond the disc card's "
        "params.max_vertical_offset the disc is implausible (confidence 0).")
    eye: Literal["left", "right"] | None = Field(
        None, description="The eye a full photo shows, from the disc's side (right of the field's middle: right "
        "eye); None for disc-centred photos and crops.")


class GlaucomaFinding(_Finding):
    """Glaucoma probability of the disc crop and the decision at the model's stored threshold."""

    probability: float = Field(ge=0, le=1)
    threshold: float = Field(ge=0, le=1)
    positive: bool
    review_band: list[float] | None = Field(
        None, min_length=2, max_length=2, description="[low, high]: the bootstrap interval of the threshold on "
        "validation (the model's card); a probability from low up to the threshold is advised 'review'.")
    disc_pallor: float | None = Field(
        None, description="How much paler the disc is than the rest of its crop (mean z-score of the green channel "
        "in the disc's circle; 0 = as bright as the crop on average). Set when the model's card fuses it into the "
        "probability (params.pallor_fusion): a pale disc raises the probability, whatever made it pale.")


class ProgressionFinding(_Finding):
    """Probability that a glaucomatous eye is progressing (run only when glaucoma is positive)."""

    probability: float = Field(ge=0, le=1)
    threshold: float = Field(ge=0, le=1)
    progressing: bool
    experimental: bool = Field(
        False, description="The model's card marks it experimental (cross-validated AUC below 0.65): "
        "not evidence on its own; shown to reviewers, never the basis of advice.")


class LesionFinding(_Finding):
    """The breast lesion outlined by the ``lesion`` model; area and box are zero/None when none was found."""

    found: bool
    area_px: float = Field(ge=0)
    area_fraction: float = Field(ge=0, le=1, description="Lesion area as a share of the image.")
    bbox: _Box | None = None


class BreastClassFinding(_Finding):
    """Class probabilities of the breast classifier (normal/benign/malignant) and the most probable class."""

    probabilities: dict[str, float]
    label: str
    malignancy_threshold: float | None = Field(
        None, ge=0, le=1, description="The card's malignancy threshold (chosen on validation for malignant "
        "sensitivity ≥ 0.90): a malignant probability at or above it is an urgent referral whatever the label.")
    urgent: bool = Field(False, description="Urgent referral: malignant is the label, or its probability reaches "
                         "malignancy_threshold.")


class ModelVersion(_Finding):
    """The file that ran (``.onnx``, or ``.pt`` for the torch backend) and its SHA-256."""

    file: str
    sha256: str


class ScreeningResult(BaseModel):
    """The answer for one image: input check, findings per model, advice with reasons, provenance.

    When the image is not gradable (``gradable`` False: not the expected kind
    of image, or too poor to grade) ``advice`` is ``rescreen`` and no model
    finding is given: ``disc``, ``glaucoma``, ``progression``, ``lesion`` and
    ``breast_class`` are all null.
    """

    schema_version: str = SCHEMA_VERSION
    medscreen_version: str = __version__
    source: str | None = Field(None, description="File name of the image, when it came from a file.")
    modality: ScreenedModality = Field(description="The pipeline run: as given, or as detected.")
    detected_modality: ScreenedModality = Field(description="What the input check says the image looks like.")
    modality_confidence: float = Field(ge=0, le=1, description="How clearly it looks like detected_modality.")
    gradable: bool
    quality_reasons: list[str] = Field(default_factory=list, description="Why the image cannot be graded.")
    advice: Advice
    reasons: list[str] = Field(description="Why this advice, in plain words.")
    disclaimer: str = DISCLAIMER
    disc: DiscFinding | None = None
    glaucoma: GlaucomaFinding | None = None
    progression: ProgressionFinding | None = None
    lesion: LesionFinding | None = None
    breast_class: BreastClassFinding | None = None
    models: dict[str, ModelVersion] = Field(default_factory=dict, description="Per task, the model file that ran.")
    backend: Backend = "onnxruntime"
    timings_ms: dict[str, float] = Field(
        default_factory=dict,
        description="Milliseconds per stage (decode, quality, disc, crop, glaucoma, progression / lesion, "
        "breast_class) and 'total'; 'load_models' (not in the total) when this image loaded the models.",
    )

    @model_validator(mode="after")
    def _rejected_images_have_no_findings(self) -> ScreeningResult:
        if not self.gradable:
            given = [k for k in ("disc", "glaucoma", "progression", "lesion", "breast_class") if getattr(self, k)]
            if given or self.advice != "rescreen":
                raise ValueError(f"an ungradable image must be advised 'rescreen' with no findings, got "
                                 f"advice {self.advice!r} and findings {given}")
        return self


@dataclass
class ScreeningOutput:
    """A result plus what the report needs beside it: the RGB image, the disc or lesion mask, and the
    result's ``reasons`` and ``quality_reasons`` as translatable messages (empty when only English is known)."""

    result: ScreeningResult
    image: np.ndarray
    mask: np.ndarray | None = None
    reason_messages: list[Message] = field(default_factory=list)
    quality_messages: list[Message] = field(default_factory=list)
