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
CLASSIFICATION = ("glaucoma", "progression", "breast-class")


@pytest.mark.parametrize("task", SEGMENTATION + CLASSIFICATION)
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
    total = sum(p.stat().st_size for p in WEIGHTS.iterdir() if p.is_file())
    assert total <= 40_000_000


@pytest.mark.parametrize("task", CLASSIFICATION)
def test_classifier_cards_carry_the_threshold_and_how_to_feed_the_model(task):
    from medscreen.training.config import CLASS_NAMES

    card = json.loads(bundled_model_path(task).with_suffix(".json").read_text())
    assert card["params"]["labels"] == list(CLASS_NAMES[task])
    assert 0.0 < card["threshold"] < 1.0
    assert card["params"]["preprocess"] in ("none", "standardise", "local-contrast")
    assert card["metrics"], "validation metrics with CIs belong in the card"
    assert all(m.get("auc_ci95") or m.get("grape_full_photos_all_glaucoma") for m in card["metrics"].values())


def test_glaucoma_model_scores_the_scikit_image_retina_through_the_disc_crop():
    from skimage.data import retina

    from medscreen.inference.classification import fundus_crop, load_classifier

    classifier = load_classifier("glaucoma", None)
    crop = fundus_crop(retina()[..., :3], is_crop=False)
    assert crop is not None and crop.shape[0] == crop.shape[1]
    p = classifier.predict([crop])
    assert p.shape == (1,) and 0.0 <= float(p[0]) <= 1.0


def test_disc_model_finds_the_disc_of_the_scikit_image_retina():
    from skimage.data import retina

    image = retina()  # a fundus photo from another camera than the training data
    model = OnnxModel(bundled_model_path("disc"))
    geo = mask_geometry(segment_disc(image, model, model.spec).mask)
    assert geo is not None
    h, w = image.shape[:2]
    assert 0.08 * w < geo.cx < 0.25 * w and 0.35 * h < geo.cy < 0.6 * h
    assert 0.05 * w < geo.diameter < 0.2 * w


def test_lesion_model_leaves_a_blank_image_empty():
    model = OnnxModel(bundled_model_path("lesion"))
    blank = np.full((300, 400), 40, np.uint8)
    assert not segment_lesion(blank, model, model.spec).mask.any()
