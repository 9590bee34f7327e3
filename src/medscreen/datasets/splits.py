"""Deterministic patient-grouped, label-stratified splits and k-fold.

A *group* is :attr:`Record.group`: the patient id, or the image itself when the
dataset gives none. A group never spans two splits, so near-duplicate views of
one patient cannot leak from training into validation. Within that constraint
the label mix of each split follows the whole set's.

Both come from scikit-learn's :class:`~sklearn.model_selection.StratifiedGroupKFold`
(``shuffle=True, random_state=seed``) rather than hand-written code: it assigns
whole groups to folds greedily so as to keep each fold's label distribution
close to the overall one. A split of fraction ``f`` takes one fold of
``round(1 / f)`` folds (so the realised fraction is ``1 / round(1 / f)`` of the
groups' records, approximately); a test split repeats this on the records left
after taking the test fold.

Stratification labels each group by its majority label (ties: the first label
in sorted record order), so groups whose records disagree in label are fine.
Records without a label count as one class. Records are sorted by a stable key
(group, dataset, key, image) before splitting, so the result depends only on the
records and the seed, never on their input order; the returned lists are in
that sorted order.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from medscreen.datasets.records import Record
from medscreen.errors import SplitError

__all__ = ["split_records", "kfold_records", "assign_splits", "split_summary"]

logger = logging.getLogger(__name__)

_NO_LABEL = "(none)"


def split_records(
    records: Sequence[Record],
    *,
    val_fraction: float = 0.2,
    test_fraction: float = 0.0,
    seed: int = 42,
) -> dict[str, list[Record]]:
    """Split records into train, validation (and test) sets by patient group.

    Args:
        records: the records to split.
        val_fraction: share of the records for validation, in (0, 1).
        test_fraction: share for a held-out test set, in [0, 1); 0 makes none.
        seed: random seed; the same records and seed give the same split.

    Returns:
        ``{"train": [...], "val": [...]}``, plus ``"test"`` when
        ``test_fraction > 0``; each list in sorted record order.

    Raises:
        SplitError: a fraction is out of range, the fractions add up to 1 or
            more, or there are too few groups to make a split of that size.
    """
    _check_fraction("val_fraction", val_fraction, allow_zero=False)
    _check_fraction("test_fraction", test_fraction, allow_zero=True)
    if val_fraction + test_fraction >= 1:
        raise SplitError(
            f"val_fraction + test_fraction must be below 1 to leave records for training, "
            f"got {val_fraction} + {test_fraction}; lower one of them"
        )
    ordered = _sorted_records(records)
    splits: dict[str, list[Record]] = {}
    rest = ordered
    if test_fraction > 0:
        n_test = _n_folds(test_fraction)
        rest, splits["test"] = _take_one_fold(rest, n_test, seed, f"a test split of {test_fraction:g}")
    # the val fold is a share of what is left after the test split
    n_val = _n_folds(val_fraction / (1 - _realised(test_fraction)))
    what = f"a validation split of {val_fraction:g}" + (" from what the test split left" if test_fraction else "")
    splits["train"], splits["val"] = _take_one_fold(rest, n_val, seed, what)
    result = {name: splits[name] for name in ("train", "val", "test") if name in splits}
    logger.info(
        "split %d records (seed %d): %s",
        len(ordered),
        seed,
        ", ".join(f"{name} {len(part)}" for name, part in result.items()),
    )
    return result


def kfold_records(
    records: Sequence[Record], *, k: int = 5, seed: int = 42
) -> list[tuple[list[Record], list[Record]]]:
    """Patient-grouped, label-stratified k-fold cross-validation.

    Every group is in the validation set of exactly one fold and in the
    training set of all the others.

    Args:
        records: the records to split.
        k: number of folds, from 2 to the number of groups.
        seed: random seed; the same records and seed give the same folds.

    Returns:
        ``k`` pairs ``(train, val)``, each list in sorted record order.

    Raises:
        SplitError: ``k`` is below 2 or above the number of groups.
    """
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 2:
        raise SplitError(f"k must be a whole number of folds of at least 2, got {k!r}")
    ordered = _sorted_records(records)
    folds = _stratified_group_folds(ordered, int(k), seed, f"{k}-fold cross-validation")
    result = []
    for i, val_idx in enumerate(folds):
        if len(val_idx) == 0:
            raise SplitError(
                f"fold {i + 1} of {k} came out empty for {len(ordered)} records; lower k"
            )
        in_val = set(val_idx.tolist())
        train = [r for j, r in enumerate(ordered) if j not in in_val]
        result.append((train, [ordered[j] for j in val_idx]))
    logger.info("made %d folds of %d records (seed %d)", k, len(ordered), seed)
    return result


def assign_splits(
    records: Sequence[Record],
    *,
    val_fraction: float = 0.2,
    test_fraction: float = 0.0,
    seed: int = 42,
) -> list[str]:
    """The split name of each record, in input order (for a manifest's ``split`` column).

    Args:
        records: the records to split.
        val_fraction: as in :func:`split_records`.
        test_fraction: as in :func:`split_records`.
        seed: as in :func:`split_records`.

    Returns:
        ``"train"``, ``"val"`` or ``"test"`` for each record of ``records``.

    Raises:
        SplitError: as :func:`split_records`.
    """
    splits = split_records(records, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
    name_of = {id(r): name for name, part in splits.items() for r in part}
    return [name_of[id(r)] for r in records]


def split_summary(splits: Mapping[str, Sequence[Record]]) -> dict[str, Any]:
    """Counts per split, for logs and split files (JSON-able).

    Args:
        splits: split name to records, as :func:`split_records` returns.

    Returns:
        ``{name: {"records": n, "groups": n, "labels": {label: n}}}``, with
        ``"(none)"`` counting records without a label.
    """
    summary: dict[str, Any] = {}
    for name, part in splits.items():
        labels = Counter(r.label or _NO_LABEL for r in part)
        summary[str(name)] = {
            "records": len(part),
            "groups": len({r.group for r in part}),
            "labels": dict(sorted(labels.items())),
        }
    return summary


def _check_fraction(name: str, value: float, *, allow_zero: bool) -> None:
    """Refuse a fraction outside (0, 1), or [0, 1) when ``allow_zero``."""
    low_ok = value >= 0 if allow_zero else value > 0
    if isinstance(value, bool) or not isinstance(value, int | float) or not (low_ok and value < 1):
        interval = "[0, 1)" if allow_zero else "(0, 1)"
        raise SplitError(f"{name} must be in {interval}, got {value!r}; e.g. 0.2 for a fifth of the records")


def _n_folds(fraction: float) -> int:
    """Number of folds whose one fold is closest to ``fraction`` (at least 2)."""
    return max(2, math.floor(1 / fraction + 0.5))


def _realised(fraction: float) -> float:
    """The fraction one fold of :func:`_n_folds` folds actually takes (0 for 0)."""
    return 0.0 if fraction == 0 else 1 / _n_folds(fraction)


def _sort_key(record: Record) -> tuple[str, ...]:
    """A stable, input-order-free key."""
    return (
        record.group,
        record.dataset,
        record.key,
        str(record.image),
        *(str(m) for m in record.masks),
        record.label or "",
    )


def _sorted_records(records: Sequence[Record]) -> list[Record]:
    """The records sorted by :func:`_sort_key`; refuses an empty sequence."""
    ordered = sorted(records, key=_sort_key)
    if not ordered:
        raise SplitError("there are no records to split; check that the dataset or manifest was read")
    return ordered


def _group_labels(ordered: Sequence[Record]) -> dict[str, str]:
    """Each group's majority label (ties: first in order); unlabelled records count as one class."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for r in ordered:
        counts[r.group][r.label or _NO_LABEL] += 1
    return {group: c.most_common(1)[0][0] for group, c in counts.items()}


def _stratified_group_folds(ordered: Sequence[Record], n_folds: int, seed: int, what: str) -> list[np.ndarray]:
    """Indices into ``ordered`` of each fold's records, from StratifiedGroupKFold."""
    group_label = _group_labels(ordered)
    n_groups = len(group_label)
    if n_folds > n_groups:
        raise SplitError(
            f"cannot make {what} from {n_groups} group(s) (patients, or images where there is no patient id): "
            f"it needs at least {n_folds}, as it takes one of {n_folds} folds and a group cannot be divided; "
            "add data, use fewer folds or a larger fraction"
        )
    groups = np.array([r.group for r in ordered], dtype=object)
    y = np.array([group_label[r.group] for r in ordered], dtype=object)
    class_groups = Counter(group_label.values())
    small = sorted(label for label, n in class_groups.items() if n < n_folds)
    if small:
        logger.warning(
            "labels %s have fewer groups than the %d folds of %s; some folds will lack them",
            ", ".join(small),
            n_folds,
            what,
        )
    if all(n < n_folds for n in Counter(y.tolist()).values()):
        # scikit-learn refuses when every class has fewer records than folds: split by group only
        y = np.full(len(ordered), _NO_LABEL, dtype=object)
    splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        try:
            return [test for _, test in splitter.split(np.zeros((len(ordered), 1)), y.astype(str), groups.astype(str))]
        except ValueError as exc:  # pragma: no cover - guarded above; kept for a clear message
            raise SplitError(f"cannot make {what}: {exc}") from exc


def _take_one_fold(
    ordered: list[Record], n_folds: int, seed: int, what: str
) -> tuple[list[Record], list[Record]]:
    """Split ``ordered`` into (the other folds, the first fold) of ``n_folds`` folds."""
    fold = _stratified_group_folds(ordered, n_folds, seed, what)[0]
    taken = set(fold.tolist())
    rest = [r for i, r in enumerate(ordered) if i not in taken]
    part = [ordered[i] for i in sorted(taken)]
    if not rest or not part:
        raise SplitError(f"cannot make {what} from {len(ordered)} records: one side came out empty; add data")
    return rest, part
