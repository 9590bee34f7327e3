"""benchmarks/progression_compare.py: subject-grouped folds and AUC on a small synthetic table."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "progression_compare.py"


@pytest.fixture(scope="module")
def script() -> Iterator[ModuleType]:
    spec = importlib.util.spec_from_file_location("progression_compare_under_test", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def _synthetic(n_subjects: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """1–2 eyes per subject; ~30 % progressing; column 0 separates the classes perfectly, column 1 is noise."""
    rng = np.random.default_rng(seed)
    groups, y = [], []
    for s in range(n_subjects):
        for _ in range(int(rng.integers(1, 3))):
            groups.append(f"s{s}")
            y.append(int(rng.random() < 0.3))
    y_arr = np.array(y)
    perfect = np.where(y_arr == 1, 5.0, 0.0) + rng.random(len(y_arr))  # positives in [5, 6), negatives in [0, 1)
    x = np.column_stack([perfect, rng.normal(size=len(y_arr))])
    return x, y_arr, np.array(groups)


def test_no_subject_in_train_and_test(script: ModuleType) -> None:
    _, y, groups = _synthetic()
    for seed in range(3):
        folds = script.outer_folds(y, groups, 5, seed)
        assert len(folds) == 5
        tested = np.concatenate([te for _, te in folds])
        assert sorted(tested.tolist()) == list(range(len(y)))  # every eye tested exactly once
        for train, test in folds:
            assert not set(groups[train]) & set(groups[test])
            assert len(np.intersect1d(train, test)) == 0


def test_perfect_feature_gets_auc_one(script: ModuleType) -> None:
    x, y, groups = _synthetic()
    folds = script.outer_folds(y, groups, 5, 0)
    oof, infos = script.out_of_fold(x[:, :1], y, groups, script.fit_single, folds, 0)
    assert script.auc(y, oof) == 1.0
    assert all(i["sign"] == 1.0 for i in infos)
    flipped, _ = script.out_of_fold(-x[:, :1], y, groups, script.fit_single, folds, 0)  # orientation learnt in-fold
    assert script.auc(y, flipped) == 1.0


def test_auc_matches_sklearn_with_ties(script: ModuleType) -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 60)
    score = rng.integers(0, 5, 60).astype(float)
    assert script.auc(y, score) == pytest.approx(roc_auc_score(y, score))
    assert np.isnan(script.auc(np.zeros(5), np.arange(5.0)))


def test_bootstrap_resamples_whole_subjects(script: ModuleType) -> None:
    _, y, groups = _synthetic(n_subjects=15)
    members = {g: int((groups == g).sum()) for g in set(groups)}

    def whole_subjects(idx: np.ndarray) -> float:
        drawn, counts = np.unique(groups[idx], return_counts=True)
        assert all(c % members[g] == 0 for g, c in zip(drawn, counts))  # an eye never comes without its fellow
        return float(y[idx].mean())

    low, high = script.subject_bootstrap_ci(whole_subjects, groups, n_boot=50)
    assert 0.0 <= low <= high <= 1.0
