"""Classification metrics: pure functions over labels and probabilities, and the report.

Binary tasks (glaucoma/normal, progressing/stable) give ``y_prob`` as the
probability of the positive class (shape ``N``); ``K``-class tasks
(normal/benign/malignant) give ``N×K`` probabilities whose columns follow
``labels`` (default ``0..K-1``). Ratios whose denominator is 0 are NaN, never
an exception, so a report on a small or one-class test set still completes;
``nan_to_none`` turns them into JSON ``null``.

The binary metrics follow GlaucoScreen's tables 4–5 (Milkuri, IJSSER 2024).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score, roc_curve

from medscreen.errors import ConfigError, MedscreenError
from medscreen.evaluation.stats import bootstrap_ci, nan_to_none

__all__ = [
    "operating_threshold",
    "threshold_band",
    "calibration_bins",
    "choose_threshold",
    "auc_with_ci",
    "compute_auc",
    "compute_binary_metrics",
    "confusion_matrix_binary",
    "expected_calibration_error",
    "summarise_classification",
    "summarise_by_source",
]

logger = logging.getLogger(__name__)


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den else float("nan")


def _as_arrays(y_true: Sequence | np.ndarray, y_prob: Sequence | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t, p = np.asarray(y_true), np.asarray(y_prob, dtype=float)
    if p.ndim == 2 and p.shape[1] == 1:
        p = p[:, 0]
    if t.ndim != 1 or p.ndim not in (1, 2) or len(t) != len(p):
        raise MedscreenError(
            f"y_true should be N labels and y_prob N probabilities or N×K, got shapes {t.shape} and {p.shape}"
        )
    return t, p


def _encode(t: np.ndarray, labels: Sequence | None, k: int) -> np.ndarray:
    """Class indices ``0..k-1`` of ``t`` given the label of each probability column."""
    names = list(range(k)) if labels is None else list(labels)
    if len(names) != k:
        raise MedscreenError(f"labels should name the {k} probability columns, got {len(names)}: {names}")
    index = {v: i for i, v in enumerate(names)}
    unknown = sorted(str(v) for v in set(t.tolist()) if v not in index)
    if unknown:
        raise MedscreenError(f"y_true has labels {unknown} not in the columns' labels {names}")
    return np.array([index[v] for v in t.tolist()], dtype=np.int64)


def _binary_truth(t: np.ndarray, labels: Sequence | None) -> np.ndarray:
    if labels is not None:
        return _encode(t, labels, 2)
    if not np.isin(t, (0, 1)).all():
        values = np.unique(t)[:5].tolist()
        raise MedscreenError(f"binary y_true should be 0/1 or bool, got values {values}; pass labels=(negative, positive)")
    return t.astype(np.int64)


def confusion_matrix_binary(
    y_true: Sequence | np.ndarray, y_prob: Sequence | np.ndarray, threshold: float = 0.5
) -> dict[str, int]:
    """Counts of a binary decision ``y_prob >= threshold`` against 0/1 truth.

    Returns:
        ``{"tp", "fp", "tn", "fn"}`` as ints.
    """
    t, p = _as_arrays(y_true, y_prob)
    truth, pred = _binary_truth(t, None).astype(bool), p >= threshold
    return {
        "tp": int(np.count_nonzero(truth & pred)),
        "fp": int(np.count_nonzero(~truth & pred)),
        "tn": int(np.count_nonzero(~truth & ~pred)),
        "fn": int(np.count_nonzero(truth & ~pred)),
    }


def compute_binary_metrics(tp: int, fp: int, tn: int, fn: int) -> dict[str, float]:
    """GlaucoScreen's secondary metrics (tables 4–5) from a binary confusion matrix.

    ``sensitivity = TP/(TP+FN)``, ``specificity = TN/(TN+FP)``, ``precision =
    TP/(TP+FP)``, ``npv = TN/(TN+FN)``, ``fpr = FP/(FP+TN)``, ``fdr =
    FP/(FP+TP)``, ``fnr = FN/(FN+TP)``, ``f1 = 2TP/(2TP+FP+FN)``, ``mcc =
    (TP·TN − FP·FN)/√((TP+FP)(TP+FN)(TN+FP)(TN+FN))`` and ``accuracy``.

    Returns:
        The ten metrics; NaN where a denominator is 0 (scikit-learn reports MCC 0 there).
    """
    mcc_den = math.sqrt(float(tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return {
        "accuracy": _ratio(tp + tn, tp + fp + tn + fn),
        "sensitivity": _ratio(tp, tp + fn),
        "specificity": _ratio(tn, tn + fp),
        "precision": _ratio(tp, tp + fp),
        "npv": _ratio(tn, tn + fn),
        "fpr": _ratio(fp, fp + tn),
        "fdr": _ratio(fp, fp + tp),
        "fnr": _ratio(fn, fn + tp),
        "mcc": _ratio(float(tp) * tn - float(fp) * fn, mcc_den),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
    }


def _rank_auc(pos: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC as the Mann–Whitney statistic with mid-ranks for ties; NaN without both classes.

    Equal to scikit-learn's ``roc_auc_score`` (tested) but ~20× faster on
    small inputs, which the bootstrap (2000 resamples × classes) needs.
    """
    n_pos = int(pos.sum())
    n_neg = len(pos) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _sklearn_auc(pos: np.ndarray, score: np.ndarray) -> float:
    return float(roc_auc_score(pos, score)) if 0 < pos.sum() < len(pos) else float("nan")


def _per_class_auc(idx: np.ndarray, p: np.ndarray, auc: Callable = _rank_auc) -> list[float]:
    """One-vs-rest ROC AUC of each column; NaN for a class absent or alone in ``idx``."""
    return [auc(idx == k, p[:, k]) for k in range(p.shape[1])]


def compute_auc(y_true: Sequence | np.ndarray, y_prob: Sequence | np.ndarray, labels: Sequence | None = None) -> float:
    """ROC AUC (scikit-learn): binary, or one-vs-rest macro average for ``N×K`` probabilities.

    The macro average is over the classes whose one-vs-rest AUC is defined
    (the class and some other class present); with every class present it
    equals ``roc_auc_score(..., multi_class="ovr", average="macro")``.

    Args:
        y_true: 0/1 (binary) or class labels (``N×K``; see ``labels``).
        y_prob: positive-class probabilities ``N``, or ``N×K`` class probabilities.
        labels: the label of each probability column (default ``0..K-1``).

    Returns:
        The AUC; NaN when only one class is present.
    """
    t, p = _as_arrays(y_true, y_prob)
    if p.ndim == 1:
        truth = _binary_truth(t, labels)
        return _sklearn_auc(truth == 1, p)
    aucs = np.array(_per_class_auc(_encode(t, labels, p.shape[1]), p, _sklearn_auc))
    return float(np.nanmean(aucs)) if np.isfinite(aucs).any() else float("nan")


def auc_with_ci(y_true: Sequence | np.ndarray, score: Sequence | np.ndarray, *, n_boot: int = 2000,
                seed: int = 0) -> dict:
    """``{"n", "auc", "auc_ci95"}`` of a binary score: :func:`compute_auc` and its percentile bootstrap 95 % CI.

    With one class only, ``auc`` and ``auc_ci95`` are None.
    """
    t, p = _as_arrays(y_true, score)
    if len(np.unique(t)) < 2:
        return {"n": len(t), "auc": None, "auc_ci95": None}
    return {"n": len(t), "auc": compute_auc(t, p),
            "auc_ci95": bootstrap_ci(len(t), lambda i: compute_auc(t[i], p[i]), n_boot=n_boot, seed=seed)}


def calibration_bins(
    y_true: Sequence | np.ndarray, y_prob: Sequence | np.ndarray, n_bins: int = 10, labels: Sequence | None = None
) -> dict[str, list]:
    """Reliability-diagram data over ``n_bins`` equal-width bins of [0, 1].

    Binary: the bin's mean positive-class probability against its share of
    positives. ``N×K``: the mean confidence of the predicted (argmax) class
    against the share predicted correctly (Guo et al., "On Calibration of
    Modern Neural Networks", ICML 2017). Bin ``i`` holds ``(i/n, (i+1)/n]``,
    and 0 goes in the first bin.

    Returns:
        ``edges`` (n_bins + 1), and per bin ``confidence``, ``observed`` (NaN when empty) and ``count``.
    """
    if n_bins < 1:
        raise ConfigError(f"n_bins must be ≥ 1, got {n_bins}")
    t, p = _as_arrays(y_true, y_prob)
    if p.ndim == 1:
        conf, hit = p, _binary_truth(t, labels).astype(float)
    else:
        conf, hit = p.max(1), (p.argmax(1) == _encode(t, labels, p.shape[1])).astype(float)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    count = np.bincount(which, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(which, conf, n_bins) / count
        observed = np.bincount(which, hit, n_bins) / count
    return {
        "edges": edges.tolist(),
        "confidence": mean_conf.tolist(),
        "observed": observed.tolist(),
        "count": count.tolist(),
    }


def expected_calibration_error(
    y_true: Sequence | np.ndarray, y_prob: Sequence | np.ndarray, n_bins: int = 10, labels: Sequence | None = None
) -> float:
    """ECE: ``Σ_b (n_b / N) |observed_b − confidence_b|`` over the equal-width bins of :func:`calibration_bins`.

    Returns:
        The ECE in [0, 1]; NaN for no cases.
    """
    bins = calibration_bins(y_true, y_prob, n_bins, labels)
    count = np.array(bins["count"], dtype=float)
    if count.sum() == 0:
        return float("nan")
    gap = np.abs(np.array(bins["observed"]) - np.array(bins["confidence"]))
    return float(np.nansum(count * gap) / count.sum())


def choose_threshold(
    y_true: Sequence | np.ndarray, y_prob: Sequence | np.ndarray, min_sensitivity: float = 0.90
) -> float:
    """The highest threshold whose sensitivity is at least ``min_sensitivity`` (scikit-learn's ``roc_curve``).

    Screening wants few missed cases: among thresholds meeting the sensitivity
    target, the highest one has the highest specificity. Choose it on
    validation data, report it on test data. Positives are ``y_prob >= threshold``.

    Returns:
        The threshold (one of the ``y_prob`` values); NaN when there are no positives or no negatives.

    Raises:
        ConfigError: ``min_sensitivity`` outside (0, 1].
    """
    if not 0.0 < min_sensitivity <= 1.0:
        raise ConfigError(f"min_sensitivity must be in (0, 1], got {min_sensitivity}")
    t, p = _as_arrays(y_true, y_prob)
    truth = _binary_truth(t, None)
    if not 0 < truth.sum() < len(truth):
        logger.warning("choose_threshold: need both classes, got %d positives of %d cases", truth.sum(), len(truth))
        return float("nan")
    _, tpr, thresholds = roc_curve(truth, p, drop_intermediate=False)
    return float(thresholds[int(np.argmax(tpr >= min_sensitivity - 1e-12))])


def operating_threshold(truth: np.ndarray, prob: np.ndarray, min_sensitivity: float) -> float:
    """:func:`choose_threshold` moved halfway down to the next lower validation score (0.5 if undefined).

    The chosen threshold is itself a validation score; a case sitting exactly
    on it would flip with float noise between PyTorch and ONNX Runtime. The
    midpoint keeps the validation confusion matrix and removes the knife edge.
    """
    threshold = choose_threshold(truth, prob, min_sensitivity)
    if not np.isfinite(threshold):
        return 0.5
    lower = prob[prob < threshold]
    return float((threshold + lower.max()) / 2) if lower.size else float(threshold)


def threshold_band(
    y_true: Sequence | np.ndarray, y_prob: Sequence | np.ndarray, min_sensitivity: float = 0.90, *,
    n_boot: int = 2000, seed: int = 0, level: float = 0.95,
) -> tuple[float, float]:
    """How far the operating threshold could move: its bootstrap interval on the validation data.

    Each resample (stratified by class, so every one has both) picks its own
    threshold with :func:`choose_threshold`; the band is the central ``level``
    interval of those thresholds. A probability inside the band is one the
    validation data cannot place on either side of the threshold with
    confidence: the screening pipeline advises a specialist's review there
    instead of a routine interval.

    Returns:
        ``(low, high)``; ``(nan, nan)`` without both classes.
    """
    t, p = _as_arrays(y_true, y_prob)
    truth = _binary_truth(t, None)
    pos, neg = np.flatnonzero(truth == 1), np.flatnonzero(truth == 0)
    if not (pos.size and neg.size):
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    picks = []
    for _ in range(n_boot):
        i = np.concatenate([rng.choice(pos, pos.size), rng.choice(neg, neg.size)])
        picks.append(choose_threshold(truth[i], p[i], min_sensitivity))
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(picks, [tail, 100 - tail])
    return float(low), float(high)


def _summarise_binary(truth: np.ndarray, p: np.ndarray, threshold: float, n_boot: int, seed: int) -> dict:
    cm = confusion_matrix_binary(truth, p, threshold)
    pred = p >= threshold
    n = len(truth)

    def rate(idx: np.ndarray, cls: int) -> float:
        keep = truth[idx] == cls
        return float((pred[idx][keep] == cls).mean()) if keep.any() else float("nan")

    return {
        "task": "binary",
        "n": n,
        "n_positive": int(truth.sum()),
        "auc": compute_auc(truth, p),
        "auc_ci95": bootstrap_ci(n, lambda i: _rank_auc(truth[i] == 1, p[i]), n_boot=n_boot, seed=seed),
        "threshold": float(threshold),
        **cm,
        **compute_binary_metrics(**cm),
        "sensitivity_ci95": bootstrap_ci(n, lambda i: rate(i, 1), n_boot=n_boot, seed=seed),
        "specificity_ci95": bootstrap_ci(n, lambda i: rate(i, 0), n_boot=n_boot, seed=seed),
        "confusion_matrix": [[cm["tn"], cm["fp"]], [cm["fn"], cm["tp"]]],
        "ece": expected_calibration_error(truth, p),
        "at_sensitivity_0_85": operating_point(truth, p, 0.85),
    }


def operating_point(truth: np.ndarray, p: np.ndarray, min_sensitivity: float) -> dict[str, float | None]:
    """Sensitivity and specificity at the highest threshold reaching ``min_sensitivity`` *on these cases*.

    Chosen post hoc on the data it is reported on: it says what this model could
    do here if its threshold were set locally, not what its stored threshold does.
    """
    t = choose_threshold(truth, p, min_sensitivity) if 0 < truth.sum() < len(truth) else float("nan")
    if not np.isfinite(t):
        return {"threshold": None, "sensitivity": None, "specificity": None}
    pred = p >= t
    return {"threshold": float(t), "sensitivity": float(pred[truth == 1].mean()),
            "specificity": float((~pred[truth == 0]).mean())}


def _summarise_multiclass(idx: np.ndarray, p: np.ndarray, names: list, n_boot: int, seed: int) -> dict:
    k, n = p.shape[1], len(idx)
    pred = p.argmax(1)
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (idx, pred), 1)
    per_auc = _per_class_auc(idx, p)

    def macro_auc(i: np.ndarray) -> float:
        aucs = np.array(_per_class_auc(idx[i], p[i]))
        return float(np.nanmean(aucs)) if np.isfinite(aucs).any() else float("nan")

    one_vs_rest = []  # each class against the rest, at the argmax decision
    for c in range(k):
        tp, fn, fp = int(cm[c, c]), int(cm[c].sum() - cm[c, c]), int(cm[:, c].sum() - cm[c, c])
        one_vs_rest.append(compute_binary_metrics(tp, fp, n - tp - fn - fp, fn))
    macro = {key: float(np.nanmean([m[key] for m in one_vs_rest])) if any(np.isfinite(m[key]) for m in one_vs_rest)
             else float("nan") for key in one_vs_rest[0] if key != "accuracy"}
    return {
        "task": "multiclass",
        "n": n,
        "labels": names,
        "class_counts": cm.sum(1).tolist(),
        "auc": macro_auc(np.arange(n)),
        "auc_ci95": bootstrap_ci(n, macro_auc, n_boot=n_boot, seed=seed),
        "accuracy": _ratio(np.trace(cm), n),
        "accuracy_ci95": bootstrap_ci(n, lambda i: float((pred[i] == idx[i]).mean()), n_boot=n_boot, seed=seed),
        **macro,
        "averaging": "macro mean of one-vs-rest metrics at the argmax decision",
        "per_class": {
            str(name): {"n": int(cm[c].sum()), "auc": per_auc[c], **{key: one_vs_rest[c][key] for key in macro}}
            for c, name in enumerate(names)
        },
        "confusion_matrix": cm.tolist(),
        "ece": expected_calibration_error(idx, p),
    }


def summarise_classification(
    y_true: Sequence | np.ndarray,
    y_prob: Sequence | np.ndarray,
    *,
    threshold: float = 0.5,
    labels: Sequence | None = None,
    n_boot: int = 2000,
    seed: int = 0,
) -> dict:
    """The classification report (JSON-able; NaN written as ``None``).

    Binary (``y_prob`` of shape ``N``; ``labels`` optionally names the
    negative and positive class): ``n``, ``n_positive``, ``auc`` and
    ``auc_ci95`` (percentile bootstrap over cases), ``threshold``, ``tp``,
    ``fp``, ``tn``, ``fn``, every :func:`compute_binary_metrics` metric at the
    threshold, ``sensitivity_ci95``/``specificity_ci95``, ``confusion_matrix``
    ``[[tn, fp], [fn, tp]]`` (rows = truth) and ``ece``.

    ``K`` classes (``N×K``): ``labels``, ``class_counts``, macro one-vs-rest
    ``auc`` with ``auc_ci95``, ``accuracy`` with ``accuracy_ci95``, the macro
    mean of each one-vs-rest binary metric at the argmax decision,
    ``per_class`` ``{label: {n, auc, sensitivity, specificity, …}}``, the ``K×K``
    argmax ``confusion_matrix`` (rows = truth) and ``ece``.

    Raises:
        MedscreenError: no cases, mismatched shapes, or labels not among the columns.
    """
    t, p = _as_arrays(y_true, y_prob)
    if len(t) == 0:
        raise MedscreenError("no cases to evaluate; check the split or manifest has labelled images")
    if p.ndim == 1:
        report = _summarise_binary(_binary_truth(t, labels), p, threshold, n_boot, seed)
    else:
        names = list(range(p.shape[1])) if labels is None else [getattr(v, "item", lambda v=v: v)() for v in labels]
        report = _summarise_multiclass(_encode(t, names, p.shape[1]), p, names, n_boot, seed)
    return nan_to_none(report)  # type: ignore[return-value]


def summarise_by_source(
    truth: Sequence[int] | np.ndarray,
    prob: np.ndarray,
    classes: Sequence[str],
    sources: Sequence[str],
    *,
    threshold: float = 0.5,
    n_boot: int = 2000,
) -> dict:
    """:func:`summarise_classification` over all cases, plus ``by_source`` when cases come from several datasets.

    ``truth`` holds class indices into ``classes`` (negative first for two
    classes; ``prob`` is then the positive class's probability). A source
    with one class only gets AUC ``None`` and its sensitivity or specificity.
    """
    truth = np.asarray(truth)
    binary = len(classes) == 2
    labels = None if binary else list(range(len(classes)))

    def one(keep: np.ndarray, boots: int) -> dict:
        report = summarise_classification(truth[keep], prob[keep], threshold=threshold, labels=labels, n_boot=boots)
        report["labels"] = list(classes)
        if not binary:
            report["per_class"] = {classes[int(k)]: v for k, v in report["per_class"].items()}
        return report

    report = one(np.ones(len(truth), bool), n_boot)
    distinct = sorted(set(sources))
    if len(distinct) > 1:
        src = np.asarray(sources)
        report["by_source"] = {s: one(src == s, min(n_boot, 500)) for s in distinct}
    return report
