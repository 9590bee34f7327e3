"""Model cards: the machine-readable ``.json`` beside each ONNX file and the human ``.md``.

A card is a :class:`ModelCard` (Pydantic; imports neither torch nor NumPy, so
the ONNX Runtime path and the server read it cheaply). Version history:

- 1 (no ``card_version`` field): ``licences`` was a list of free-text lines.
- 2: ``card_version``, and ``training_data``: one :class:`DatasetCredit` per
  training dataset with its licence and citation (CC BY and ODC-By data ask for
  attribution), required and non-empty. The JSON still carries ``licences``
  (rendered from ``training_data``) for readers of version 1.
- 3: ``training_images``: the SHA-256 of every training and validation image
  file (:class:`TrainingImages`), so that ``medscreen evaluate`` can tell the
  images a model learnt from apart from those it never saw. Optional: a card
  without it (every version-1 and version-2 card) means "unknown".

Version-1 cards still load: their ``licences`` lines become ``training_data``.
Fields a card does not declare (a newer medscreen's, or a benchmark's such as
``disc_location``) are kept as they are.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from medscreen.constants import GLAUCOMA_CROP_K
from medscreen.errors import ModelError

__all__ = [
    "CARD_VERSION",
    "CardParams",
    "DatasetCredit",
    "EnsembleInfo",
    "ModelCard",
    "PallorFusion",
    "TrainingImages",
    "TrainingSplit",
    "add_metrics",
    "load_card",
    "parse_card",
    "render_card_markdown",
    "write_card",
]

#: the version :class:`ModelCard` writes
CARD_VERSION = 3


class DatasetCredit(BaseModel):
    """One dataset a model was trained (or tuned) on, with what its licence asks for.

    Attributes:
        name: the dataset's name (``IDRiD``, ``BUSI``…).
        licence: its licence (``CC BY 4.0``, ``ODC-By 1.0``…).
        citation: the reference to cite, with its DOI.
        note: how the model used it, when not as plain training data.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    licence: str = Field(min_length=1)
    citation: str = Field(min_length=1)
    note: str = ""

    def line(self) -> str:
        """``NAME (note): LICENCE — CITATION``: the card's licence line."""
        note = f" ({self.note})" if self.note else ""
        return f"{self.name}{note}: {self.licence} — {self.citation}"

    @classmethod
    def from_line(cls, line: str) -> DatasetCredit:
        """Parse a version-1 licence line (``NAME (note): LICENCE — CITATION`` or ``NAME: LICENCE (CITATION)``).

        A line in neither shape keeps the whole text as its citation.
        """
        m = re.fullmatch(r"\s*(?P<name>[^:(]+?)\s*(?:\((?P<note>[^)]*)\))?\s*:\s*(?P<rest>.+)", line, re.DOTALL)
        if m is None:
            return cls(name=line.strip() or "unnamed", licence="see citation", citation=line.strip() or "none given")
        rest = m["rest"].strip()
        if " — " in rest:
            licence, citation = (s.strip() for s in rest.split(" — ", 1))
        elif (p := re.fullmatch(r"(?P<licence>.+?)\s*\((?P<citation>[^()]+)\)", rest)) is not None:
            licence, citation = p["licence"], p["citation"]
        else:
            licence, citation = rest, line.strip()
        note = {"note": m["note"]} if m["note"] else {}
        return cls(name=m["name"], licence=licence, citation=citation, **note)


class PallorFusion(BaseModel):
    """A binary classifier's logit fused with the disc's pallor.

    The pallor is :func:`~medscreen.transforms.classification.disc_pallor` of the crop.

    The score is ``logit_weight × network logit + pallor_weight × pallor + bias``; the card's threshold
    and review band apply to its sigmoid. Fitted on the validation split by
    :func:`~medscreen.training.fusion.fit_pallor_fusion`; ``weight`` is the pallor's share once both
    inputs are standardised, kept so that a refit is reproducible.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    logit_weight: float = Field(gt=0)
    pallor_weight: float
    bias: float
    radius: float = Field(gt=0, le=0.5)
    weight: float = Field(ge=0)
    scale: Literal["linear", "log"] = "linear"


class CardParams(BaseModel):
    """How to feed a model and read its output: the card's ``params`` (only the task's own keys are written).

    Segmentation (disc): ``refine_k``, ``min_refine``, ``max_refine``, ``refine_scales`` (the second pass
    averages the probability maps of windows of these multiples of its side: a scale test-time augmentation),
    ``size_range_full``, ``size_range_crop``, ``min_confidence`` (a disc less
    plausible than this gives rescreen), ``max_vertical_offset`` (a disc centre
    further above or below the view's middle, in half view sides, is implausible),
    ``review_size_full`` and ``review_below_confidence`` (on a full photo, a disc at least this large for the
    field of view that the stage is less sure of than this is advised review); (lesion) ``min_area_fraction``,
    ``min_mean_probability`` (components the model is less sure of are dropped).
    Classification: ``labels``, ``inputs``, ``preprocess``, ``clinical_features``,
    ``framing``, ``crop_k``, ``recrop_above_k`` (a disc-centred crop wider than
    this many disc diameters is re-framed at ``crop_k`` around its disc), ``tta``
    (``flip``: the logits of the image and of its mirror image are averaged), ``pallor_fusion`` (glaucoma: the
    logit is fused with the disc's pallor, :class:`PallorFusion`), ``use_mask``,
    ``experimental``, ``review_band``
    (glaucoma: probabilities below the threshold but in the band are advised
    review), ``malignancy_threshold`` (breast-class: malignant probability at or
    above it is urgent). The defaults are what a card without the key has always meant.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    # disc segmentation
    refine_k: float = 3.0
    min_refine: float = 0.35
    max_refine: float | None = None
    refine_scales: tuple[float, ...] = (1.0,)
    size_range_full: tuple[float, float] | None = None
    size_range_crop: tuple[float, float] | None = None
    min_confidence: float = 0.0
    max_vertical_offset: float | None = None
    review_size_full: float | None = None
    review_below_confidence: float = 0.0
    # lesion segmentation
    min_area_fraction: float = 0.0
    min_mean_probability: float = 0.0
    # classification
    labels: list[str] = Field(default_factory=list)
    inputs: str = "image"
    preprocess: str = "none"
    clinical_features: list[str] = Field(default_factory=list)
    framing: str = "diameter"
    crop_k: float = GLAUCOMA_CROP_K
    recrop_above_k: float | None = None
    tta: Literal["none", "flip"] = "none"
    pallor_fusion: PallorFusion | None = None
    use_mask: bool = False
    experimental: bool = False
    review_band: tuple[float, float] | None = None
    malignancy_threshold: float | None = None

    @field_validator("refine_scales")
    @classmethod
    def _positive_scales(cls, scales: tuple[float, ...]) -> tuple[float, ...]:
        """At least one window, each a sensible multiple of the refined side."""
        if not scales or any(not 0.25 <= s <= 4.0 for s in scales):
            raise ValueError(f"refine_scales {list(scales)} must list one or more multiples between 0.25 and 4 "
                             "of the second pass's side, e.g. [1.0, 1.5] (or [1.0] for one pass)")
        return scales


class TrainingSplit(BaseModel):
    """Sizes of the training run's split (classifiers)."""

    model_config = ConfigDict(extra="allow")

    n_train: int | None = None
    n_val: int | None = None
    train_class_counts: dict[str, int] | None = None
    epochs_run: int | None = None


class TrainingImages(BaseModel):
    """Which image files a model learnt from: SHA-256 hex digests of their bytes, sorted, each once.

    The digest is of the file as stored, not of its decoded pixels: a copy of a
    public dataset has the same bytes as the one the model was trained on, and
    hashing bytes needs no decoding. A re-encoded or resized copy is therefore
    not recognised. For a model trained on disc crops the digests are of the
    photos the crops were cut from (what a user passes to ``evaluate``).

    Attributes:
        train: the images of the training split (the weights learnt from them).
        val: the validation split (used to pick the checkpoint and the threshold,
            never to update the weights).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    train: list[str] = Field(default_factory=list)
    val: list[str] = Field(default_factory=list)

    @field_validator("train", "val")
    @classmethod
    def _sorted_digests(cls, values: list[str], info: ValidationInfo) -> list[str]:
        """Lower-case, sorted, each digest once (an image in both splits: :meth:`status` says ``train``)."""
        digests = sorted({v.strip().lower() for v in values})
        bad = next((d for d in digests if not _SHA256.fullmatch(d)), None)
        if bad is not None:
            raise ValueError(f"training_images.{info.field_name} holds {bad!r}, not a SHA-256 hex digest "
                             "(64 hex digits)")
        return digests

    def status(self, digests: Iterable[str]) -> str:
        """``train``, ``val`` or ``unseen``: where any of an image's ``digests`` was in the model's split."""
        digests = set(digests)
        if any(d in self._train_set for d in digests):
            return "train"
        return "val" if any(d in self._val_set for d in digests) else "unseen"

    @cached_property
    def _train_set(self) -> frozenset[str]:
        return frozenset(self.train)

    @cached_property
    def _val_set(self) -> frozenset[str]:
        return frozenset(self.val)


_SHA256 = re.compile(r"[0-9a-f]{64}")
class EnsembleInfo(BaseModel):
    """A card's ``ensemble``: the ONNX graph averages the logits of ``members`` networks of one architecture.

    Attributes:
        members: how many networks.
        seeds: each member's training seed.
        augments: each member's training augmentation preset (``task``: the task's own); the only other
            setting members may differ in. Empty on cards written before it was recorded, and for
            segmentation ensembles (segmentation runs have no presets).
        combine: how their outputs are combined.
        checkpoints: the member checkpoints, as given to ``medscreen export``.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    members: int = Field(ge=2)
    seeds: list[int] = Field(default_factory=list)
    augments: list[str] = Field(default_factory=list)
    combine: str = "mean logit"
    checkpoints: list[str] = Field(default_factory=list)


class ModelCard(BaseModel):
    """What a model is, how to feed it, how it was made and measured, and whose data it learnt from.

    Read with :func:`load_card`, written with :func:`write_card`. ``metrics``
    holds evaluation reports (``medscreen evaluate``'s JSON) by name;
    ``training_config`` is the training run's saved config; ``training_images``
    the digests of its training and validation images (None: not recorded).
    """

    model_config = ConfigDict(extra="allow")

    card_version: int = CARD_VERSION
    task: str
    arch: str | None = None
    input_size: int = Field(gt=0)
    in_channels: int = Field(gt=0)
    threshold: float = 0.5
    threshold_rule: str | None = None
    params: CardParams = Field(default_factory=CardParams)
    output: str = ""
    parameters: int | None = None
    training_config: dict[str, Any] | None = None
    training_split: TrainingSplit | None = None
    onnx_parity_max_abs_diff: float | None = None
    onnx_parity_atol: float | None = None
    weights_dtype: str = "float32"
    float16_max_abs_diff: float | None = None
    sha256: str = ""
    metrics: dict[str, dict[str, Any]] = Field(default_factory=dict)
    operating_points: dict[str, dict[str, Any]] = Field(default_factory=dict)
    name: str = ""
    summary: str = ""
    preprocessing: str = ""
    data: str = ""
    intended_use: str = ""
    limits: list[str] = Field(default_factory=list)
    commands: list[str] = Field(default_factory=list)
    experimental: bool = False
    training_data: list[DatasetCredit] = Field(default_factory=list)
    training_images: TrainingImages | None = None
    ensemble: EnsembleInfo | None = None

    #: the keys in the order the card was read, so that rewriting a card keeps its layout
    _order: list[str] = PrivateAttr(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _upgrade(cls, data: Any) -> Any:
        """Version 1 → 2: ``licences`` lines become ``training_data``; ``licences`` is derived, never stored."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        licences = data.pop("licences", None)
        if "training_data" not in data and (licences or data.get("card_version", CARD_VERSION) < 2):
            data["training_data"] = [DatasetCredit.from_line(str(x)) for x in licences or []]
        return data

    @model_validator(mode="after")
    def _check_training_data(self) -> ModelCard:
        if self.card_version >= 2 and not self.training_data:
            raise ValueError(
                f"a version-{self.card_version} card must name each training dataset with its licence and "
                'citation: add "training_data": [{"name": ..., "licence": ..., "citation": ...}]'
            )
        return self

    @property
    def licences(self) -> list[str]:
        """One line per training dataset: name, licence, citation."""
        return [credit.line() for credit in self.training_data]

    @property
    def norm(self) -> str:
        """A segmentation network's normalisation (``batch`` unless the training config says otherwise)."""
        return str((self.training_config or {}).get("norm", "batch"))

    def to_json(self) -> dict[str, Any]:
        """The card as JSON data: the fields it was given or set, plus ``licences`` for version-1 readers."""
        out = self.model_dump(mode="json", exclude_unset=True)
        out["card_version"] = self.card_version
        out["licences"] = self.licences
        order = [k for k in self._order if k in out] + [k for k in out if k not in self._order]
        return {k: out[k] for k in order}


def add_metrics(card: ModelCard, name: str, report: dict[str, Any], commands: list[str] | None = None) -> ModelCard:
    """A copy of ``card`` with the evaluation ``report`` recorded as ``metrics[name]`` and new ``commands`` appended."""
    update: dict[str, Any] = {"metrics": {**card.metrics, name: report}}
    if new := [c for c in commands or [] if c not in card.commands]:
        update["commands"] = [*card.commands, *new]
    return card.model_copy(update=update)


def load_card(path: Path) -> ModelCard:
    """Read a card (any version).

    Raises:
        ModelError: the file is missing, not JSON, or not a model card (the message names the field).
    """
    path = Path(path)
    try:
        return parse_card(json.loads(path.read_text()), path.name)
    except FileNotFoundError:
        raise ModelError(f"model card {path} not found; `medscreen export` writes it beside the .onnx") from None
    except json.JSONDecodeError as exc:
        raise ModelError(f"{path.name}: not JSON ({exc}); re-export the model") from None


def parse_card(data: dict[str, Any], source: str) -> ModelCard:
    """Validate card data; ``source`` names it in errors.

    Raises:
        ModelError: not a model card (the message names the field and what was wrong).
    """
    if "card_version" not in data:  # written before cards had versions
        data = {**data, "card_version": 1}
    try:
        card = ModelCard.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "card"
        raise ModelError(f"{source}: model card lacks or mangles field {where!r} ({first['msg']}); "
                         "re-export the model") from None
    card._order = list(data)
    return card


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, float | int | None) for v in value):
        return "–".join("n/a" if v is None else f"{v:.3f}" for v in value)
    return str(value)


#: figures shown in a card's validation tables, when present (segmentation, then classification)
_METRIC_ROWS = ("n", "dice", "iou", "pixel_dice", "pixel_iou", "hd95", "auc", "accuracy", "threshold",
                "sensitivity", "specificity", "precision", "recall", "npv", "f1", "mcc", "ece")


def _metric_lines(metrics: dict[str, Any]) -> list[str]:
    """Rows of one validation table (``metrics`` is an evaluation report, whose schema is the evaluator's)."""
    lines = []
    for key in _METRIC_ROWS:
        if key in metrics:
            lines.append(f"| {key} | {_fmt(metrics[key])} | {_fmt(metrics.get(key + '_ci95', ''))} |")
    if "confusion_matrix" in metrics:
        lines.append(f"| confusion matrix (rows = truth: {', '.join(map(str, metrics.get('labels', [])))}) "
                     f"| {metrics['confusion_matrix']} | — |")
    for label, m in metrics.get("per_class", {}).items():
        lines.append(f"| class `{label}` (n={m['n']}) | sensitivity {_fmt(m['sensitivity'])}, "
                     f"precision {_fmt(m['precision'])}, AUC {_fmt(m['auc'])} | — |")
    for source, m in metrics.get("by_source", {}).items():
        keys = [k for k in ("auc", "accuracy", "sensitivity", "specificity") if m.get(k) is not None]
        lines.append(f"| `{source}` (n={m['n']}) | " + ", ".join(f"{k} {_fmt(m[k])}" for k in keys)
                     + f" | AUC {_fmt(m.get('auc_ci95'))} |")
    for name_, m in metrics.items():  # nested results such as the transfer benchmark's
        if isinstance(m, dict) and "share_flagged" in m:
            lines.append(f"| `{name_}` (n={m['n']}): share flagged | {_fmt(m['share_flagged'])} "
                         f"| {_fmt(m.get('share_flagged_ci95', ''))} |")
    empty = metrics.get("empty_truth", {})
    if empty.get("n"):
        lines.append(f"| images with empty truth | {empty['n']} | — |")
        lines.append(f"| … share with any predicted pixel | {_fmt(empty['false_positive_rate'])} | — |")
    for view, m in metrics.get("by_view", {}).items():
        lines.append(f"| IoU on `{view}` views (n={m['n']}) | {_fmt(m['iou'])} | {_fmt(m['iou_ci95'])} |")
    for source, m in metrics.get("by_dataset", {}).items():
        lines.append(f"| Dice on `{source}` images (n={m['n']}) | {_fmt(m['dice'])} | {_fmt(m['dice_ci95'])} |")
        if m.get("empty_truth", {}).get("n"):
            lines.append(f"| … `{source}` normal images with any predicted lesion (n={m['empty_truth']['n']}) "
                         f"| {_fmt(m['empty_truth']['false_positive_rate'])} | — |")
    return lines


def render_card_markdown(card: ModelCard) -> str:
    """A readable model card from the JSON card."""
    lines = [f"# medscreen `{card.task}` model", "", card.summary or card.name, ""]
    lines += ["## Inputs and outputs", ""]
    preprocessing = card.preprocessing or (card.params.preprocess if "preprocess" in card.params.model_fields_set else "")
    params = card.to_json().get("params")
    lines += [f"- Input: {card.in_channels}×{card.input_size}×{card.input_size} float32 in [0, 1] "
              f"({preprocessing})",
              f"- Output: {card.output}", f"- Threshold: {card.threshold}",
              f"- Architecture: `{card.arch}` ({card.parameters if card.parameters is not None else '?'} parameters)"
              + (f"; an ensemble of {card.ensemble.members} networks (seeds {', '.join(map(str, card.ensemble.seeds))}"
                 + (f"; augmentation {', '.join(card.ensemble.augments)}"
                    if any(a != "task" for a in card.ensemble.augments) else "")
                 + f"), {card.ensemble.combine}" if card.ensemble else ""),
              f"- ONNX SHA-256: `{card.sha256}`"]
    if card.weights_dtype == "float16":
        lines.append(f"- Weights stored in float16, computed in float32 (max |Δlogit| "
                     f"{card.float16_max_abs_diff:.1e} against the float32 export)")
    lines.append("")
    if params:
        lines += [f"- Inference parameters: `{json.dumps(params)}`", ""]
    lines += ["## Data", "", card.data, ""]
    if card.training_images is not None:
        counts = f"{len(card.training_images.train)} training, {len(card.training_images.val)} validation"
        lines += [(f"Training images recorded by the SHA-256 of their files: {counts} (`medscreen evaluate` "
                   "reports the images it scores as seen in training, seen in validation, or unseen)."), ""]
    lines += ["## How it was made", "", "```", *card.commands, "```", ""]
    for name, metrics in card.metrics.items():
        lines += [f"## Validation: {name}", "", "| metric | value | 95 % CI |", "|---|---|---|"]
        lines += _metric_lines(metrics)
        lines.append("")
    lines += ["## Intended use", "", card.intended_use, "", "## Known limits", ""]
    lines += [f"- {x}" for x in card.limits]
    lines += ["", "## Licences of the training data", ""] + [f"- {x}" for x in card.licences]
    return "\n".join(lines) + "\n"


def write_card(card: ModelCard | dict[str, Any], onnx_path: Path) -> tuple[Path, Path]:
    """Write ``<stem>.json`` and ``<stem>.md`` beside ``onnx_path`` (a dict is validated first)."""
    if not isinstance(card, ModelCard):
        card = parse_card(card, Path(onnx_path).with_suffix(".json").name)
    json_path, md_path = onnx_path.with_suffix(".json"), onnx_path.with_suffix(".md")
    json_path.write_text(json.dumps(card.to_json(), indent=2) + "\n")
    md_path.write_text(render_card_markdown(card))
    return json_path, md_path
