"""Combine classifier runs that differ only in their seed (and augmentation) into one ensemble, validated like a single run.

Each member is an ordinary ``medscreen train`` run. To be combined they must
share every setting but ``seed`` and ``augment`` and the same validation split
(train the later members with ``--manifest FIRST_RUN/split.csv --seed N``), so that the
ensemble's validation predictions — the mean of the members' logits on that
split — are as honest as one run's: no member saw a validation image. The
operating threshold is chosen on them with the runs' own rule.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from medscreen.datasets.manifest import read_manifest
from medscreen.errors import ModelError
from medscreen.evaluation.classification import operating_threshold, summarise_by_source
from medscreen.training.classification import (
    ClassifierModule,
    ClassItem,
    load_classifier_module,
    load_items,
    predict_logits,
    write_predictions,
)
from medscreen.training.config import ClassificationConfig
from medscreen.transforms.classification import probabilities

__all__ = ["EnsembleValidation", "ensemble_key", "load_ensemble"]

log = logging.getLogger(__name__)

#: config fields members may differ in: the seed, the machine's, and the training augmentation (and MixStyle) —
#: they change only how training images are perturbed, not what the network is fed (input size, preprocessing) or
#: the validation split
_FREE = ("seed", "augment", "mixstyle", "num_workers", "accelerator")


def ensemble_key(config: ClassificationConfig) -> dict[str, Any]:
    """The settings every member of an ensemble must share (all but the seed, augmentation and the machine's)."""
    return {k: v for k, v in config.model_dump().items() if k not in _FREE}


@dataclass(frozen=True)
class EnsembleValidation:
    """The members, and the ensemble's predictions, threshold and report on their shared validation split."""

    members: list[ClassifierModule]
    checkpoints: list[Path]
    config: ClassificationConfig
    items: list[ClassItem]
    prob: np.ndarray
    threshold: float
    report: dict[str, Any]
    train_class_counts: dict[str, int]

    @property
    def seeds(self) -> list[int]:
        return [m.config.seed for m in self.members]

    def summary(self) -> dict[str, Any]:
        """The ``summary.json`` fields a card reads (threshold rule, split sizes, validation report)."""
        cfg, counts = self.config, self.train_class_counts
        return {
            "threshold": self.threshold,
            "threshold_rule": (f"highest with validation sensitivity ≥ {cfg.min_sensitivity}" if cfg.binary
                               else "argmax") + f" (mean logit of {len(self.members)} members)",
            "n_train": sum(counts.values()), "n_val": len(self.items), "train_class_counts": counts,
            "epochs_run": None, "validation": self.report,
        }

    def write_predictions(self, path: Path) -> Path:
        """The ensemble's validation predictions, in a run's ``val_predictions.csv`` layout."""
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_predictions(path, self.items, self.prob, self.config.classes)


def _split_rows(checkpoint: Path) -> list[dict[str, str]]:
    split = checkpoint.parent.parent / "split.csv"
    if not split.is_file():
        raise ModelError(f"{checkpoint}: no split.csv in its run folder {split.parent}; give checkpoints/best.ckpt "
                         "of a `medscreen train` run")
    with split.open(newline="") as fh:
        return list(csv.DictReader(fh))


def load_ensemble(checkpoints: Sequence[Path]) -> EnsembleValidation:
    """Load the member checkpoints, check they can be combined, and validate the ensemble on their split.

    Raises:
        ModelError: fewer than two checkpoints, members of different tasks or settings (other than the
            seed), or members validated on different images.
    """
    checkpoints = [Path(c) for c in checkpoints]
    if len(checkpoints) < 2:
        raise ModelError(f"an ensemble needs at least 2 checkpoints, got {len(checkpoints)}")
    members = [load_classifier_module(c) for c in checkpoints]
    first, key = members[0].config, ensemble_key(members[0].config)
    for checkpoint, member in zip(checkpoints[1:], members[1:], strict=True):
        other = ensemble_key(member.config)
        differ = sorted(k for k in key.keys() | other.keys() if key.get(k) != other.get(k))
        if differ:
            raise ModelError(f"{checkpoint}: trained with other settings than {checkpoints[0]} "
                             f"({', '.join(differ)}); ensemble members may differ only in --seed and --augment")
    rows = [_split_rows(c) for c in checkpoints]
    val_keys = [sorted(r.get("key") or r["image"] for r in split if r.get("split") == "val") for split in rows]
    for checkpoint, keys in zip(checkpoints[1:], val_keys[1:], strict=True):
        if keys != val_keys[0]:
            raise ModelError(f"{checkpoint}: validated on other images than {checkpoints[0]}; train every member "
                             f"with --manifest {checkpoints[0].parent.parent / 'split.csv'} so they share one split")
    index = read_manifest(checkpoints[0].parent.parent / "split.csv")
    val = [r for r in index.records if r.fields.get("split") == "val"]
    items = load_items(val, first)
    logits = np.mean([predict_logits(m, items) for m in members], axis=0)
    prob = probabilities(logits)
    truth = np.array([i.label for i in items])
    threshold = float(operating_threshold(truth, prob, first.min_sensitivity)) if first.binary else 0.5
    report = summarise_by_source(truth.tolist(), prob, first.classes, [i.source for i in items], threshold=threshold)
    log.info("ensemble of %d: validation AUC %.3f on %d cases, threshold %.4f", len(members),
             report.get("auc") or float("nan"), len(items), threshold)
    labels = [r.get("label", "") for r in rows[0] if r.get("split") == "train"]
    counts = {c: labels.count(c) for c in first.classes}
    return EnsembleValidation(members, checkpoints, first, items, prob, threshold, report, counts)
