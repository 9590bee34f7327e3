"""Bootstrap confidence intervals (percentile method), shared by every report."""

from __future__ import annotations

from collections.abc import Callable

import math

import numpy as np
from scipy.stats import binomtest

__all__ = ["bootstrap_ci", "nan_to_none", "proportion_ci"]


def bootstrap_ci(
    n: int,
    statistic: Callable[[np.ndarray], float],
    *,
    n_boot: int = 2000,
    alpha: float = 0.05,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap CI of ``statistic(indices)`` over ``n`` resampled cases.

    ``statistic`` receives an index array (with repeats) into the cases, so
    ratio statistics (pixel-accumulated Dice, AUC) resample whole cases.

    Returns:
        ``(low, high)``; ``(nan, nan)`` when ``n == 0``.
    """
    if n == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    values = np.array([statistic(rng.integers(0, n, n)) for _ in range(n_boot)], dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return (float("nan"), float("nan"))
    return (float(np.quantile(values, alpha / 2)), float(np.quantile(values, 1 - alpha / 2)))


def nan_to_none(value: object) -> object:
    """JSON has no NaN: replace NaN floats (also nested) with ``None``."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [nan_to_none(v) for v in value]
    return value


def proportion_ci(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of the proportion ``k / n`` (SciPy's ``binomtest``); NaNs when ``n`` is 0."""
    if n == 0:
        return (float("nan"), float("nan"))
    ci = binomtest(k, n).proportion_ci(confidence_level=level, method="wilson")
    return (float(ci.low), float(ci.high))
