"""End-to-end screening of one image: input check → models → findings → advice.

Fundus (GlaucoScreen): the input check (:func:`~medscreen.pipelines.quality.assess_image`);
the ``disc`` model outlines the optic disc (centre, diameter, area); the disc
crop (a square of ``crop_k`` disc diameters, or the squared image when it is
already a disc-centred crop with no camera surround) goes to the ``glaucoma``
model; for glaucoma-positive eyes the same crop goes to the ``progression`` model.
Breast ultrasound: the input check; the ``lesion`` model's mask (area,
bounding box); the ``breast-class`` model's normal/benign/malignant
probabilities (fed the lesion probability as a second channel when its card
says ``use_mask``).

Advice rules:

* Fundus. Not a fundus photo, or not gradable → ``rescreen`` with the input
  check's reasons. No optic disc found → ``rescreen`` ("optic disc not found;
  retake centred on the disc"); a disc the disc stage is not sure of
  (``disc.confidence`` below the disc card's ``min_confidence``) → ``rescreen``
  too, with no glaucoma finding from its crop. A disc on a full photo that is
  unusually large for the field and not sure enough (the card's
  ``review_size_full`` and ``review_below_confidence``) is never ``routine``:
  ``review``, with the reason, unless the glaucoma finding refers. Glaucoma probability ≥ the model's stored
  threshold → ``refer`` (the reason gives probability and threshold; when the
  progression probability is ≥ its threshold, "signs of progression: earlier
  review" is added). Below the threshold but inside the card's ``review_band``
  (the threshold's bootstrap interval on validation) → ``review``: uncertain,
  a specialist should look. Otherwise ``routine``.
* Ultrasound. Not an ultrasound image, or not gradable → ``rescreen``. Most
  probable class malignant → ``refer``, urgently; benign → ``refer`` for a
  non-urgent specialist review of the lesion; normal → ``routine``, unless the
  lesion model outlined a lesion: then the models disagree and the image is
  referred for review.
* An image nobody can place (neither modality) → ``rescreen``.

A rejected image never gets a model finding: ``disc``, ``glaucoma``,
``progression``, ``lesion`` and ``breast_class`` stay null (the schema refuses
anything else). Every result names the model files that made it and their
SHA-256, the backend, and the time each stage took.

Backends: ``onnxruntime`` (default; no torch imported) runs the bundled
``.onnx`` files; ``torch`` rebuilds the same networks and loads ``<task>.pt``
beside them (:mod:`medscreen.inference.torch_backend`). Both share every line
of pre- and post-processing, so they differ only by the networks' arithmetic.
A :class:`Screener` loads each modality's models once, on first use, and may be
shared between threads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from medscreen.config import Settings
from medscreen.errors import ModelError, choose
from medscreen.i18n import N_, Message, Number
from medscreen.inference.card import CardParams
from medscreen.inference.classification import Classifier, breast_input, onnx_classifier
from medscreen.inference.runtime import ModelSpec, OnnxModel, Runner, bundled_model_path
from medscreen.inference.laterality import eye_from_disc
from medscreen.inference.segmentation import disc_confidence, disc_needs_review, segment_disc, segment_lesion
from medscreen.pipelines._quality_features import has_surround
from medscreen.pipelines.inputs import ImageInput, ScreeningInput, read_input, read_inputs
from medscreen.pipelines.quality import QualityReport, assess_image
from medscreen.pipelines.schema import (
    BreastClassFinding,
    DiscFinding,
    GlaucomaFinding,
    LesionFinding,
    ModelVersion,
    ProgressionFinding,
    ScreeningOutput,
    ScreeningResult,
)
from medscreen.tasks import MODALITIES, task_names
from medscreen.tasks import TASKS as ALL_TASKS
from medscreen.transforms.classification import crop_view_box, disc_pallor, glaucoma_crop_box
from medscreen.transforms.geometry import Box, crop_box

__all__ = [
    "BACKENDS",
    "BREAST_LABELS",
    "TASKS",
    "ImageInput",
    "breast_advice",
    "glaucoma_reasons",
    "ScreeningInput",
    "ScreeningOutput",
    "Screener",
    "get_screener",
    "read_input",
    "read_inputs",
    "screen",
]

logger = logging.getLogger(__name__)

BACKENDS: tuple[str, ...] = ("onnxruntime", "torch")
#: the models each pipeline runs, in order (from the task table)
TASKS: dict[str, tuple[str, ...]] = {modality: task_names(modality=modality) for modality in MODALITIES}
NO_DISC = N_("optic disc not found; retake centred on the disc")
DISC_UNCLEAR = N_("the optic disc could not be found clearly: retake the photo centred on the disc")
DISC_DOUBTFUL = N_("the outline of the optic disc is unusually large and uncertain (it may take in the pale "
                   "area beside the disc), so the glaucoma probability %(probability)s may be wrong: a specialist "
                   "should look at this photo")


def _grey(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma exactly as ``read_image(mode="gray")`` (a grey image's channel when they are equal)."""
    if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2]):
        return np.ascontiguousarray(rgb[..., 0])
    return np.asarray(Image.fromarray(rgb).convert("L"))


# --------------------------------------------------------------------------- models


@dataclass
class _Model:
    """One loaded model: what feeds it, how to run it, which file it is."""

    spec: ModelSpec
    version: ModelVersion
    runner: Runner | None = None  # segmentation
    classifier: Classifier | None = None  # classification


def _load_model(task: str, path: Path, backend: str, threads: int | None) -> _Model:
    segmentation = ALL_TASKS[task].is_segmentation
    if backend == "torch":
        from medscreen.inference.torch_backend import load_torch_model

        tm = load_torch_model(path)
        spec, file, sha = tm.spec, tm.path, tm.sha256
        runner: Runner | None = tm if segmentation else None
        classifier = None if segmentation else Classifier(spec, tm.run, f"{file} (PyTorch)")
    else:
        om = OnnxModel(path, threads=threads, spinning=False)
        spec, file, sha = om.spec, om.path, om.sha256
        runner = om if segmentation else None
        classifier = None if segmentation else onnx_classifier(om)
    if spec.task != task:
        raise ModelError(f"{path} is a {spec.task!r} model, not {task!r}; give the {task} model for {task}")
    if classifier is not None and classifier.inputs == "clinical":
        raise ModelError(f"{path}: a clinical-only {task} model cannot screen an image; give an image model")
    return _Model(spec, ModelVersion(file=Path(file).name, sha256=sha), runner, classifier)


@dataclass
class _Run:
    """Bookkeeping while one image goes through a pipeline."""

    timings: dict[str, float] = field(default_factory=dict)
    models: dict[str, ModelVersion] = field(default_factory=dict)

    def timed(self, stage: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        out = fn(*args, **kwargs)
        self.timings[stage] = self.timings.get(stage, 0.0) + (time.perf_counter() - t) * 1000
        return out


def _box_xyxy(box: Box) -> list[int]:
    y0, x0, y1, x1 = box
    return [int(x0), int(y0), int(x1), int(y1)]


class Screener:
    """Runs the screening pipelines; loads each modality's models once, on first use; thread-safe.

    Args:
        backend: ``onnxruntime`` (default) or ``torch`` (needs ``<task>.pt`` beside each model).
        models: per task (``disc``, ``glaucoma``, ``progression``, ``lesion``, ``breast-class``)
            an ``.onnx`` file with its ``.json`` card, instead of the bundled one.
        threads: ONNX Runtime intra-op threads per model (None: one per physical core).
        settings: image size limits (default: the built-in limits, :func:`~medscreen.config.default_settings`).

    Raises:
        ConfigError: unknown backend or task name.
    """

    def __init__(self, backend: str = "onnxruntime", *, models: Mapping[str, str | Path] | None = None,
                 threads: int | None = None, settings: Settings | None = None):
        self.backend = choose(backend, BACKENDS, "backend")
        self.paths = {choose(task, tuple(ALL_TASKS), "model task"): Path(p) for task, p in (models or {}).items()}
        self.threads = threads
        self.settings = settings
        self._models: dict[str, _Model] = {}
        self._lock = threading.Lock()

    def model_path(self, task: str) -> Path:
        """The ``.onnx`` used for ``task``: the one given, else the bundled one.

        Raises:
            ModelError: no model given and none bundled for ``task``.
        """
        return self.paths.get(task) or bundled_model_path(task)

    def load(self, modality: str) -> None:
        """Load the models of ``modality`` (``fundus`` or ``ultrasound``) now rather than on first use.

        Raises:
            ModelError: a model file or its card (or, for torch, its ``.pt``) is missing or unusable.
        """
        tasks = TASKS[choose(modality, tuple(TASKS), "modality")]
        with self._lock:
            for task in tasks:
                if task not in self._models:
                    self._models[task] = _load_model(task, self.model_path(task), self.backend, self.threads)
                    logger.info("loaded %s model %s (%s)", task, self._models[task].version.file, self.backend)

    def _model(self, task: str, run: _Run) -> _Model:
        model = self._models[task]
        run.models[task] = model.version
        return model

    # ------------------------------------------------------------------ public

    def analyse(self, image: ImageInput | ScreeningInput, modality: str | None = None, *,
                source: str | None = None) -> ScreeningOutput:
        """Screen one image and keep the image and mask for overlays and reports.

        Args:
            image: a path, file bytes, a uint8 ``H×W[×3]`` array, or a :class:`ScreeningInput`.
            modality: ``fundus`` or ``ultrasound``; None detects it.
            source: the name recorded in the result (default: the file name).

        Raises:
            ImageReadError: the image cannot be decoded.
            ConfigError: unknown ``modality``.
            ModelError: a model needed is missing or unusable.
        """
        if modality is not None:
            choose(modality, tuple(TASKS), "modality")
        data = read_input(image, source=source, settings=self.settings)
        start = time.perf_counter()
        run = _Run({"decode": data.decode_ms})
        quality: QualityReport = run.timed("quality", assess_image, data.image, modality)
        target = modality or quality.modality
        common = {"source": source or data.source, "modality": target, "detected_modality": quality.modality,
                  "modality_confidence": quality.modality_confidence, "quality_reasons": quality.reasons,
                  "backend": self.backend}
        mask = None
        if target == "unknown" or not quality.gradable:
            fields: dict[str, Any] = {"gradable": False, "advice": "rescreen", "reasons": list(quality.messages)}
        else:
            if not all(task in self._models for task in TASKS[target]):
                run.timed("load_models", self.load, target)  # once per process; not counted in the total
            pipeline = self._fundus if target == "fundus" else self._ultrasound
            fields, mask = pipeline(data.image, quality, run)
            fields["gradable"] = True
        load_ms = run.timings.get("load_models", 0.0)
        run.timings["total"] = data.decode_ms + (time.perf_counter() - start) * 1000 - load_ms
        messages: list[Message] = fields.pop("reasons")
        result = ScreeningResult(**common, **fields, reasons=[str(m) for m in messages], models=run.models,
                                 timings_ms={k: round(v, 3) for k, v in run.timings.items()})
        return ScreeningOutput(result, data.image, mask, reason_messages=messages,
                               quality_messages=list(quality.messages))

    def screen(self, image: ImageInput | ScreeningInput, modality: str | None = None, *,
               source: str | None = None) -> ScreeningResult:
        """Screen one image: see :meth:`analyse` (this returns only the result)."""
        return self.analyse(image, modality, source=source).result

    # ------------------------------------------------------------------ fundus

    def _fundus(self, rgb: np.ndarray, quality: QualityReport, run: _Run) -> tuple[dict[str, Any], np.ndarray]:
        disc = self._model("disc", run)
        is_crop = not has_surround(quality.measures)  # a disc-centred crop: disc sizes, window and crop follow
        seg = run.timed("disc", segment_disc, rgb, disc.runner, disc.spec, is_crop=is_crop)
        geo = seg.geometry()
        if geo is None:
            return {"advice": "rescreen", "reasons": [Message(NO_DISC)], "disc": DiscFinding(found=False)}, seg.mask
        glaucoma = self._models["glaucoma"]  # listed in the result's models only once it has run
        clf = glaucoma.classifier
        assert clf is not None
        crops: dict[tuple[str, float, float | None], tuple[Box, np.ndarray]] = {}

        def crop_for(params: CardParams) -> tuple[Box, np.ndarray]:
            key = (params.framing, params.crop_k, params.recrop_above_k)
            if key not in crops:
                box = crop_view_box(rgb.shape, geo, key[0], key[1], key[2]) if is_crop else glaucoma_crop_box(  # type: ignore[arg-type]
                    None, key[0], key[1], geometry=geo)  # type: ignore[arg-type]
                crops[key] = (box, crop_box(rgb, box))  # type: ignore[arg-type]
            return crops[key]

        fov = seg.boxes[0]  # the squared field of view (a crop: the squared image) that pass 1 looked at
        conf = disc_confidence(seg, float(fov[2] - fov[0]), is_crop=is_crop, params=disc.spec.params, view_box=fov)
        box, crop = run.timed("crop", crop_for, clf.spec.params)
        disc_finding = DiscFinding(
            found=True, centre_x=geo.cx, centre_y=geo.cy, diameter_px=geo.diameter, area_px=geo.area,
            bbox=geo.bbox_xyxy(), crop_box=_box_xyxy(box),
            confidence=conf.confidence if conf else None, size_ratio=conf.size_ratio if conf else None,
            vertical_offset=conf.vertical_offset if conf else None,
            eye=None if is_crop else eye_from_disc(geo.cx, fov[1], fov[3]),
        )
        if conf is not None and conf.confidence < disc.spec.params.min_confidence:  # an implausible disc: no finding from its crop
            return {"advice": "rescreen", "reasons": [Message(DISC_UNCLEAR)], "disc": disc_finding}, seg.mask
        self._model("glaucoma", run)
        fusion = clf.spec.params.pallor_fusion
        pallor = None if fusion is None else run.timed("glaucoma", disc_pallor, crop, fusion.radius, fusion.scale)
        p = float(run.timed("glaucoma", self._predict, clf, crop, pallor)[0])
        band = clf.spec.params.review_band
        finding = GlaucomaFinding(probability=p, threshold=clf.spec.threshold, positive=p >= clf.spec.threshold,
                                  review_band=list(band) if band else None,
                                  disc_pallor=None if pallor is None else round(pallor, 4))
        uncertain = not finding.positive and band is not None and p >= band[0]
        out: dict[str, Any] = {"disc": disc_finding, "glaucoma": finding}
        progression = None
        if finding.positive:
            prog = self._model("progression", run).classifier
            assert prog is not None
            _, prog_crop = run.timed("crop", crop_for, prog.spec.params)
            q = float(run.timed("progression", self._predict, prog, prog_crop)[0])
            progression = ProgressionFinding(probability=q, threshold=prog.spec.threshold,
                                             progressing=q >= prog.spec.threshold,
                                             experimental=prog.spec.params.experimental)
            out["progression"] = progression
        reasons = glaucoma_reasons(finding, progression)
        doubtful = disc_needs_review(conf, disc.spec.params, is_crop=is_crop)
        if doubtful:  # never routine: the crop may be off the disc; the probability is kept, and the reason says why
            why = Message(DISC_DOUBTFUL, {"probability": Number(p)})
            reasons = [*reasons, why] if finding.positive or uncertain else [why]
        out.update(advice="refer" if finding.positive else "review" if uncertain or doubtful else "routine",
                   reasons=reasons)
        return out, seg.mask

    @staticmethod
    def _predict(classifier: Classifier, image: np.ndarray, pallor: float | None = None) -> np.ndarray:
        """Probabilities for one image; a fused model gets no clinical data (NaN = the training mean).

        ``pallor``: the image's disc pallor, measured once for the result and the card's fusion.
        """
        clinical = None
        if classifier.inputs == "fused":
            from medscreen.datasets.clinical import CLINICAL_FEATURES

            clinical = np.full((1, len(CLINICAL_FEATURES)), np.nan, np.float32)
        return classifier.predict([image], clinical, pallor=None if pallor is None else np.array([pallor]))

    # ------------------------------------------------------------------ ultrasound

    def _ultrasound(self, rgb: np.ndarray, quality: QualityReport, run: _Run) -> tuple[dict[str, Any], np.ndarray]:
        grey = _grey(rgb)
        lesion = self._model("lesion", run)
        seg = run.timed("lesion", segment_lesion, grey, lesion.runner, lesion.spec)
        geo = seg.geometry()
        h, w = grey.shape
        found = LesionFinding(
            found=geo is not None, area_px=geo.area if geo else 0.0,
            area_fraction=geo.area / (h * w) if geo else 0.0,
            bbox=geo.bbox_xyxy() if geo else None,
        )
        clf = self._model("breast-class", run).classifier
        assert clf is not None
        x = breast_input(grey, use_mask=clf.spec.params.use_mask, probability=seg.probability)
        probs = np.atleast_1d(run.timed("breast_class", self._predict, clf, x)[0])
        labels = clf.labels
        if probs.size == 1:  # a binary model: the positive (last) class's probability
            probs = np.array([1.0 - probs[0], probs[0]])
        probabilities = {c: float(v) for c, v in zip(labels, probs, strict=True)}
        label = labels[int(np.argmax(probs))]
        limit = clf.spec.params.malignancy_threshold
        urgent = label == "malignant" or (limit is not None and probabilities.get("malignant", 0.0) >= limit)
        finding = BreastClassFinding(probabilities=probabilities, label=label, malignancy_threshold=limit,
                                     urgent=urgent)
        advice, reasons = breast_advice(finding, found)
        return {"lesion": found, "breast_class": finding, "advice": advice, "reasons": reasons}, seg.mask


def glaucoma_reasons(finding: GlaucomaFinding, progression: ProgressionFinding | None = None) -> list[Message]:
    """Why a gradable fundus photo gets its advice: refer, review (in the review band) or routine.

    An experimental progression model never adds a reason (it never changes the advice).
    """
    p, threshold = Number(finding.probability), Number(finding.threshold)
    band = finding.review_band
    if finding.positive:
        reasons = [Message(N_("glaucoma probability %(probability)s is at or above the referral threshold "
                              "%(threshold)s: refer to an eye specialist for a glaucoma assessment"),
                           {"probability": p, "threshold": threshold})]
        if progression is not None and progression.progressing and not progression.experimental:
            reasons.append(Message(N_("signs of progression (probability %(probability)s ≥ %(threshold)s): "
                                      "earlier review"), {"probability": Number(progression.probability),
                                                          "threshold": Number(progression.threshold)}))
        return reasons
    if band is not None and finding.probability >= band[0]:
        return [Message(N_("uncertain: glaucoma probability %(probability)s is just below the referral threshold "
                           "%(threshold)s, where the model cannot tell glaucoma from normal reliably (from "
                           "%(band_low)s): a specialist should look at this photo"),
                        {"probability": p, "threshold": threshold, "band_low": Number(float(band[0]))})]
    return [Message(N_("glaucoma probability %(probability)s is below the referral threshold %(threshold)s: "
                       "routine screening interval"), {"probability": p, "threshold": threshold})]


#: the breast classifier's labels, as the reasons name them
BREAST_LABELS = {"normal": N_("normal"), "benign": N_("benign"), "malignant": N_("malignant")}


def _label(label: str) -> Message | str:
    return Message(BREAST_LABELS[label]) if label in BREAST_LABELS else label


def breast_advice(finding: BreastClassFinding, lesion: LesionFinding) -> tuple[str, list[Message]]:
    """The advice for a gradable breast ultrasound image and why: refer (urgently when malignant), or routine."""
    p = Number(finding.probabilities[finding.label])
    if finding.urgent:
        pm = Number(finding.probabilities.get("malignant", 0.0))
        if finding.label == "malignant":
            why = Message(N_("the image looks malignant (probability %(probability)s)"), {"probability": pm})
        else:
            why = Message(N_("the malignant probability %(malignant)s reaches the malignancy threshold %(threshold)s "
                             "(set so that 9 in 10 malignant images reach it), although %(label)s is more probable "
                             "(%(probability)s)"),
                          {"malignant": pm, "threshold": Number(finding.malignancy_threshold or 0.0),
                           "label": _label(finding.label), "probability": p})
        return "refer", [Message(N_("%(why)s: refer urgently to a breast specialist for assessment and biopsy"),
                                 {"why": why})]
    if finding.label == "normal":
        if lesion.found:
            return "refer", [Message(N_("the classifier says normal (probability %(probability)s) but the lesion "
                                        "model outlines a lesion (%(area)s %% of the image): the models disagree; "
                                        "refer for specialist review"),
                                     {"probability": p, "area": Number(100 * lesion.area_fraction, ".1f")})]
        return "routine", [Message(N_("no lesion found and the image looks normal (probability %(probability)s): "
                                      "routine follow-up"), {"probability": p})]
    if finding.label == "benign":  # (malignant is always urgent, above)
        return "refer", [Message(N_("the image shows a lesion that looks benign (probability %(probability)s): refer "
                                    "for a non-urgent specialist review of the lesion"), {"probability": p})]
    return "refer", [Message(N_("the image shows a lesion that looks %(label)s (probability %(probability)s): refer "
                                "for a non-urgent specialist review of the lesion"),
                             {"label": finding.label, "probability": p})]


# --------------------------------------------------------------------------- process-wide API


@lru_cache(maxsize=len(BACKENDS))
def _shared_screener(backend: str) -> Screener:
    return Screener(backend)


def get_screener(backend: str = "onnxruntime") -> Screener:
    """The process-wide :class:`Screener` of ``backend`` with the bundled models (loaded on first use).

    Raises:
        ConfigError: unknown backend.
    """
    return _shared_screener(choose(backend, BACKENDS, "backend"))


def screen(image: ImageInput, modality: str | None = None, *, backend: str = "onnxruntime") -> ScreeningResult:
    """Screen one fundus photo or breast ultrasound image with the bundled models.

    Args:
        image: an image file path, its bytes, or a uint8 ``H×W`` / ``H×W×3`` (RGB) array.
        modality: ``fundus`` or ``ultrasound``; None detects it from the image.
        backend: ``onnxruntime`` (default) or ``torch`` (research; needs the ``.pt`` weights).

    Returns:
        The :class:`~medscreen.pipelines.schema.ScreeningResult`; its JSON is
        ``result.model_dump_json()``.

    Raises:
        ImageReadError: the image cannot be decoded.
        ConfigError: unknown ``modality`` or ``backend``.
        ModelError: a bundled model (or its ``.pt`` for torch) is missing or unusable.
    """
    return get_screener(backend).screen(image, modality)
