"""Baseline clinical features for the progression model, from GRAPE's sheet or a manifest.

A manifest gives them as columns of these names (blank = missing); GRAPE's
reader already puts them in each record's fields. The visual field enters as
three summaries of its 61 points (the blind spot, -1, left out): mean
sensitivity, its standard deviation, and the share of points under 10 dB —
61 raw points would swamp ~200 training eyes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from medscreen.datasets.records import Record

__all__ = ["CLINICAL_FEATURES", "clinical_matrix", "clinical_vector"]

#: feature names, in the order of the model's clinical input
CLINICAL_FEATURES: tuple[str, ...] = (
    "age", "female", "iop", "cct", "angle_closure",
    "rnfl_mean", "rnfl_s", "rnfl_n", "rnfl_i", "rnfl_t",
    "vf_mean", "vf_sd", "vf_low_share",
)


def _number(value: Any) -> float:
    if value is None or isinstance(value, bool):
        return math.nan
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number if math.isfinite(number) else math.nan


def _derived(fields: Mapping[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    gender = str(fields.get("gender", "")).strip().upper()
    out["female"] = 1.0 if gender.startswith("F") else 0.0 if gender.startswith("M") else math.nan
    category = str(fields.get("category", "")).strip().upper()
    out["angle_closure"] = 1.0 if category == "ACG" else 0.0 if category == "OAG" else math.nan
    vf = fields.get("vf")
    if isinstance(vf, list | tuple) and vf:
        points = np.array([_number(v) for v in vf], dtype=float)
        points = points[np.isfinite(points) & (points >= 0)]
        if points.size:
            out.update(vf_mean=float(points.mean()), vf_sd=float(points.std()),
                       vf_low_share=float((points < 10).mean()))
    return out


def clinical_vector(fields: Mapping[str, Any]) -> np.ndarray:
    """The :data:`CLINICAL_FEATURES` of one eye as float32 (NaN where missing).

    A value given directly under a feature's name wins over one derived from
    GRAPE's raw fields (``gender``, ``category``, ``vf``).
    """
    derived = _derived(fields)
    values = [_number(fields[name]) if name in fields else derived.get(name, math.nan) for name in CLINICAL_FEATURES]
    return np.asarray(values, dtype=np.float32)


def clinical_matrix(records: Sequence[Record]) -> np.ndarray:
    """``N×F`` clinical features of ``records`` (NaN where missing)."""
    return np.stack([clinical_vector(r.fields) for r in records]) if records else np.zeros((0, len(CLINICAL_FEATURES)))
