"""The shipped ONNX models: cards complete, hashes right, small, and they segment real images."""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from medscreen.inference.runtime import OnnxModel, bundled_model_path
from medscreen.inference.segmentation import segment_disc, segment_lesion
from medscreen.transforms.geometry import mask_geometry

WEIGHTS = Path(str(resources.files("medscreen") / "weights"))
SEGMENTATION = ("disc", "lesion")


@pytest.mark.parametrize("task", SEGMENTATION)
def test_card_is_complete_and_hash_matches(task):
    path = bundled_model_path(task)
    card = json.loads(path.with_suffix(".json").read_text())
    for key in ("task", "input_size", "in_channels", "threshold", "sha256", "metrics", "commands", "data",
                "intended_use", "limits", "onnx_parity_max_abs_diff"):
        assert key in card, key
    assert card["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert card["onnx_parity_max_abs_diff"] <= card.get("onnx_parity_atol", 1e-4)
    assert path.with_suffix(".md").read_text().startswith(f"# medscreen `{task}` model")


def test_bundled_weights_stay_small():
    total = sum(p.stat().st_size for p in WEIGHTS.glob("*.onnx"))
    assert total <= 40_000_000


def test_disc_model_finds_the_disc_of_the_scikit_image_retina():
    from skimage.data import retina

    image = retina()  # a fundus photo from another camera than the training data
    model = OnnxModel(bundled_model_path("disc"))
    geo = mask_geometry(segment_disc(image, model, model.spec).mask)
    assert geo is not None
    h, w = image.shape[:2]
    assert 0.08 * w < geo["cx"] < 0.25 * w and 0.35 * h < geo["cy"] < 0.6 * h
    assert 0.05 * w < geo["diameter"] < 0.2 * w


def test_lesion_model_leaves_a_blank_image_empty():
    model = OnnxModel(bundled_model_path("lesion"))
    blank = np.full((300, 400), 40, np.uint8)
    assert not segment_lesion(blank, model, model.spec).mask.any()
