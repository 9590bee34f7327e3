"""``scripts/lesion_confidence_rule.py``: the per-image Dice of a kept-component rule and the grid choice."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "lesion_confidence_rule.py"


@pytest.fixture(scope="module")
def rule():
    spec = importlib.util.spec_from_file_location("lesion_confidence_rule", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dice_counts_an_empty_normal_as_one_and_a_painted_one_as_zero(rule):
    normal = {"dataset": "x", "truth": 0, "comps": [(50, 0.7, 0)]}  # one unsure component (area, mean p, overlap)
    lesion = {"dataset": "x", "truth": 100, "comps": [(100, 0.95, 80), (40, 0.6, 0)]}
    assert rule.dice(normal, 0.0) == 0.0 and rule.dice(normal, 0.8) == 1.0
    assert rule.dice(lesion, 0.0) == pytest.approx(2 * 80 / (140 + 100))
    assert rule.dice(lesion, 0.8) == pytest.approx(2 * 80 / (100 + 100))  # the unsure component dropped
    assert rule.dice(lesion, 0.99) == 0.0  # the lesion dropped too


def test_choose_takes_the_value_with_the_best_mean_dice(rule):
    rows = [{"dataset": "x", "truth": 0, "comps": [(50, 0.72, 0)]},
            {"dataset": "x", "truth": 100, "comps": [(100, 0.9, 90)]}]
    assert 0.72 < rule.choose(rows) <= 0.9
    summary = rule.summary(rows, [rule.choose(rows)] * 2)
    assert summary["normals_painted"] == 0 and summary["normals"] == 1 and summary["with_lesion"]["n"] == 1
