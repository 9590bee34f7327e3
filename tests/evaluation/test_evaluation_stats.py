"""Small statistics shared by the evaluation reports, benchmarks and scripts."""

from __future__ import annotations

import math

import numpy as np
import pytest

from medscreen.evaluation.classification import choose_threshold, operating_threshold
from medscreen.evaluation.stats import proportion_ci


def test_wilson_interval_of_a_proportion():
    assert proportion_ci(136, 143) == pytest.approx((0.9024, 0.9761), abs=1e-4)  # HYGD disc location, 2026-11
    low, high = proportion_ci(0, 10)
    assert low == 0.0 and 0.0 < high < 0.35
    assert all(math.isnan(v) for v in proportion_ci(0, 0))


def test_operating_threshold_sits_between_validation_scores():
    truth = np.array([0, 0, 1, 0, 1, 1])
    prob = np.array([0.1, 0.2, 0.3, 0.4, 0.6, 0.9])
    chosen = choose_threshold(truth, prob, 0.9)  # 0.3: the lowest positive's score
    assert chosen == pytest.approx(0.3)
    assert operating_threshold(truth, prob, 0.9) == pytest.approx(0.25)  # halfway down to 0.2
    assert operating_threshold(np.array([1, 1]), np.array([0.2, 0.7]), 0.9) == 0.5  # undefined: one class
