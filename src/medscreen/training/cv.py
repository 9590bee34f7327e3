"""Patient-grouped ``k``-fold cross-validation of a classifier: ``cross_validate(records, config, out_dir, k=5)``.

Each fold is an ordinary run folder (``fold1/`` … ``foldK/``, see
:mod:`medscreen.training.run`); ``out_dir`` also gets ``oof_predictions.csv``
(every case once, predicted by the fold that held it out) and
``cv_report.json`` (the pooled out-of-fold report).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from medscreen.datasets.records import Record
from medscreen.datasets.splits import kfold_records, split_records
from medscreen.evaluation.classification import compute_auc, summarise_by_source
from medscreen.training.classification import (
    ClassItem,
    load_classifier_module,
    load_items,
    predict_items,
    task_records,
    train_classifier,
    write_predictions,
)
from medscreen.training.config import ClassificationConfig

__all__ = ["cross_validate"]

log = logging.getLogger(__name__)

#: report fields that depend on the decision (threshold), taken from the per-fold-threshold report
_DECIDED_KEYS = ("tp", "fp", "tn", "fn", "accuracy", "sensitivity", "specificity", "precision", "npv", "fpr",
                 "fdr", "fnr", "mcc", "f1", "confusion_matrix", "sensitivity_ci95", "specificity_ci95")


def cross_validate(records: Sequence[Record], config: ClassificationConfig, out_dir: Path, *, k: int = 5,
                   progress: bool = False) -> dict:
    """Patient-grouped ``k``-fold cross-validation with training inside each fold; pooled out-of-fold report.

    In each fold the training part is split again by patient: its inner
    validation split picks the checkpoint and the threshold, so the held-out
    fold is touched only for the final predictions. Writes
    ``oof_predictions.csv`` and ``cv_report.json`` in ``out_dir``.

    Returns:
        The report of :func:`~medscreen.evaluation.classification.summarise_by_source` on the pooled
        out-of-fold predictions, with ``cv`` (k, per-fold AUC and threshold, wall time) and ``config``.

    Raises:
        ConfigError: no usable records, or a fold's run cannot start (see :func:`train_classifier`).
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    records = task_records(records, config.task)
    folds = kfold_records(records, k=k, seed=config.seed)
    all_items: list[ClassItem] = []
    probs, thresholds, per_fold = [], [], []
    cache: dict[str, np.ndarray | None] = {}  # each image decoded (and its disc cropped) once for all folds
    for i, (train_part, test_part) in enumerate(folds):
        inner = split_records(train_part, val_fraction=config.val_fraction, seed=config.seed + i)
        run = train_classifier(records, config, out_dir / f"fold{i + 1}", split=(inner["train"], inner["val"]),
                               progress=progress, cache=cache)
        threshold = json.loads((run / "summary.json").read_text())["threshold"]
        module = load_classifier_module(run / "checkpoints" / "best.ckpt")
        items = load_items(test_part, config, cache)
        p = predict_items(module, items)
        all_items += items
        probs.append(p)
        thresholds.append(threshold)
        fold_truth = np.array([it.label for it in items])
        per_fold.append({"fold": i + 1, "n": len(items), "auc": compute_auc(fold_truth, p), "threshold": threshold,
                         "groups": sorted({r.group for r in test_part})})
        log.info("fold %d/%d: AUC %.3f on %d held-out cases", i + 1, k, per_fold[-1]["auc"], len(items))
    prob = np.concatenate(probs)
    truth = np.array([it.label for it in all_items])
    sources = [it.source for it in all_items]
    report = summarise_by_source(truth, prob, config.classes, sources)
    if config.binary:
        _decide_per_fold(report, truth, prob, probs, thresholds, config, sources)
    report["cv"] = {"k": k, "folds": [{kk: v for kk, v in f.items() if kk != "groups"} for f in per_fold],
                    "groups_per_fold": [len(f["groups"]) for f in per_fold],
                    "wall_time_s": round(time.perf_counter() - started, 1)}
    report["config"] = config.model_dump()
    write_predictions(out_dir / "oof_predictions.csv", all_items, prob, config.classes)
    (out_dir / "cv_report.json").write_text(json.dumps(report, indent=2, default=str))
    return report


def _decide_per_fold(report: dict, truth: np.ndarray, prob: np.ndarray, probs: list[np.ndarray],
                     thresholds: list[float], config: ClassificationConfig, sources: list[str]) -> None:
    """Replace the decision figures of ``report`` (and of each source) by those at each fold's own threshold.

    Each fold's threshold decides its own cases; the cases are pooled as one
    confusion matrix. Scores are shifted so that every fold's threshold lands
    on 0.5, the report's default threshold.
    """
    fold_t = np.concatenate([np.full(len(p), t) for p, t in zip(probs, thresholds, strict=True)])
    shifted = np.clip(prob - fold_t + 0.5, 0.0, 1.0)
    decided = summarise_by_source(truth, shifted, config.classes, sources)
    for target, source in [(report, decided)] + [
        (report["by_source"][s], decided["by_source"][s]) for s in report.get("by_source", {})
    ]:
        target.update({key: source[key] for key in _DECIDED_KEYS if key in source})
    report["threshold"] = "per fold (inner-validation sensitivity rule)"
