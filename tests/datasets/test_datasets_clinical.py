"""Clinical feature vectors, and GRAPE relabelling / image choice on records."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from medscreen.datasets.clinical import CLINICAL_FEATURES, clinical_vector
from medscreen.datasets.grape import relabel_grape, with_grape_images
from medscreen.datasets.records import Record
from medscreen.errors import ConfigError


def _value(vec: np.ndarray, name: str) -> float:
    return float(vec[CLINICAL_FEATURES.index(name)])


def test_feature_order_and_length():
    assert len(CLINICAL_FEATURES) == 13 and len(set(CLINICAL_FEATURES)) == 13
    assert CLINICAL_FEATURES[:3] == ("age", "female", "iop")
    vec = clinical_vector({})
    assert vec.shape == (13,) and vec.dtype == np.float32 and np.isnan(vec).all()


def test_grape_raw_fields_are_derived():
    vf = [-1, 30, 20, 5, 0, 25, None, "x", float("nan")]  # blind spot, missing and junk left out
    vec = clinical_vector({"age": 63, "gender": "Female", "iop": "17.5", "cct": 540, "category": "ACG",
                           "rnfl_mean": 88.0, "rnfl_t": None, "vf": vf})
    assert _value(vec, "age") == 63 and _value(vec, "iop") == 17.5 and _value(vec, "cct") == 540
    assert _value(vec, "female") == 1.0 and _value(vec, "angle_closure") == 1.0
    assert _value(vec, "rnfl_mean") == 88.0 and math.isnan(_value(vec, "rnfl_t"))
    points = np.array([30, 20, 5, 0, 25], float)
    assert _value(vec, "vf_mean") == pytest.approx(points.mean())
    assert _value(vec, "vf_sd") == pytest.approx(points.std(), rel=1e-6)
    assert _value(vec, "vf_low_share") == pytest.approx(2 / 5)
    male = clinical_vector({"gender": " m ", "category": "oag"})
    assert _value(male, "female") == 0.0 and _value(male, "angle_closure") == 0.0
    other = clinical_vector({"gender": "?", "category": "NTG", "vf": []})
    assert math.isnan(_value(other, "female")) and math.isnan(_value(other, "angle_closure"))
    assert math.isnan(_value(other, "vf_mean"))


def test_direct_values_win_over_derived_and_bad_values_are_missing():
    vec = clinical_vector({"gender": "F", "female": "0", "vf": [10, 20], "vf_mean": "7",
                           "age": True, "iop": "high", "cct": float("inf"), "rnfl_s": ""})
    assert _value(vec, "female") == 0.0 and _value(vec, "vf_mean") == 7.0
    assert _value(vec, "vf_sd") == pytest.approx(5.0)  # still derived: not given directly
    for name in ("age", "iop", "cct", "rnfl_s"):  # bool, text, inf, blank → NaN
        assert math.isnan(_value(vec, name)), name


def _grape(key: str, plr2, plr3, md, roi: str | None = "roi.jpg", cfp: str | None = None) -> Record:
    fields = {"plr2": plr2, "plr3": plr3, "md": md, "visit": 1,
              "roi_path": roi and f"/g/ROI images/{key}.jpg", "cfp_path": cfp and f"/g/CFPs/{key}.jpg"}
    return Record(Path(f"/g/ROI images/{key}.jpg"), label="progressing", patient_id=key.split("_")[0],
                  dataset="grape", key=key, fields=fields)


def test_relabel_grape_by_criterion():
    records = [_grape("1_OD_1", 1, 0, 0), _grape("2_OD_1", 0, 1, 0), _grape("3_OD_1", 0, 0, 0),
               _grape("4_OD_1", None, 0, 0),
               Record(Path("/x/a.png"), label="normal", dataset="acrima", key="a")]
    by = {c: [r.label for r in relabel_grape(records, c)] for c in ("PLR2", "plr3", "MD", "any")}
    assert by["PLR2"] == ["progressing", "stable", "stable", None, "normal"]
    assert by["plr3"] == ["stable", "progressing", "stable", "stable", "normal"]
    assert by["MD"] == ["stable", "stable", "stable", "stable", "normal"]
    assert by["any"] == ["progressing", "progressing", "stable", None, "normal"]
    out = relabel_grape(records, "PLR2")
    assert out[-1] is records[-1] and records[1].label == "progressing"  # others untouched, input not mutated
    assert [r.key for r in out] == [r.key for r in records]


def test_relabel_grape_refuses_an_unknown_criterion_with_a_hint():
    with pytest.raises(ConfigError, match="PLR2"):
        relabel_grape([_grape("1_OD_1", 1, 0, 0)], "PLR22")


def test_with_grape_images_points_at_roi_or_cfp_and_drops_absent_files():
    other = Record(Path("/x/a.png"), label="normal", dataset="acrima", key="a")
    records = [_grape("1_OD_1", 0, 0, 0, cfp="yes"), _grape("2_OD_1", 0, 0, 0, cfp=None), other]
    roi = with_grape_images(records, "roi")
    assert [str(r.image) for r in roi] == ["/g/ROI images/1_OD_1.jpg", "/g/ROI images/2_OD_1.jpg", "/x/a.png"]
    cfp = with_grape_images(records, "CFP")
    assert [str(r.image) for r in cfp] == ["/g/CFPs/1_OD_1.jpg", "/x/a.png"]
    assert cfp[0].label == "progressing" and cfp[0].key == "1_OD_1"
    with pytest.raises(ConfigError, match="roi"):
        with_grape_images(records, "photos")  # type: ignore[arg-type]
