"""The template matching of ``benchmarks/disc_references.py`` on a synthetic photo with a known crop."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import gaussian_filter

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "disc_references.py"


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("disc_references_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def script() -> ModuleType:
    return _load_script()


def _texture(shape: tuple[int, int], seed: int) -> np.ndarray:
    """A random smooth texture (0-255 float32): blobs at several sizes, like vessels and background shading."""
    rng = np.random.default_rng(seed)
    out = np.zeros(shape)
    for sigma, weight in ((2.0, 1.0), (5.0, 2.0), (12.0, 3.0)):
        layer = gaussian_filter(rng.standard_normal(shape), sigma)
        out += weight * layer / layer.std()
    out = (out - out.min()) / (out.max() - out.min())
    return (40 + 180 * out).astype(np.float32)


def _upsample(a: np.ndarray, factor: int) -> np.ndarray:
    im = Image.fromarray(a)
    return np.asarray(im.resize((a.shape[1] * factor, a.shape[0] * factor), Image.Resampling.BICUBIC),
                      dtype=np.float32)


@pytest.mark.parametrize(("top", "left", "side"), [(70, 150, 60), (121, 33, 57)])
def test_match_roi_recovers_centre_and_scale(script: ModuleType, top: int, left: int, side: int) -> None:
    image = _texture((256, 256), seed=top)
    crop = image[top:top + side, left:left + side]
    roi = _upsample(crop, 3)  # a higher-resolution crop, like GRAPE's ROI images of its full photos
    roi = roi + np.random.default_rng(0).normal(0, 3, roi.shape).astype(np.float32)  # its own sensor/JPEG noise

    match = script.match_roi(image, roi, scales=script.scale_grid(0.15, 0.6, 0.05), coarse_factor=2)

    cx, cy = left + (side - 1) / 2, top + (side - 1) / 2  # pixel-index coordinates of the crop's centre
    assert abs(match.cx - cx) <= 2 and abs(match.cy - cy) <= 2
    assert match.scale == pytest.approx(1 / 3, rel=0.05)
    assert match.side == pytest.approx(side, rel=0.05)
    assert match.ncc > 0.95
    assert match.ncc - match.second_ncc > 0.1
    assert script.classify(match, min_ncc=0.9, min_gap=0.1) == "ok"


def test_flat_windows_are_not_matched(script: ModuleType) -> None:
    """A black surround (NCC's denominator ~0) never wins, even when the crop holds some black."""
    image = _texture((200, 200), seed=5)
    image[:, :60] = 0.0
    crop = image[60:120, 40:100].copy()  # a third black, like a crop at the edge of the field
    match = script.match_roi(image, _upsample(crop, 3), scales=script.scale_grid(0.2, 0.5, 0.05))
    assert abs(match.cx - 69.5) <= 2 and abs(match.cy - 89.5) <= 2


def test_classify_rules(script: ModuleType) -> None:
    m = script.Match(cx=1.0, cy=1.0, side=10.0, scale=0.3, ncc=0.85, second_ncc=0.2)
    assert script.classify(m, 0.9, 0.1) == "low"
    m = script.Match(cx=1.0, cy=1.0, side=10.0, scale=0.3, ncc=0.99, second_ncc=0.95)
    assert script.classify(m, 0.9, 0.1) == "ambiguous"
