from __future__ import annotations

import math

import numpy as np
import pytest

from medscreen.errors import MedscreenError
from medscreen.evaluation.segmentation import (
    compute_counts,
    compute_dice,
    compute_hd95,
    compute_iou,
    nan_to_none,
    summarise_segmentation,
)
from medscreen.evaluation.stats import bootstrap_ci


def _masks():
    truth = np.zeros((10, 10), bool)
    truth[0:4, 0:5] = True  # 20 px
    pred = np.zeros((10, 10), bool)
    pred[2:6, 0:5] = True  # 20 px, 10 overlap
    return pred, truth


def test_dice_and_iou_match_hand_computation():
    pred, truth = _masks()
    assert compute_dice(pred, truth) == pytest.approx(2 * 10 / 40)
    assert compute_iou(pred, truth) == pytest.approx(10 / 30)


def test_empty_truth_rules():
    empty = np.zeros((5, 5), bool)
    one = empty.copy()
    one[2, 2] = True
    assert compute_dice(empty, empty) == 1.0 and compute_iou(empty, empty) == 1.0
    assert compute_dice(one, empty) == 0.0 and compute_iou(empty, one) == 0.0


def test_summary_pixel_accumulated_and_empty_truth_share():
    pred, truth = _masks()
    empty = np.zeros((10, 10), bool)
    painted = empty.copy()
    painted[0, 0] = True
    counts = [compute_counts(pred, truth), compute_counts(empty, empty), compute_counts(painted, empty)]
    report = summarise_segmentation(counts, n_boot=200)
    assert report["n"] == 3
    assert report["dice"] == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    assert report["iou"] == pytest.approx((1 / 3 + 1.0 + 0.0) / 3)
    # pixels: tp=10, fp=10+1, fn=10
    assert report["pixel_dice"] == pytest.approx(20 / 41)
    assert report["precision"] == pytest.approx(10 / 21)
    assert report["recall"] == pytest.approx(10 / 20)
    assert report["empty_truth"] == {"n": 2, "false_positive_rate": 0.5}
    lo, hi = report["dice_ci95"]
    assert 0.0 <= lo <= report["dice"] <= hi <= 1.0


def test_hd95_is_zero_for_identical_and_nan_for_empty():
    _, truth = _masks()
    assert compute_hd95(truth, truth) == pytest.approx(0.0)
    assert math.isnan(compute_hd95(np.zeros_like(truth), truth))
    shifted = np.roll(truth, 3, axis=0)
    assert compute_hd95(shifted, truth) == pytest.approx(3.0)


def test_shape_mismatch_and_no_images_are_clear_errors():
    with pytest.raises(MedscreenError, match="same shape"):
        compute_counts(np.zeros((3, 3), bool), np.zeros((4, 4), bool))
    with pytest.raises(MedscreenError, match="no images"):
        summarise_segmentation([])


def test_bootstrap_ci_brackets_the_mean_and_handles_empty():
    values = np.arange(100, dtype=float)
    lo, hi = bootstrap_ci(100, lambda i: float(values[i].mean()), n_boot=500)
    assert lo < 49.5 < hi
    assert all(math.isnan(v) for v in bootstrap_ci(0, lambda i: 0.0))


def test_nan_to_none_is_recursive():
    assert nan_to_none({"a": [float("nan"), 1.0], "b": {"c": float("nan")}}) == {"a": [None, 1.0], "b": {"c": None}}
