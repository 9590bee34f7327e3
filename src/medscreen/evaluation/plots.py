"""Report figures as PNG files: ROC curve, confusion matrix, reliability diagram.

Figures are drawn on ``matplotlib.figure.Figure`` objects (Agg canvas), never
through ``pyplot``: no global state, no display needed, safe in a server.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import roc_curve

from medscreen.evaluation.classification import (
    _as_arrays,
    _binary_truth,
    _encode,
    calibration_bins,
    compute_auc,
    expected_calibration_error,
)

__all__ = ["plot_calibration", "plot_confusion", "plot_roc"]


def _save(fig: Figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    return path


def plot_roc(
    path: Path,
    y_true: Sequence | np.ndarray,
    y_prob: Sequence | np.ndarray,
    *,
    labels: Sequence | None = None,
    threshold: float | None = None,
    title: str = "ROC curve",
) -> Path:
    """Save the ROC curve (one-vs-rest, one curve per class, for ``N×K`` probabilities).

    Args:
        path: PNG to write (folders are created).
        y_true, y_prob, labels: as :func:`medscreen.evaluation.classification.compute_auc`.
        threshold: binary only; marks the operating point ``y_prob >= threshold``.
        title: figure title.

    Returns:
        ``path``.
    """
    t, p = _as_arrays(y_true, y_prob)
    fig = Figure(figsize=(4.5, 4.5))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], ls=":", c="grey", lw=1)
    if p.ndim == 1:
        truth = _binary_truth(t, labels)
        if 0 < truth.sum() < len(truth):
            fpr, tpr, _ = roc_curve(truth, p)
            ax.plot(fpr, tpr, lw=2, label=f"AUC {compute_auc(truth, p):.3f}")
            if threshold is not None:
                pred = p >= threshold
                ax.plot(pred[truth == 0].mean(), pred[truth == 1].mean(), "o", c="crimson", label=f"threshold {threshold:.3g}")
    else:
        idx = _encode(t, labels, p.shape[1])
        names = list(range(p.shape[1])) if labels is None else list(labels)
        for k, name in enumerate(names):
            pos = idx == k
            if 0 < pos.sum() < len(pos):
                fpr, tpr, _ = roc_curve(pos, p[:, k])
                ax.plot(fpr, tpr, lw=2, label=f"{name} vs rest (AUC {compute_auc(pos, p[:, k]):.3f})")
    ax.set(xlabel="1 − specificity (false positive rate)", ylabel="sensitivity", title=title, xlim=(0, 1), ylim=(0, 1.01))
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower right", fontsize=8)
    return _save(fig, path)


def plot_confusion(
    path: Path, matrix: Sequence[Sequence[int]] | np.ndarray, labels: Sequence[str], *, title: str = "Confusion matrix"
) -> Path:
    """Save a confusion matrix (rows = truth, columns = prediction) with counts and row shares.

    Returns:
        ``path``.
    """
    cm = np.asarray(matrix, dtype=float)
    rows = cm.sum(1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    fig = Figure(figsize=(1.2 * len(labels) + 2, 1.2 * len(labels) + 1.5))
    ax = fig.add_subplot()
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, f"{int(cm[i, j])}\n{share[i, j]:.0%}", ha="center", va="center",
                    color="white" if share[i, j] > 0.5 else "black", fontsize=9)
    ticks = range(len(labels))
    ax.set(xticks=ticks, yticks=ticks, xticklabels=labels, yticklabels=labels, xlabel="predicted", ylabel="truth", title=title)
    return _save(fig, path)


def plot_calibration(
    path: Path,
    y_true: Sequence | np.ndarray,
    y_prob: Sequence | np.ndarray,
    *,
    n_bins: int = 10,
    labels: Sequence | None = None,
    title: str = "Reliability diagram",
) -> Path:
    """Save a reliability diagram (observed against predicted per bin, bin sizes below).

    Bins as :func:`medscreen.evaluation.classification.calibration_bins`.

    Returns:
        ``path``.
    """
    bins = calibration_bins(y_true, y_prob, n_bins, labels)
    edges, count = np.array(bins["edges"]), np.array(bins["count"])
    conf, observed = np.array(bins["confidence"]), np.array(bins["observed"])
    ece = expected_calibration_error(y_true, y_prob, n_bins, labels)
    fig = Figure(figsize=(4.5, 5.5))
    ax, hist = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ax.plot([0, 1], [0, 1], ls=":", c="grey", lw=1)
    ok = count > 0
    ax.bar(edges[:-1][ok], observed[ok], width=np.diff(edges)[ok], align="edge", alpha=0.6, edgecolor="k", label="observed")
    ax.plot(conf[ok], observed[ok], "o-", c="crimson", label=f"ECE {ece:.3f}")
    ax.set(ylabel="observed frequency", title=title, xlim=(0, 1), ylim=(0, 1))
    ax.legend(loc="upper left", fontsize=8)
    hist.bar(edges[:-1], count, width=np.diff(edges), align="edge", color="grey", edgecolor="k")
    hist.set(xlabel="predicted probability (binary) or confidence", ylabel="cases")
    return _save(fig, path)
