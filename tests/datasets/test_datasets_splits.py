"""Tests of medscreen.datasets.splits: grouping, stratification, determinism."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from medscreen.datasets.records import Record
from medscreen.datasets.splits import assign_splits, kfold_records, split_records, split_summary
from medscreen.errors import SplitError


def _records(n_groups: int, *, seed: int = 0, labels: tuple[str | None, ...] = ("a", "b"), max_per_group: int = 4,
             with_patients: bool = True) -> list[Record]:
    """Random group structure: each group 1..max_per_group images, one label per group (mostly)."""
    rng = random.Random(seed)
    records = []
    for g in range(n_groups):
        label = labels[g % len(labels)]
        for i in range(rng.randint(1, max_per_group)):
            records.append(
                Record(
                    image=Path(f"/data/g{g:03d}_{i}.png"),
                    label=label,
                    patient_id=f"P{g:03d}" if with_patients else None,
                    dataset="toy",
                    key=f"g{g:03d}_{i}",
                )
            )
    return records


def _groups(records: list[Record]) -> set[str]:
    return {r.group for r in records}


@pytest.mark.parametrize("seed", [0, 1, 7, 42, 1234])
@pytest.mark.parametrize("structure", [0, 1, 2])
def test_no_group_crosses_splits(seed: int, structure: int) -> None:
    records = _records(30 + 7 * structure, seed=structure, labels=("a", "b", "c", None)[: 2 + structure],
                       max_per_group=1 + 3 * structure)
    splits = split_records(records, val_fraction=0.2, test_fraction=0.2, seed=seed)
    assert set(splits) == {"train", "val", "test"}
    train, val, test = (_groups(splits[k]) for k in ("train", "val", "test"))
    assert not (train & val) and not (train & test) and not (val & test)
    assert sorted(map(id, sum(splits.values(), []))) == sorted(map(id, records))
    assert all(splits.values())


def test_no_test_key_without_test_fraction() -> None:
    splits = split_records(_records(20), val_fraction=0.25)
    assert set(splits) == {"train", "val"}


def test_groups_with_mixed_labels_and_without_patient_ids() -> None:
    records = _records(20, with_patients=False) + [
        Record(Path("/data/x1.png"), label="a", patient_id="X"),
        Record(Path("/data/x2.png"), label="b", patient_id="X"),
        Record(Path("/data/x3.png"), label="b", patient_id="X"),
    ]
    splits = split_records(records, seed=3)
    x_in = [name for name, part in splits.items() if any(r.patient_id == "X" for r in part)]
    assert len(x_in) == 1
    assert not (_groups(splits["train"]) & _groups(splits["val"]))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_stratification_roughly_holds(seed: int) -> None:
    records = _records(60, seed=seed, labels=("normal", "benign", "malignant"), max_per_group=2)
    splits = split_records(records, val_fraction=0.2, seed=seed)
    summary = split_summary(splits)
    for label in ("normal", "benign", "malignant"):
        assert summary["val"]["labels"].get(label, 0) > 0
        share_all = sum(r.label == label for r in records) / len(records)
        share_val = summary["val"]["labels"][label] / summary["val"]["records"]
        assert abs(share_all - share_val) < 0.15
    assert 0.1 < summary["val"]["records"] / len(records) < 0.3


def test_deterministic_regardless_of_input_order() -> None:
    records = _records(40, seed=5)
    first = split_records(records, val_fraction=0.2, test_fraction=0.1, seed=9)
    for shuffle_seed in range(5):
        shuffled = records[:]
        random.Random(shuffle_seed).shuffle(shuffled)
        assert split_records(shuffled, val_fraction=0.2, test_fraction=0.1, seed=9) == first
    assert kfold_records(records[::-1], k=4, seed=9) == kfold_records(records, k=4, seed=9)


def test_seed_changes_split() -> None:
    records = _records(40, seed=5)
    vals = {tuple(r.key for r in split_records(records, seed=s)["val"]) for s in range(5)}
    assert len(vals) > 1


def test_assign_splits_in_input_order() -> None:
    records = _records(25, seed=2)
    random.Random(0).shuffle(records)
    names = assign_splits(records, val_fraction=0.2, test_fraction=0.2, seed=4)
    splits = split_records(records, val_fraction=0.2, test_fraction=0.2, seed=4)
    assert len(names) == len(records)
    for record, name in zip(records, names, strict=True):
        assert any(r is record for r in splits[name])


@pytest.mark.parametrize("seed", [0, 11, 42])
@pytest.mark.parametrize("k", [2, 5])
def test_kfold_each_group_in_one_val_fold(seed: int, k: int) -> None:
    records = _records(23, seed=seed, labels=("a", "b", None))
    folds = kfold_records(records, k=k, seed=seed)
    assert len(folds) == k
    seen: list[str] = []
    for train, val in folds:
        assert val and train
        assert not (_groups(train) & _groups(val))
        assert len(train) + len(val) == len(records)
        seen.extend(_groups(val))
    assert sorted(seen) == sorted(_groups(records))


def test_summary_is_json() -> None:
    splits = split_records(_records(10, labels=("a", None)), val_fraction=0.5)
    summary = split_summary(splits)
    json.dumps(summary)
    assert summary["train"]["records"] + summary["val"]["records"] == sum(len(p) for p in splits.values())
    assert set(summary["val"]["labels"]) <= {"a", "(none)"}
    assert summary["val"]["groups"] == len(_groups(splits["val"]))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"val_fraction": 0.0}, "val_fraction"),
        ({"val_fraction": 1.0}, "val_fraction"),
        ({"val_fraction": -0.1}, "val_fraction"),
        ({"test_fraction": 1.2}, "test_fraction"),
        ({"val_fraction": 0.5, "test_fraction": 0.5}, "below 1"),
    ],
)
def test_bad_fractions(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(SplitError, match=match):
        split_records(_records(20), **kwargs)


def test_too_few_groups() -> None:
    records = _records(3, max_per_group=5)
    with pytest.raises(SplitError, match="3 group"):
        split_records(records, val_fraction=0.2)
    with pytest.raises(SplitError, match="3 group"):
        kfold_records(records, k=4)
    with pytest.raises(SplitError, match="at least 2"):
        kfold_records(records, k=1)
    with pytest.raises(SplitError, match="no records"):
        split_records([])
    assert len(kfold_records(records, k=3)) == 3


def test_rare_label_still_splits() -> None:
    records = _records(12, labels=("a",)) + [Record(Path("/data/rare.png"), label="b", patient_id="R")]
    splits = split_records(records, val_fraction=0.25, seed=1)
    assert not (_groups(splits["train"]) & _groups(splits["val"]))
    # every class smaller than the number of folds: falls back to grouping only
    tiny = [Record(Path(f"/d/{i}.png"), label=str(i)) for i in range(4)]
    assert sum(len(p) for p in split_records(tiny, val_fraction=0.25).values()) == 4
