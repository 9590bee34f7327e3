"""Classifier inputs from raw images, and running a classifier (ONNX or PyTorch) on them.

``task_image`` turns a record's file into what the classifier sees: for
``glaucoma``/``progression`` the disc crop (made with the bundled disc model
from a full photo, or the image itself when it already is a crop), for
``breast-class`` the grey image, optionally with the bundled lesion model's
probability map as a second channel. Training and evaluation both use it,
so a model is always fed as it was trained.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from medscreen.constants import GLAUCOMA_CROP_K
from medscreen.datasets.clinical import CLINICAL_FEATURES, clinical_matrix
from medscreen.datasets.records import Record, task_label
from medscreen.errors import ConfigError, ModelError
from medscreen.inference.card import PallorFusion, TrainingImages
from medscreen.inference.provenance import checkpoint_training_images, records_to_score, seen_report, seen_warning
from medscreen.inference.runtime import ModelSpec, OnnxModel, bundled_model_path, load_onnx_model
from medscreen.inference.segmentation import segment_disc, segment_lesion
from medscreen.io.images import read_image
from medscreen.tasks import TASKS, get_task
from medscreen.transforms.classification import (
    crop_view_box,
    disc_pallor,
    glaucoma_crop,
    probabilities,
    to_model_input,
)
from medscreen.transforms.geometry import crop_box, mask_geometry, square_box

__all__ = [
    "Classifier",
    "clinical_matrix",
    "evaluate_classifier",
    "load_classifier",
    "onnx_classifier",
    "spec_params",
    "task_label",
    "task_image",
    "disc_masker",
    "fundus_crop",
    "fused_logits",
    "breast_input",
    "probabilities",
]

#: maps named float32 inputs (``image``, ``clinical``) to ``N×K`` logits
FeedRunner = Callable[[dict[str, np.ndarray]], np.ndarray]


def _squared(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    return image if h == w else crop_box(image, square_box((0, 0, h, w)))


def disc_masker(model_path: Path | None = None, *, is_crop: bool = False) -> Callable[[np.ndarray], np.ndarray]:
    """The disc stage as a function ``rgb → boolean disc mask`` (default: the bundled disc model).

    ``is_crop``: the images are disc-centred crops (the disc sizes looked for follow).
    The model is loaded once per process (:func:`load_onnx_model` caches it by path).
    """
    model = load_onnx_model(str(model_path or bundled_model_path("disc")))

    def mask(rgb: np.ndarray) -> np.ndarray:
        return segment_disc(rgb, model, model.spec, is_crop=is_crop).mask

    return mask


def fundus_crop(rgb: np.ndarray, *, is_crop: bool, framing: str = "diameter", k: float = GLAUCOMA_CROP_K,
                disc: Callable[[np.ndarray], np.ndarray] | None = None,
                recrop_above_k: float | None = None) -> np.ndarray | None:
    """The disc crop a glaucoma/progression classifier sees; None when no disc is found in a full photo.

    ``is_crop``: the image is already disc-centred (ACRIMA, GRAPE ROI) and is
    only squared — or, with ``recrop_above_k`` (the classifier card's), re-framed
    around its disc when it is wider than that many disc diameters
    (:func:`~medscreen.transforms.classification.crop_view_box`). Otherwise
    ``disc`` (default: the bundled disc model, see :func:`disc_masker`)
    segments the optic disc and the crop is made around it.
    """
    if is_crop:
        if recrop_above_k is None:
            return _squared(rgb)
        geometry = mask_geometry((disc or disc_masker(is_crop=True))(rgb))
        return crop_box(rgb, crop_view_box(rgb.shape, geometry, framing, k, recrop_above_k))  # type: ignore[arg-type]
    return glaucoma_crop(rgb, (disc or disc_masker())(rgb), framing, k)


def breast_input(grey: np.ndarray, *, use_mask: bool, lesion: OnnxModel | None = None,
                 probability: np.ndarray | None = None) -> np.ndarray:
    """``H×W×1`` grey ultrasound, or ``H×W×2`` with the lesion model's probability (×255) as channel 2.

    ``probability``: the lesion probability map already computed for ``grey`` (the screening
    pipeline has it); otherwise ``lesion`` (default: the bundled lesion model) computes it.
    """
    if not use_mask:
        return grey[..., None]
    if probability is None:
        model = lesion or load_onnx_model(str(bundled_model_path("lesion")))
        probability = segment_lesion(grey, model, model.spec).probability
    return np.stack([grey, np.clip(probability * 255.0 + 0.5, 0, 255).astype(np.uint8)], axis=-1)


def task_image(record: Record, task: str, *, is_crop: bool, use_mask: bool = False, framing: str = "diameter",
               k: float = GLAUCOMA_CROP_K, recrop_above_k: float | None = None) -> np.ndarray | None:
    """Read ``record.image`` and return the classifier's input image (uint8, ``H×W×C``), None without a disc."""
    if TASKS[task].modality == "ultrasound":
        return breast_input(read_image(record.image, mode="gray"), use_mask=use_mask)
    return fundus_crop(read_image(record.image, mode="rgb"), is_crop=is_crop, framing=framing, k=k,
                       recrop_above_k=recrop_above_k)


@dataclass
class Classifier:
    """A classifier and what its card says about feeding it.

    ``spec.params`` holds ``labels``, ``inputs`` (image/clinical/fused),
    ``preprocess``, ``clinical_features``, ``framing``, ``crop_k`` and
    ``use_mask``. ``run`` maps named inputs to logits. ``training_images``: the images
    the model was trained and validated on (its card's, or its run's split.csv); None: unknown.
    """

    spec: ModelSpec
    run: FeedRunner
    description: str = ""
    training_images: TrainingImages | None = None

    @property
    def labels(self) -> list[str]:
        return list(self.spec.params.labels)

    @property
    def inputs(self) -> str:
        return self.spec.params.inputs

    def feeds(self, images: Sequence[np.ndarray] | None, clinical: np.ndarray | None) -> dict[str, np.ndarray]:
        """Named, normalised float32 batches for ``run``."""
        feeds: dict[str, np.ndarray] = {}
        if self.inputs in ("image", "fused"):
            if not images:
                raise ModelError(f"the {self.spec.task} model needs images")
            method = self.spec.params.preprocess
            feeds["image"] = np.stack([to_model_input(im, self.spec.input_size, method) for im in images])
        if self.inputs in ("clinical", "fused"):
            if clinical is None:
                raise ModelError(
                    f"the {self.spec.task} model needs clinical data ({', '.join(CLINICAL_FEATURES)}); "
                    "blank values are allowed"
                )
            feeds["clinical"] = np.asarray(clinical, dtype=np.float32).reshape(-1, len(CLINICAL_FEATURES))
        return feeds

    def predict(self, images: Sequence[np.ndarray] | None = None, clinical: np.ndarray | None = None, *,
                pallor: np.ndarray | None = None) -> np.ndarray:
        """Probabilities: ``N`` (binary, positive class) or ``N×K``.

        ``pallor``: the images' :func:`disc_pallor` already measured as the card's ``pallor_fusion``
        says (a caller that reports it too need not measure it twice); otherwise it is measured here.

        With the card's ``params.tta == "flip"`` the logits of each image and of
        its left-right mirror (the other eye's orientation) are averaged before
        the probability; the card's threshold and band must then be chosen on
        validation predictions made the same way (``scripts/operating_point.py
        --write threshold``). Measured with ``benchmarks/glaucoma_transfer.py``
        (GRAPE against IDRiD, two unseen cameras): AUC 0.810 → 0.817 for the
        previous glaucoma model, 0.870 → 0.868 for the shipped one, which
        therefore does not use it.
        """
        logits = self.network_logits(images, clinical)
        if (fusion := self.spec.params.pallor_fusion) is not None:
            logits = fused_logits(logits, images or [], fusion, pallor=pallor)
        return probabilities(logits)

    def network_logits(self, images: Sequence[np.ndarray] | None, clinical: np.ndarray | None = None) -> np.ndarray:
        """The network's own logits (flip TTA as the card says, no pallor fusion): what a fusion is fitted on."""
        feeds = self.feeds(images, clinical)
        logits = np.asarray(self.run(feeds))
        if self.spec.params.tta == "flip" and "image" in feeds:
            mirrored = {**feeds, "image": np.ascontiguousarray(feeds["image"][..., ::-1])}
            logits = (logits + np.asarray(self.run(mirrored))) / 2.0
        return logits


def fused_logits(logits: np.ndarray, images: Sequence[np.ndarray], fusion: PallorFusion, *,
                 pallor: np.ndarray | None = None) -> np.ndarray:
    """``N×1`` network logits fused with each crop's disc pallor as the card's :class:`PallorFusion` says.

    ``pallor``: the crops' :func:`disc_pallor` already measured (then ``images`` is not read).

    Raises:
        ModelError: the logits are not one per image of a binary model.
    """
    logits = np.asarray(logits, dtype=np.float64)
    if pallor is None:
        pallor = np.array([disc_pallor(im, fusion.radius, fusion.scale) for im in images])
    if logits.ndim != 2 or logits.shape[1] != 1 or len(pallor) != logits.shape[0]:
        raise ModelError(f"pallor fusion needs one logit per image of a binary model; got logits of shape "
                         f"{logits.shape} for {len(pallor)} images — remove params.pallor_fusion from this card")
    return (fusion.logit_weight * logits[:, 0] + fusion.pallor_weight * pallor + fusion.bias)[:, None]


def onnx_classifier(model: OnnxModel) -> Classifier:
    """Wrap a loaded ONNX classifier (its inputs are named ``image`` and/or ``clinical``)."""
    names = {i.name for i in model.session.get_inputs()}

    def run(feeds: dict[str, np.ndarray]) -> np.ndarray:
        missing = names - set(feeds)
        if missing:
            raise ModelError(f"{model.path.name} needs inputs {sorted(names)}, got {sorted(feeds)}")
        return model.session.run(None, {k: v for k, v in feeds.items() if k in names})[0]

    return Classifier(model.spec, run, f"{model.path} (ONNX Runtime, sha256 {model.sha256[:12]})",
                      model.card.training_images)


def spec_params(config: Mapping[str, Any], labels: Sequence[str]) -> dict[str, Any]:
    """The card's ``params`` for a classifier trained with ``config`` (a ClassificationConfig dump).

    The task's own ``card_params`` (glaucoma: ``recrop_above_k``) come first; the run's settings after.
    """
    spec = get_task(config["task"], "classification")
    return {
        **spec.card_params,
        "labels": list(labels),
        "inputs": config["inputs"],
        "preprocess": config["preprocess"],
        "clinical_features": list(CLINICAL_FEATURES) if config["inputs"] != "image" else [],
        "framing": config["framing"],
        "crop_k": config["crop_k"],
        "use_mask": config["use_mask"],
    }


def evaluate_classifier(
    records: Sequence[Record],
    task: str,
    classifier: Classifier,
    *,
    is_crop: bool,
    out_dir: Path | None = None,
    on_progress: Callable[[int], None] | None = None,
    batch_size: int = 16,
    unseen_only: bool = False,
) -> dict:
    """Run ``classifier`` on labelled ``records`` and report (see :func:`summarise_by_source`).

    Photos in which no optic disc is found cannot be screened; they are
    counted (``n_no_disc``, ``no_disc``) and left out of the metrics.
    Each image is hashed and looked up in the classifier's training images:
    the report's ``seen`` block holds the counts and the metrics of the
    training, validation and unseen images apart, and ``warning`` is set when
    training images were scored; ``unseen_only`` scores only the unseen ones.
    ``out_dir`` receives ``per_case.csv`` (with a ``seen`` column) and ROC,
    confusion-matrix and calibration PNGs. A model whose card fuses the disc's pallor
    (``params.pallor_fusion``) also gets ``fusion_parts`` in the report (AUC of the network
    alone and of the pallor alone) and ``p_network`` and ``pallor`` columns in ``per_case.csv``.

    Raises:
        ModelError: no disc found in any photo.
        ConfigError: ``unseen_only`` with nothing unseen, or a card that does not record its training images.
    """
    from medscreen.evaluation.classification import summarise_by_source
    from medscreen.evaluation.plots import plot_calibration, plot_confusion, plot_roc

    labels = classifier.labels
    params = classifier.spec.params
    uses_image = classifier.inputs in ("image", "fused")
    records, statuses, left_out = records_to_score(records, classifier.training_images, unseen_only=unseen_only)
    kept: list[Record] = []
    seen: list[str] = []
    images: list[np.ndarray] = []
    no_disc: list[str] = []
    for i, (r, status) in enumerate(zip(records, statuses, strict=True)):
        if uses_image:
            image = task_image(r, task, is_crop=is_crop, use_mask=params.use_mask, framing=params.framing,
                               k=params.crop_k, recrop_above_k=params.recrop_above_k)
            if image is None:
                no_disc.append(r.image.name)
                continue
            images.append(image)
        kept.append(r)
        seen.append(status)
        if on_progress:
            on_progress(i + 1)
    if not kept:
        raise ModelError(f"no optic disc found in any of the {len(records)} photos; are these fundus photos?")
    clinical = clinical_matrix(kept) if classifier.inputs != "image" else None
    fusion = params.pallor_fusion
    probs, network, pallor = [], [], []
    for start in range(0, len(kept), batch_size):
        stop = start + batch_size
        if fusion is not None:  # the network and the pallor once each, so the report can give both apart
            net = classifier.network_logits(images[start:stop])
            pale = np.array([disc_pallor(im, fusion.radius, fusion.scale) for im in images[start:stop]])
            network.append(net[:, 0])
            pallor.append(pale)
            probs.append(probabilities(fused_logits(net, [], fusion, pallor=pale)))
            continue
        probs.append(classifier.predict(images[start:stop] if uses_image else None,
                                        None if clinical is None else clinical[start:stop]))
    prob = np.concatenate(probs)
    truth = np.array([labels.index(r.label) for r in kept])
    sources = [r.dataset for r in kept]
    report = summarise_by_source(truth, prob, labels, sources, threshold=classifier.spec.threshold)
    parts = None
    if fusion is not None:
        parts = {"p_network": probabilities(np.concatenate(network)[:, None]), "pallor": np.concatenate(pallor)}
        report["fusion_parts"] = _fusion_parts(truth, parts, sources)
    report.update(task=task, model=classifier.description, n_no_disc=len(no_disc), no_disc=no_disc[:50],
                  input="disc crops" if is_crop else "full photos (disc found and cropped by the bundled disc model)")
    report["seen"] = seen_report(
        seen, lambda idx: summarise_by_source(truth[idx], prob[idx], labels, [sources[i] for i in idx],
                                              threshold=classifier.spec.threshold),
        unseen_only=unseen_only, left_out=left_out)
    if warning := seen_warning(report["seen"], metric="auc", label="AUC"):
        report["warning"] = warning
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        _write_cases(out_dir / "per_case.csv", kept, truth, prob, labels, seen, parts)
        plot_roc(out_dir / "roc.png", truth, prob, labels=None if len(labels) == 2 else list(range(len(labels))),
                 threshold=classifier.spec.threshold if len(labels) == 2 else None, title=f"{task}: ROC")
        plot_confusion(out_dir / "confusion.png", report["confusion_matrix"], labels, title=f"{task}: confusion")
        plot_calibration(out_dir / "calibration.png", truth, prob,
                         labels=None if len(labels) == 2 else list(range(len(labels))), title=f"{task}: calibration")
    return report


def _fusion_parts(truth: np.ndarray, parts: dict[str, np.ndarray], sources: Sequence[str]) -> dict:
    """AUC (with its 95 % CI) of the network alone and of the pallor alone, over all cases and per source.

    A fused score's parts, reported apart so that a user sees on their own data what each one ranks.
    """
    from medscreen.evaluation.classification import auc_with_ci

    src = np.asarray(sources)
    out: dict = {}
    for name, score in (("network", parts["p_network"]), ("pallor", parts["pallor"])):
        out[name] = auc_with_ci(truth, score, n_boot=500)
        if len(set(sources)) > 1:
            out[name]["by_source"] = {s: auc_with_ci(truth[src == s], score[src == s], n_boot=500)
                                      for s in sorted(set(sources))}
    return out


def _write_cases(path: Path, records: Sequence[Record], truth: np.ndarray, prob: np.ndarray,
                 labels: Sequence[str], seen: Sequence[str], parts: dict[str, np.ndarray] | None = None) -> None:
    """``per_case.csv``; with a fused model's ``parts``, the network's own probability and the pallor too."""
    import csv

    extra = list(parts or {})
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        cols = [f"p_{labels[-1]}"] if prob.ndim == 1 else [f"p_{c}" for c in labels]
        writer.writerow(["image", "dataset", "patient_id", "label", *cols, "seen", *extra])
        for i, (r, t, p, s) in enumerate(zip(records, truth, prob, seen, strict=True)):
            writer.writerow([r.image, r.dataset, r.patient_id or "", labels[t], *np.atleast_1d(p).round(6).tolist(),
                             s, *[round(float(parts[k][i]), 6) for k in extra]])  # type: ignore[index]


def load_classifier(task: str, model: Path | None) -> Classifier:
    """The bundled classifier for ``task``, a ``.onnx`` (with its card) or a training ``.ckpt``.

    Raises:
        ModelError / ConfigError: unreadable model, or a model for another task.
    """
    if model is not None and Path(model).suffix == ".ckpt":
        import torch

        from medscreen.training.classification import load_classifier_module, run_threshold

        module = load_classifier_module(Path(model))
        cfg = module.config
        spec = ModelSpec(task=cfg.task, input_size=cfg.input_size, in_channels=cfg.in_channels,
                         threshold=run_threshold(Path(model)), params=spec_params(cfg.model_dump(), cfg.classes))

        def run(feeds: dict[str, np.ndarray]) -> np.ndarray:
            with torch.no_grad():
                image = torch.as_tensor(feeds["image"]) if "image" in feeds else None
                clinical = torch.as_tensor(feeds["clinical"]) if "clinical" in feeds else None
                return module(image, clinical).numpy()

        classifier = Classifier(spec, run, f"{model} (PyTorch)", checkpoint_training_images(Path(model)))
    else:
        classifier = onnx_classifier(OnnxModel(Path(model) if model is not None else bundled_model_path(task)))
    if classifier.spec.task != task:
        raise ConfigError(f"{model} is a {classifier.spec.task!r} model, not {task!r}; pass the right --model")
    return classifier
