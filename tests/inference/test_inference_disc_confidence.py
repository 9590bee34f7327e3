"""Disc confidence: certainty × plausible size × disc-like shape × position, on hand-made outlines."""

from __future__ import annotations

import numpy as np
import pytest

from medscreen.inference.card import CardParams
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
    assert not disc_confidence(out, 200, is_crop=True, params=CardParams(size_range_crop=(0.5, 0.9))).size_ok


def test_a_disc_far_above_the_middle_is_implausible_only_with_the_card_limit() -> None:
    flash = _output(_disc((600, 600), 60, 300, 45), 0.95)  # a round, confident "disc" at the top rim
    params = CardParams(max_vertical_offset=0.5)
    conf = disc_confidence(flash, 600, is_crop=False, params=params, view_box=(0, 0, 600, 600))
    assert conf is not None and conf.vertical_offset == pytest.approx(0.8) and not conf.position_ok
    assert conf.confidence == 0.0 and conf.certainty > 0.9  # the other terms still say why
    without_limit = disc_confidence(flash, 600, is_crop=False, view_box=(0, 0, 600, 600))
    assert without_limit is not None and without_limit.position_ok and without_limit.confidence > 0.9
    level = disc_confidence(_output(_disc((600, 600), 380, 150, 45), 0.95), 600, is_crop=False, params=params,
                            view_box=(-20, 0, 620, 600))  # the squared field may reach past the photo
    assert level is not None and level.vertical_offset == pytest.approx(0.25) and level.position_ok
    assert disc_confidence(flash, 600, is_crop=False, params=params).vertical_offset is None  # no view given


def test_no_outline_gives_none() -> None:
    assert disc_confidence(_output(np.zeros((50, 50), bool), 0.0), 50, is_crop=False) is None


def test_blob_detector_prefers_a_compact_disc_to_a_broad_glow() -> None:
    from medscreen.inference.segmentation import _BLOB_RADII, _blob_peak, _blob_peak_halved

    yy, xx = np.mgrid[:256, :256]
    glow = 0.8 * np.exp(-(((yy - 80) ** 2 + (xx - 60) ** 2) / (2 * 45.0**2)))  # flash-like, wide and bright
    disc = 0.95 * (((yy - 150) ** 2 + (xx - 190) ** 2) <= 12**2)
    prob = np.maximum(glow, disc).astype(np.float32)
    peak = _blob_peak(prob, _BLOB_RADII[False])
    assert peak is not None and abs(peak[0] - 150) <= 4 and abs(peak[1] - 190) <= 4
    halved = _blob_peak_halved(prob, _BLOB_RADII[False])  # the screening path: pooled 2×2, full-map units back
    assert halved is not None and abs(halved[0] - 150) <= 4 and abs(halved[1] - 190) <= 4


def test_crops_are_told_from_photos_by_their_corners() -> None:
    from medscreen.inference.segmentation import looks_like_crop

    photo = np.zeros((100, 100, 3), np.uint8)
    yy, xx = np.mgrid[:100, :100]
    photo[(yy - 50) ** 2 + (xx - 50) ** 2 < 45**2] = (180, 90, 30)
    assert not looks_like_crop(photo)
    assert looks_like_crop(np.full((100, 100, 3), (180, 90, 30), np.uint8))
