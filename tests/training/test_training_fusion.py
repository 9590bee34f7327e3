"""Fitting a glaucoma network's logit fused with the disc's pallor (``training/fusion.py``)."""

from __future__ import annotations

import numpy as np
import pytest

from medscreen.errors import ConfigError
from medscreen.training.fusion import fit_pallor_fusion


def _cases(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, n)
    logits = 3.0 * truth + rng.normal(0, 2.0, n) + 5.0  # a network on another scale and offset
    pallor = 0.4 * truth + rng.normal(0, 0.5, n)
    return logits, pallor, truth


def test_the_fused_logit_is_the_standardised_sum_calibrated():
    logits, pallor, truth = _cases()
    a, b, c = fit_pallor_fusion(logits, pallor, truth, weight=0.5)
    # the pallor's share of the standardised sum is the weight asked for
    assert (b * pallor.std()) / (a * logits.std()) == pytest.approx(0.5)
    fused = a * logits + b * pallor + c
    prob = 1 / (1 + np.exp(-fused))
    assert prob.mean() == pytest.approx(truth.mean(), abs=1e-3)  # Platt: calibrated in the large
    a0, b0, _ = fit_pallor_fusion(logits, pallor, truth, weight=0.0)
    assert b0 == 0.0 and a0 > 0


def test_what_cannot_be_fitted_is_refused():
    logits, pallor, truth = _cases()
    with pytest.raises(ConfigError, match="one logit, pallor and label"):
        fit_pallor_fusion(logits, pallor[:-1], truth, 0.5)
    with pytest.raises(ConfigError, match="both classes"):
        fit_pallor_fusion(logits, pallor, np.ones_like(truth), 0.5)
    with pytest.raises(ConfigError, match="0 or more"):
        fit_pallor_fusion(logits, pallor, truth, -1.0)
    with pytest.raises(ConfigError, match="constant"):
        fit_pallor_fusion(np.zeros_like(logits), pallor, truth, 0.5)
    with pytest.raises(ConfigError, match="backwards"):
        fit_pallor_fusion(-logits, -pallor, truth, 0.5)
