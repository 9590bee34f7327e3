"""Which image files a model learnt from, and whether an evaluated image is one of them.

A model scored on its own training images looks better than it is (the
bundled lesion model: Dice 0.75 on BUSI's training images against 0.66 on its
validation split). Cards of version 3 record the SHA-256 of every training and
validation image (:class:`~medscreen.inference.card.TrainingImages`), taken
from the run's ``split.csv`` at export; ``medscreen evaluate`` hashes each
image it scores and reports the groups apart:

* ``train`` — the weights were fitted to it: its scores are optimistic;
* ``val`` — it picked the checkpoint and the threshold: slightly optimistic;
* ``unseen`` — never used to make the model;
* ``unknown`` — the card does not record its training images (version 1 or 2).

An image is identified by its file's bytes, plus, for a disc crop written by
``medscreen data crops``, the digest of the photo it was cut from (its
manifest's ``source_sha256`` column), so a crop and its photo count as one.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from medscreen.datasets.manifest import SOURCE_DIGEST_COLUMN
from medscreen.datasets.records import Record
from medscreen.errors import ConfigError, ImageReadError, ModelError
from medscreen.inference.card import TrainingImages
from medscreen.io.images import file_sha256

__all__ = [
    "SEEN_GROUPS",
    "checkpoint_training_images",
    "image_digests",
    "records_to_score",
    "seen_report",
    "seen_statuses",
    "seen_warning",
    "split_training_images",
]

log = logging.getLogger(__name__)

#: the groups an image with a recorded card falls in, in report order
SEEN_GROUPS = ("train", "val", "unseen")

def image_digests(record: Record) -> tuple[str, ...]:
    """SHA-256 digests that identify ``record``'s image: its file's bytes, and its source photo's when given.

    The file is streamed through :mod:`hashlib` (no decoding); read just before
    the image is decoded, its bytes then come from the page cache.

    Raises:
        ImageReadError: the image file is missing or unreadable.
    """
    digests = [file_sha256(record.image)]
    source = str(record.fields.get(SOURCE_DIGEST_COLUMN) or "").strip().lower()
    if source:
        digests.append(source)
    return tuple(digests)


def seen_statuses(records: Sequence[Record], training: TrainingImages | None) -> list[str]:
    """``train``, ``val`` or ``unseen`` per record (``unknown`` for each when ``training`` is None)."""
    if training is None:
        return ["unknown"] * len(records)
    return [training.status(image_digests(r)) for r in records]


def records_to_score(records: Sequence[Record], training: TrainingImages | None, *,
                     unseen_only: bool = False) -> tuple[list[Record], list[str], dict[str, int]]:
    """The records an evaluation scores, each one's ``seen`` group, and the groups left out.

    Every record is hashed (when ``training`` is given); with ``unseen_only`` the records
    the model trained or validated on are dropped and counted in the third value.

    Raises:
        ConfigError: ``unseen_only`` while the card does not record its training images, or no record is unseen.
    """
    statuses = seen_statuses(records, training)
    if not unseen_only:
        return list(records), statuses, {}
    if training is None:
        raise ConfigError("--unseen-only needs a model card that records its training images (card version 3, "
                          "`training_images`); this model's card does not, so unseen images cannot be told apart. "
                          "Re-export the model, or leave out --unseen-only")
    kept = [r for r, s in zip(records, statuses, strict=True) if s == "unseen"]
    if not kept:
        raise ConfigError(f"all {len(records)} images were in this model's training or validation split; "
                          "nothing unseen is left to score (leave out --unseen-only, or evaluate on other data)")
    return kept, ["unseen"] * len(kept), {g: statuses.count(g) for g in ("train", "val")}


def seen_report(statuses: Sequence[str], summarise: Callable[[list[int]], dict[str, Any]], *,
                unseen_only: bool = False, left_out: Mapping[str, int] | None = None) -> dict[str, Any]:
    """The report's ``seen`` block: counts per group and the metrics of each group alone.

    Args:
        statuses: the group of each scored case (as :func:`seen_statuses`).
        summarise: the evaluator's summary of the cases at the given indices.
        unseen_only: only unseen images were scored (``left_out`` counts the others).
        left_out: images of each group that were not scored.

    Returns:
        ``recorded`` (whether the card records its training images), ``counts``
        (scored cases per group, ``unknown`` when not recorded), ``unseen_only``,
        ``left_out``, and for ``train``, ``val`` and ``unseen`` the group's metrics (None when it is empty).
    """
    recorded = "unknown" not in statuses
    groups = SEEN_GROUPS if recorded else ("unknown",)
    block: dict[str, Any] = {
        "recorded": recorded,
        "counts": {g: sum(s == g for s in statuses) for g in groups},
        "unseen_only": unseen_only,
        "left_out": dict(left_out or {}),
    }
    if recorded:
        for g in SEEN_GROUPS:
            idx = [i for i, s in enumerate(statuses) if s == g]
            block[g] = summarise(idx) if idx else None
    else:
        block["note"] = ("this model's card does not record its training images (card version < 3); "
                         "whether these images were in its training data is unknown")
    return block


def _headline(metrics: dict[str, Any], metric: str, label: str) -> str:
    value, ci = metrics.get(metric), metrics.get(f"{metric}_ci95") or [None, None]
    if value is None:
        return f"{label} n/a"
    interval = f" [{ci[0]:.2f}, {ci[1]:.2f}]" if None not in ci else ""
    return f"{label} {value:.2f}{interval}"


def seen_warning(block: dict[str, Any], *, metric: str, label: str, unit: str = "images") -> str | None:
    """The warning for a report whose scored cases include training images; None when none do.

    ``metric`` (``dice``, ``auc``) and its ``_ci95`` are quoted for the unseen cases, under ``label``.
    """
    counts = block.get("counts", {})
    n_train = counts.get("train", 0)
    if not n_train:
        return None
    total = sum(counts.values())
    text = f"{n_train} of {total} {unit} were in this model's training data: their scores are optimistic"
    n_val = counts.get("val", 0)
    if block.get("unseen"):
        if n_val:
            text += f" ({n_val} more were in its validation split, slightly optimistic)"
        return text + (f"; the {counts['unseen']} unseen {unit} alone give "
                       f"{_headline(block['unseen'], metric, label)} (`--unseen-only` scores only them)")
    text += "; none is unseen"
    if block.get("val"):
        text += (f": its {n_val} validation {unit} alone give {_headline(block['val'], metric, label)}, "
                 "slightly optimistic (they chose its checkpoint and threshold)")
    return text + "; evaluate on other data for a fair figure"
    return text


def _rows(split: Path) -> list[dict[str, str]]:
    try:
        with open(split, newline="", encoding="utf-8-sig") as fh:
            return [{(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
                    for row in csv.DictReader(fh)]
    except FileNotFoundError:
        raise ModelError(f"split manifest {split} not found; give a training run's split.csv") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ModelError(f"split manifest {split} cannot be read as CSV ({exc}); give a training run's split.csv") \
            from None


def split_training_images(split: Path, *,
                          sources: Mapping[tuple[str, str], Sequence[Path]] | None = None) -> TrainingImages:
    """The digests of a training run's ``split.csv`` images, by split (rows of other splits are skipped).

    A row's image is identified by its ``source_sha256`` cell when given (a disc
    crop's source photo), else by hashing its file (paths relative to the CSV or absolute).

    Args:
        split: the run's ``split.csv`` (a manifest with ``image`` and ``split`` columns).
        sources: files to hash in place of a row's image, by (``dataset``, ``key``): the photos a crop
            was cut from, when the manifest predates ``source_sha256``.

    Raises:
        ModelError: no ``image``/``split`` column, no train or val row, or image files that cannot be read
            (the message names the first and how many).
    """
    split = Path(split)
    rows = _rows(split)
    if not rows or "image" not in rows[0] or "split" not in rows[0]:
        raise ModelError(f"{split}: expected a training split manifest with 'image' and 'split' columns "
                         "(a run's split.csv)")
    folder = os.path.abspath(split.parent)
    if sources is None and SOURCE_DIGEST_COLUMN not in rows[0]:
        _warn_if_crops(split, rows, folder)
    digests: dict[str, set[str]] = {"train": set(), "val": set()}
    missing: list[str] = []
    for row in rows:
        group = digests.get(row["split"])
        if group is None:
            continue
        files = (sources or {}).get((row.get("dataset", ""), row.get("key", "")))
        if files is None and row.get(SOURCE_DIGEST_COLUMN):
            group.add(row[SOURCE_DIGEST_COLUMN].lower())
            continue
        for path in files or [Path(os.path.normpath(os.path.join(folder, row["image"])))]:
            try:
                group.add(file_sha256(path))
            except ImageReadError:
                missing.append(str(path))
    if missing:
        raise ModelError(f"{split}: {len(missing)} training image(s) cannot be read, first {missing[0]}; "
                         "hash them where the run's data is reachable (its paths are relative to the split.csv)")
    if not digests["train"] and not digests["val"]:
        raise ModelError(f"{split}: no row has split 'train' or 'val'; give a training run's split.csv")
    return TrainingImages(train=sorted(digests["train"]), val=sorted(digests["val"]))


def checkpoint_training_images(checkpoint: Path) -> TrainingImages | None:
    """The training images of a checkpoint's run (``<run>/split.csv``).

    None (unknown, with a logged warning) when the run has no split.csv or its images cannot be read here.
    """
    split = Path(checkpoint).parent.parent / "split.csv"
    if not split.is_file():
        log.warning("%s: no split.csv in its run folder, so its training images are unknown", checkpoint)
        return None
    try:
        return split_training_images(split)
    except ModelError as exc:
        log.warning("training images of %s unknown: %s", checkpoint, exc)
        return None


def _warn_if_crops(split: Path, rows: Sequence[dict[str, str]], folder: str) -> None:
    """Warn when the split's images are a crops cache's (``images/<dataset>/<key>.jpg`` beside ``crops.json``)."""
    for row in rows[:1]:
        image = Path(os.path.normpath(os.path.join(folder, row["image"])))
        if (image.parent.parent.parent / "crops.json").is_file():
            log.warning("%s: its images are disc crops without a %s column, so the card records the crops' "
                        "digests, not those of the photos they were cut from; rewrite the crops with `medscreen "
                        "data crops` (same crops, plus the column) or run scripts/card_training_images.py "
                        "--sources DATA_DIR", split, SOURCE_DIGEST_COLUMN)
