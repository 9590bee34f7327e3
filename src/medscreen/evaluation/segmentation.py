"""Segmentation metrics: pure ``compute_*`` functions over boolean masks, and the report.

Conventions (stated because libraries differ): per-image Dice and IoU are 1
when truth and prediction are both empty and 0 when exactly one is empty, so
a lesion painted on a normal image costs a full point. Pixel-accumulated
scores sum true/false positives over all images first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from medscreen.errors import MedscreenError
from medscreen.evaluation.stats import bootstrap_ci, nan_to_none

__all__ = [
    "PixelCounts",
    "compute_counts",
    "compute_dice",
    "compute_iou",
    "dice_from_counts",
    "iou_from_counts",
    "compute_hd95",
    "summarise_segmentation",
    "nan_to_none",
]


@dataclass(frozen=True)
class PixelCounts:
    """True positives, false positives, false negatives of one image, and its truth's size."""

    tp: int
    fp: int
    fn: int
    truth: int
    pred: int


def _check(pred: np.ndarray, truth: np.ndarray) -> None:
    if pred.shape != truth.shape:
        raise MedscreenError(f"prediction and truth should have the same shape, got {pred.shape} and {truth.shape}")


def compute_counts(pred: np.ndarray, truth: np.ndarray) -> PixelCounts:
    """Pixel counts of a boolean prediction against a boolean truth of the same shape."""
    _check(pred, truth)
    p, t = pred.astype(bool), truth.astype(bool)
    tp = int(np.count_nonzero(p & t))
    return PixelCounts(tp, int(np.count_nonzero(p)) - tp, int(np.count_nonzero(t)) - tp, int(t.sum()), int(p.sum()))


def dice_from_counts(c: PixelCounts) -> float:
    """Dice ``2TP / (2TP+FP+FN)``; 1 when truth and prediction are both empty."""
    denom = 2 * c.tp + c.fp + c.fn
    return 1.0 if denom == 0 else 2 * c.tp / denom


def iou_from_counts(c: PixelCounts) -> float:
    """IoU ``TP / (TP+FP+FN)``; 1 when truth and prediction are both empty."""
    denom = c.tp + c.fp + c.fn
    return 1.0 if denom == 0 else c.tp / denom


def compute_dice(pred: np.ndarray, truth: np.ndarray) -> float:
    """Dice ``2|P∩T| / (|P|+|T|)``; 1 when both are empty."""
    return dice_from_counts(compute_counts(pred, truth))


def compute_iou(pred: np.ndarray, truth: np.ndarray) -> float:
    """IoU ``|P∩T| / |P∪T|``; 1 when both are empty."""
    return iou_from_counts(compute_counts(pred, truth))


def compute_hd95(pred: np.ndarray, truth: np.ndarray) -> float:
    """95th-percentile symmetric Hausdorff distance in pixels (MONAI); NaN if either mask is empty."""
    _check(pred, truth)
    if not pred.any() or not truth.any():
        return float("nan")
    import torch
    from monai.metrics import compute_hausdorff_distance

    p = torch.as_tensor(pred.astype(np.uint8))[None, None]
    t = torch.as_tensor(truth.astype(np.uint8))[None, None]
    return float(compute_hausdorff_distance(p, t, percentile=95.0).item())


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den else float("nan")


def summarise_segmentation(
    counts: Sequence[PixelCounts], hd95: Sequence[float] | None = None, *, n_boot: int = 2000, seed: int = 0
) -> dict:
    """The evaluation report from per-image counts (the ``OUT.json`` of ``medscreen evaluate``).

    Returns:
        ``n``, mean ``dice``/``iou`` (empty rule above) with bootstrap 95 % CIs,
        pixel-accumulated ``pixel_dice``/``pixel_iou``, ``precision``/``recall``,
        mean ``hd95`` over images where both masks are non-empty, and for
        images with empty truth ``empty_truth.n`` and ``empty_truth.false_positive_rate``
        (the share with any predicted pixel).
    """
    if not counts:
        raise MedscreenError("no images to evaluate; check the dataset or manifest has images with masks")
    c = np.array([[x.tp, x.fp, x.fn, x.truth, x.pred] for x in counts], dtype=np.int64)
    tp, fp, fn, truth, pred = c.T
    dice_den, iou_den = 2 * tp + fp + fn, tp + fp + fn
    dice = np.where(dice_den == 0, 1.0, 2 * tp / np.maximum(dice_den, 1))
    iou = np.where(iou_den == 0, 1.0, tp / np.maximum(iou_den, 1))
    empty = truth == 0

    def pix_dice(idx: np.ndarray) -> float:
        return _ratio(2 * tp[idx].sum(), dice_den[idx].sum())

    def pix_iou(idx: np.ndarray) -> float:
        return _ratio(tp[idx].sum(), iou_den[idx].sum())

    n = len(counts)
    report: dict = {
        "n": n,
        "dice": float(dice.mean()),
        "iou": float(iou.mean()),
        "dice_ci95": bootstrap_ci(n, lambda i: float(dice[i].mean()), n_boot=n_boot, seed=seed),
        "iou_ci95": bootstrap_ci(n, lambda i: float(iou[i].mean()), n_boot=n_boot, seed=seed),
        "pixel_dice": pix_dice(np.arange(n)),
        "pixel_iou": pix_iou(np.arange(n)),
        "pixel_dice_ci95": bootstrap_ci(n, pix_dice, n_boot=n_boot, seed=seed),
        "pixel_iou_ci95": bootstrap_ci(n, pix_iou, n_boot=n_boot, seed=seed),
        "precision": _ratio(tp.sum(), tp.sum() + fp.sum()),
        "recall": _ratio(tp.sum(), tp.sum() + fn.sum()),
    }
    nonempty = ~empty
    report["nonempty_truth"] = {
        "n": int(nonempty.sum()),
        "dice": float(dice[nonempty].mean()) if nonempty.any() else float("nan"),
        "iou": float(iou[nonempty].mean()) if nonempty.any() else float("nan"),
    }
    report["empty_truth"] = {
        "n": int(empty.sum()),
        "false_positive_rate": float((pred[empty] > 0).mean()) if empty.any() else float("nan"),
    }
    if hd95 is not None:
        h = np.array(hd95, dtype=float)
        ok = np.isfinite(h)
        report["hd95"] = float(h[ok].mean()) if ok.any() else float("nan")
        report["hd95_n"] = int(ok.sum())
        idx_ok = np.nonzero(ok)[0]
        report["hd95_ci95"] = bootstrap_ci(
            len(idx_ok), lambda i: float(h[idx_ok[i]].mean()), n_boot=n_boot, seed=seed
        )
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in report.items()}
