"""Disc confidence: certainty × plausible size × disc-like shape, on hand-made outlines."""

from __future__ import annotations

import numpy as np
import pytest

from medscreen.inference.segmentation import SegmentationOutput, disc_confidence


def _output(mask: np.ndarray, p_inside: float) -> SegmentationOutput:
    prob = np.where(mask, p_inside, 0.01).astype(np.float32)
    return SegmentationOutput(mask, prob, [(0, 0, *mask.shape)])


def _disc(shape: tuple[int, int], cy: int, cx: int, r: int) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def test_plausible_disc_on_a_full_photo_is_confident() -> None:
    out = _output(_disc((600, 600), 300, 420, 40), 0.9)  # diameter 80 of a 600-px field: 0.13
    conf = disc_confidence(out, 600, is_crop=False)
    assert conf is not None and conf.size_ok
    assert conf.size_ratio == pytest.approx(0.135, abs=0.01)
    assert conf.roundness > 0.95 and conf.confidence == pytest.approx(0.9, abs=0.01)


def test_tiny_blob_and_huge_region_are_implausible() -> None:
    tiny = disc_confidence(_output(_disc((600, 600), 50, 50, 5), 0.9), 600, is_crop=False)
    huge = disc_confidence(_output(_disc((600, 600), 300, 300, 200), 0.9), 600, is_crop=False)
    assert tiny is not None and huge is not None
    assert not tiny.size_ok and not huge.size_ok
    assert tiny.confidence < 0.3 and huge.confidence < 0.5


def test_a_rim_streak_is_not_disc_shaped() -> None:
    mask = np.zeros((600, 600), bool)
    idx = np.arange(100, 500)
    for d in range(6):  # a thin diagonal band: its box is mostly empty
        mask[idx, np.clip(idx + d, 0, 599)] = True
    conf = disc_confidence(_output(mask, 0.9), 600, is_crop=False)
    assert conf is not None and conf.roundness < 0.2 and conf.confidence == 0.0


def test_crop_range_and_card_override() -> None:
    out = _output(_disc((200, 200), 100, 100, 40), 0.8)  # 80 of a 200-px crop: 0.4
    assert disc_confidence(out, 200, is_crop=True).size_ok
    assert not disc_confidence(out, 200, is_crop=True, params={"size_range_crop": [0.5, 0.9]}).size_ok


def test_no_outline_gives_none() -> None:
    assert disc_confidence(_output(np.zeros((50, 50), bool), 0.0), 50, is_crop=False) is None
