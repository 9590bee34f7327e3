"""Evaluate a segmentation model on records with masks: the engine of ``medscreen evaluate``."""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from medscreen.datasets.records import Record
from medscreen.errors import ConfigError, ImageReadError
from medscreen.evaluation.overlays import save_overlay
from medscreen.evaluation.segmentation import (
    compute_counts,
    compute_hd95,
    dice_from_counts,
    iou_from_counts,
    nan_to_none,
    summarise_segmentation,
)
from medscreen.inference.card import TrainingImages
from medscreen.inference.provenance import records_to_score, seen_report, seen_warning
from medscreen.inference.runtime import ModelSpec, Runner
from medscreen.inference.segmentation import segment_disc, segment_lesion
from medscreen.io.images import read_image, read_mask
from medscreen.transforms.geometry import centred_box, crop_box, mask_geometry
from medscreen.tasks import TASKS

__all__ = ["SegmentationCase", "iter_cases", "evaluate_segmentation", "write_report"]

log = logging.getLogger(__name__)


class SegmentationCase:
    """One evaluated view: an image (or a crop of it), its truth mask, and whether the model saw the image.

    ``seen``: ``train``, ``val``, ``unseen`` or ``unknown`` (see :mod:`medscreen.inference.provenance`).
    """

    def __init__(self, key: str, image: np.ndarray, truth: np.ndarray, dataset: str = "", seen: str = "unknown"):
        self.key, self.image, self.truth, self.dataset, self.seen = key, image, truth, dataset, seen


def iter_cases(records: Sequence[Record], task: str, crop_scales: Sequence[float] = (),
               statuses: Sequence[str] | None = None):
    """Yield :class:`SegmentationCase` per record, plus disc-centred crops of side ``k × true diameter``.

    ``statuses``: each record's ``seen`` group (default ``unknown``), given to its views.
    """
    for r, seen in zip(records, statuses or ["unknown"] * len(records), strict=True):
        if not r.masks and r.label != "normal":
            continue
        image = read_image(r.image, mode="rgb" if TASKS[task].in_channels == 3 else "gray")
        truth = read_mask(r.masks) if r.masks else np.zeros(image.shape[:2], bool)
        if truth.shape != image.shape[:2]:
            raise ImageReadError(
                f"{r.masks[0]}: mask {truth.shape[1]}×{truth.shape[0]} differs from image "
                f"{image.shape[1]}×{image.shape[0]} ({r.image}); fix or drop this pair"
            )
        key = r.key or r.image.stem
        yield SegmentationCase(key, image, truth, r.dataset, seen)
        geo = mask_geometry(truth)
        for k in crop_scales:
            if geo is None:
                continue
            box = centred_box(geo.cy, geo.cx, k * geo.diameter)
            yield SegmentationCase(f"{key}@crop{k:g}", crop_box(image, box), crop_box(truth, box), r.dataset, seen)


def evaluate_segmentation(
    records: Sequence[Record],
    task: str,
    runner: Runner,
    spec: ModelSpec,
    *,
    crop_scales: Sequence[float] = (),
    out_dir: Path | None = None,
    worst: int = 8,
    on_progress: Callable[[int], None] | None = None,
    training: TrainingImages | None = None,
    unseen_only: bool = False,
) -> dict:
    """Segment every record, compare with its mask and summarise.

    Args:
        training: the model's training images (its card's ``training_images``); None: unknown.
        unseen_only: score only the records the model never trained or validated on.

    Returns:
        The report of :func:`summarise_segmentation` over all scored views;
        with ``crop_scales`` also ``by_view`` (``full`` and ``crop<k>``), and
        ``by_dataset`` when the records come from several datasets; ``seen``
        (:func:`~medscreen.inference.provenance.seen_report`: counts and the
        metrics of the training, validation and unseen images apart) and
        ``warning`` when training images were scored. With ``out_dir``:
        ``per_image.csv`` (with a ``seen`` column) and overlay PNGs of the
        ``worst`` images by Dice.

    Raises:
        ConfigError: no record has a mask (nothing to evaluate), or ``unseen_only`` with nothing unseen.
    """
    segment = segment_disc if TASKS[task].modality == "fundus" else segment_lesion
    records, statuses, left_out = records_to_score(records, training, unseen_only=unseen_only)
    rows, counts, hd, kept = [], [], [], []
    for i, case in enumerate(iter_cases(records, task, crop_scales, statuses)):
        out = segment(case.image, runner, spec)
        c = compute_counts(out.mask, case.truth)
        counts.append(c)
        hd.append(compute_hd95(out.mask, case.truth))
        dice, iou = dice_from_counts(c), iou_from_counts(c)
        view = case.key.split("@")[1] if "@" in case.key else "full"
        rows.append({"key": case.key, "dataset": case.dataset, "view": view, "dice": dice, "iou": iou, "hd95": hd[-1],
                     "truth_pixels": c.truth, "pred_pixels": c.pred, "seen": case.seen})
        if out_dir is not None:
            kept.append((dice, case, out.mask))
            kept = sorted(kept, key=lambda t: t[0])[:worst]
        if on_progress:
            on_progress(i + 1)
    if not counts:
        raise ConfigError("no images with masks to evaluate; the data must include masks (or normal images)")
    report = summarise_segmentation(counts, hd)
    for column, name in (("view", "by_view"), ("dataset", "by_dataset")):
        groups = sorted({r[column] for r in rows})
        if len(groups) > 1:
            report[name] = {
                g: summarise_segmentation([c for c, r in zip(counts, rows, strict=True) if r[column] == g])
                for g in groups
            }
    report["seen"] = seen_report([r["seen"] for r in rows],
                                 lambda idx: summarise_segmentation([counts[i] for i in idx], [hd[i] for i in idx]),
                                 unseen_only=unseen_only, left_out=left_out)
    warning = seen_warning(report["seen"], metric="dice", label="Dice", unit="views" if crop_scales else "images")
    if warning:
        report["warning"] = warning
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        with (out_dir / "per_image.csv").open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        for rank, (dice, case, mask) in enumerate(kept):
            safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in case.key)
            save_overlay(out_dir / "worst" / f"{rank:02d}_{safe}_dice{dice:.2f}.png", case.image, case.truth, mask)
    return nan_to_none(report)  # type: ignore[return-value]


def write_report(report: dict, path: Path) -> Path:
    """Write the report as indented JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2))
    return path
