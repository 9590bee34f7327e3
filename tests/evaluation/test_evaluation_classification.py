"""Classification metrics against hand-computed cases and scikit-learn; degenerate inputs give NaN."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sklearn.metrics import matthews_corrcoef, roc_auc_score

from medscreen.errors import ConfigError, MedscreenError
from medscreen.evaluation.classification import (
    _rank_auc,
    calibration_bins,
    choose_threshold,
    compute_auc,
    compute_binary_metrics,
    confusion_matrix_binary,
    expected_calibration_error,
    summarise_by_source,
    summarise_classification,
)

# tp=8, fp=2, tn=5, fn=1 as labels and probabilities (0.5 counts as positive).
Y = np.array([1] * 8 + [0] * 2 + [0] * 5 + [1])
P = np.array([0.9, 0.8, 0.8, 0.7, 0.6, 0.6, 0.55, 0.5] + [0.7, 0.5] + [0.1, 0.2, 0.3, 0.4, 0.45] + [0.3])


def _multiclass(n: int = 90, k: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    p = rng.random((n, k))
    p[np.arange(n), y] += 0.4
    return y, p / p.sum(1, keepdims=True)


def test_confusion_matrix_counts_threshold_as_positive():
    assert confusion_matrix_binary(Y, P, 0.5) == {"tp": 8, "fp": 2, "tn": 5, "fn": 1}
    assert confusion_matrix_binary(Y, P, 0.51) == {"tp": 7, "fp": 1, "tn": 6, "fn": 2}


def test_binary_metrics_follow_the_papers_formulas():
    m = compute_binary_metrics(tp=8, fp=2, tn=5, fn=1)
    expected = {
        "accuracy": 13 / 16,
        "sensitivity": 8 / 9,
        "specificity": 5 / 7,
        "precision": 8 / 10,
        "npv": 5 / 6,
        "fpr": 2 / 7,
        "fdr": 2 / 10,
        "fnr": 1 / 9,
        "mcc": (8 * 5 - 2 * 1) / math.sqrt(10 * 9 * 7 * 6),  # 38 / √3780 ≈ 0.6181
        "f1": 16 / 19,
    }
    assert m == pytest.approx(expected)
    assert m["mcc"] == pytest.approx(matthews_corrcoef(Y, P >= 0.5))


def test_binary_metrics_are_nan_where_undefined():
    assert all(math.isnan(v) for v in compute_binary_metrics(0, 0, 0, 0).values())
    m = compute_binary_metrics(tp=0, fp=0, tn=5, fn=0)  # no positives at all
    assert m["accuracy"] == 1.0 and m["specificity"] == 1.0
    assert math.isnan(m["sensitivity"]) and math.isnan(m["precision"]) and math.isnan(m["mcc"])


def test_auc_hand_cases_and_one_class():
    assert compute_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert compute_auc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)
    assert math.isnan(compute_auc([1, 1, 1], [0.2, 0.5, 0.9]))
    assert math.isnan(compute_auc([2, 2], np.full((2, 3), 1 / 3)))


def test_multiclass_auc_is_sklearns_macro_one_vs_rest():
    y, p = _multiclass()
    assert compute_auc(y, p) == pytest.approx(roc_auc_score(y, p, multi_class="ovr", average="macro"))
    names = np.array(["normal", "benign", "malignant"])
    assert compute_auc(names[y], p, labels=names) == pytest.approx(compute_auc(y, p))
    with pytest.raises(MedscreenError, match="not in the columns"):
        compute_auc(names[y], p)


def test_rank_auc_equals_sklearn_with_ties():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    p = np.round(rng.random(200) * 0.6 + 0.4 * y, 1)  # many ties
    assert _rank_auc(y == 1, p) == pytest.approx(roc_auc_score(y, p))


def test_ece_hand_cases():
    # bins (0.1, 0.2]: conf 0.2, 1 of 2 positive; (0.8, 0.9]: conf 0.9, 2 of 2 positive.
    assert expected_calibration_error([0, 1, 1, 1], [0.2, 0.2, 0.9, 0.9]) == pytest.approx(0.5 * 0.3 + 0.5 * 0.1)
    # multiclass: confidence 0.6 correct, 0.7 wrong.
    p = np.array([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1]])
    assert expected_calibration_error([0, 2], p) == pytest.approx(0.5 * 0.4 + 0.5 * 0.7)
    assert expected_calibration_error([0, 1], [0.0, 1.0]) == 0.0
    bins = calibration_bins([0, 1], [0.3, 0.3], n_bins=10)
    assert bins["count"][2] == 2  # 0.3 belongs to (0.2, 0.3]
    assert math.isnan(expected_calibration_error([], []))


def test_choose_threshold_reaches_the_sensitivity_with_the_highest_threshold():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 300)
    p = np.clip(rng.normal(0.35 + 0.3 * y, 0.15), 0, 1)
    for target in (0.8, 0.9, 0.95, 1.0):
        t = choose_threshold(y, p, min_sensitivity=target)
        assert (p[y == 1] >= t).mean() >= target
        higher = p[p > t]
        if higher.size:  # the next candidate up falls short
            assert (p[y == 1] >= higher.min()).mean() < target
    assert choose_threshold(Y, P, 0.9) == pytest.approx(0.3)  # 9/9 positives need 0.3; 0.5 gives 8/9


def test_choose_threshold_degenerate_and_bad_target():
    assert math.isnan(choose_threshold([1, 1], [0.2, 0.8]))
    with pytest.raises(ConfigError):
        choose_threshold(Y, P, 0.0)


def test_binary_summary_is_complete_and_json_able():
    r = summarise_classification(Y, P, threshold=0.5, n_boot=200)
    assert r["n"] == 16 and r["n_positive"] == 9 and r["threshold"] == 0.5
    assert r["confusion_matrix"] == [[5, 2], [1, 8]]
    assert r["sensitivity"] == pytest.approx(8 / 9) and r["mcc"] == pytest.approx(38 / math.sqrt(3780))
    assert r["auc"] == pytest.approx(roc_auc_score(Y, P))
    lo, hi = r["auc_ci95"]
    assert 0 <= lo <= r["auc"] <= hi <= 1
    assert 0 <= r["ece"] <= 1
    json.dumps(r, allow_nan=False)


def test_binary_summary_with_one_class_gives_nulls_not_errors():
    r = summarise_classification([0, 0, 0], [0.1, 0.6, 0.2], n_boot=50)
    assert r["auc"] is None and r["sensitivity"] is None and r["auc_ci95"] == [None, None]
    assert r["specificity"] == pytest.approx(2 / 3)
    json.dumps(r, allow_nan=False)
    with pytest.raises(MedscreenError, match="no cases"):
        summarise_classification([], [])


def test_multiclass_summary():
    y, p = _multiclass()
    names = ["normal", "benign", "malignant"]
    r = summarise_classification(np.array(names)[y], p, labels=names, n_boot=100)
    pred = p.argmax(1)
    assert r["task"] == "multiclass" and r["labels"] == names and r["class_counts"] == [30, 30, 30]
    assert r["auc"] == pytest.approx(roc_auc_score(y, p, multi_class="ovr"))
    assert r["accuracy"] == pytest.approx((pred == y).mean())
    cm = np.array(r["confusion_matrix"])
    assert cm.shape == (3, 3) and cm.sum() == 90 and np.trace(cm) == (pred == y).sum()
    assert r["per_class"]["benign"]["sensitivity"] == pytest.approx(((pred == 1) & (y == 1)).sum() / 30)
    assert r["per_class"]["benign"]["precision"] == pytest.approx(((pred == 1) & (y == 1)).sum() / (pred == 1).sum())
    assert r["ece"] == pytest.approx(expected_calibration_error(y, p))
    json.dumps(r, allow_nan=False)


def test_multiclass_one_vs_rest_metrics_match_a_hand_confusion_matrix():
    # truth rows, predicted columns: normal, benign, malignant
    y = np.array([0] * 4 + [1] * 5 + [2] * 3)
    pred = np.array([0, 0, 0, 1, 1, 1, 1, 2, 0, 2, 2, 1])
    p = np.full((12, 3), 0.1)
    p[np.arange(12), pred] = 0.8
    r = summarise_classification(y, p, labels=[0, 1, 2], n_boot=10)
    assert r["confusion_matrix"] == [[3, 1, 0], [1, 3, 1], [0, 1, 2]]
    # malignant vs rest: TP 2, FN 1, FP 1, TN 8
    m = r["per_class"]["2"]
    assert m["sensitivity"] == pytest.approx(2 / 3) and m["specificity"] == pytest.approx(8 / 9)
    assert m["precision"] == pytest.approx(2 / 3) and m["npv"] == pytest.approx(8 / 9)
    assert m["fpr"] == pytest.approx(1 / 9) and m["fnr"] == pytest.approx(1 / 3) and m["f1"] == pytest.approx(2 / 3)
    assert m["mcc"] == pytest.approx((2 * 8 - 1 * 1) / np.sqrt(3 * 3 * 9 * 9))
    sens = [3 / 4, 3 / 5, 2 / 3]
    assert r["sensitivity"] == pytest.approx(np.mean(sens))


def test_multiclass_summary_with_a_missing_class():
    y, p = _multiclass(n=30)
    keep = y != 2
    r = summarise_classification(y[keep], p[keep], n_boot=50)
    assert r["per_class"]["2"]["auc"] is None and r["per_class"]["2"]["sensitivity"] is None
    assert r["auc"] is not None and r["class_counts"] == [10, 10, 0]
    json.dumps(r, allow_nan=False)


def test_bad_shapes_are_refused_with_the_shapes():
    with pytest.raises(MedscreenError, match=r"\(3,\) and \(2,\)"):
        compute_auc([0, 1, 1], [0.2, 0.4])
    with pytest.raises(MedscreenError, match="0/1"):
        compute_auc([0, 2], [0.2, 0.4])


def test_summarise_by_source_binary_adds_per_source_reports():
    sources = ["a"] * 8 + ["b"] * 8  # a: the 8 true positives only; b: 2 fp, 5 tn, 1 fn
    r = summarise_by_source(Y, P, ("normal", "glaucoma"), sources, threshold=0.5, n_boot=50)
    whole = summarise_classification(Y, P, threshold=0.5, n_boot=50)
    assert r["labels"] == ["normal", "glaucoma"] and r["n"] == 16
    assert r["auc"] == pytest.approx(whole["auc"]) and r["confusion_matrix"] == whole["confusion_matrix"]
    assert set(r["by_source"]) == {"a", "b"}
    a, b = r["by_source"]["a"], r["by_source"]["b"]
    assert a["n"] == 8 and a["auc"] is None and a["sensitivity"] == 1.0 and a["specificity"] is None
    assert b["n"] == 8 and b["sensitivity"] == 0.0 and b["specificity"] == pytest.approx(5 / 7)
    assert b["auc"] == pytest.approx(2.5 / 7)  # the positive (0.3) beats 0.1 and 0.2 and ties 0.3
    assert b["labels"] == ["normal", "glaucoma"]
    json.dumps(r, allow_nan=False)


def test_summarise_by_source_one_source_and_multiclass_names():
    y, p = _multiclass(n=30)
    r = summarise_by_source(y, p, ("normal", "benign", "malignant"), ["busi"] * 30, n_boot=50)
    assert "by_source" not in r and r["labels"] == ["normal", "benign", "malignant"]
    assert set(r["per_class"]) == {"normal", "benign", "malignant"}
    assert r["per_class"]["malignant"]["sensitivity"] == pytest.approx(((p.argmax(1) == 2) & (y == 2)).sum() / 10)
    json.dumps(r, allow_nan=False)


def test_threshold_band_brackets_the_threshold_and_narrows_with_more_data():
    from medscreen.evaluation.classification import choose_threshold, threshold_band

    rng = np.random.default_rng(3)

    def sample(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.random(n) < 0.4
        return y.astype(int), np.clip(rng.normal(0.35 + 0.3 * y, 0.15), 0, 1)

    y, p = sample(200)
    low, high = threshold_band(y, p, 0.9, n_boot=300)
    assert low < choose_threshold(y, p, 0.9) < high
    y4, p4 = sample(3200)
    low4, high4 = threshold_band(y4, p4, 0.9, n_boot=300)
    assert high4 - low4 < (high - low) / 2
    assert all(np.isnan(threshold_band([1, 1, 1], [0.2, 0.5, 0.9], n_boot=10)))


def test_auc_with_ci_gives_the_auc_its_interval_and_none_for_one_class():
    from medscreen.evaluation.classification import auc_with_ci

    truth = np.array([0, 0, 0, 1, 1, 1, 0, 1])
    score = np.array([0.1, 0.2, 0.6, 0.4, 0.8, 0.9, 0.3, 0.7])
    got = auc_with_ci(truth, score, n_boot=300)
    assert got["n"] == 8 and got["auc"] == pytest.approx(15 / 16)
    assert got["auc_ci95"][0] <= got["auc"] <= got["auc_ci95"][1] <= 1.0
    assert auc_with_ci(np.ones(4), score[:4]) == {"n": 4, "auc": None, "auc_ci95": None}
