"""Camera artefacts drawn on training images: flash at the rim, the black edge on a crop, desaturation, RandConv."""

from __future__ import annotations

import numpy as np
import pytest

from medscreen.transforms.appearance import RandConvd, RandDesaturated, RandFieldEdged, RandRimFlared


def _field(size: int = 96) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    inside = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (0.45 * size) ** 2
    return np.stack([inside * 0.5, inside * 0.25, inside * 0.1]).astype(np.float32)


def test_rim_flare_brightens_only_the_field_near_its_edge() -> None:
    image = _field()
    t = RandRimFlared(keys="image", prob=1.0, strength=(0.8, 0.8))
    t.set_random_state(0)
    out = t({"image": image})["image"]
    added = out - image
    assert added.max() > 0.2 and (added >= 0).all()
    assert np.allclose(out[:, 48, 48], image[:, 48, 48], atol=0.02)  # the centre is untouched
    assert (out[:, image.max(0) == 0] == 0).all()  # nothing outside the field


def test_rim_flare_leaves_a_crop_without_surround_alone() -> None:
    crop = np.full((3, 32, 32), 0.5, np.float32)
    t = RandRimFlared(keys="image", prob=1.0)
    assert np.array_equal(t({"image": crop})["image"], crop)


def test_field_edge_blacks_out_a_curved_part_of_the_crop() -> None:
    crop = np.full((3, 64, 64), 0.6, np.float32)
    t = RandFieldEdged(keys="image", prob=1.0, depth=(0.2, 0.2))
    t.set_random_state(1)
    out = t({"image": crop})["image"]
    black = (out == 0).all(axis=0)
    assert 0.02 < black.mean() < 0.5 and not black[32, 32]  # an edge cuts in; the centre (disc) stays
    assert np.allclose(out[:, ~black], 0.6)


def test_desaturation_pulls_colour_towards_grey_and_keeps_grey_alone() -> None:
    image = _field()
    t = RandDesaturated(keys="image", prob=1.0, amount=(1.0, 1.0))
    out = t({"image": image})["image"]
    assert np.allclose(out[0], out[1]) and np.allclose(out[1], out[2])  # fully grey
    assert np.allclose(out[0], 0.299 * image[0] + 0.587 * image[1] + 0.114 * image[2])
    grey = np.full((3, 8, 8), 0.4, np.float32)
    assert np.allclose(RandDesaturated(keys="image", prob=1.0)({"image": grey})["image"], grey)
    assert np.array_equal(RandDesaturated(keys="image", prob=0.0)({"image": image})["image"], image)


def test_random_convolution_keeps_shape_range_and_exposure() -> None:
    rng = np.random.default_rng(0)
    image = np.clip(_field() + rng.normal(0, 0.05, (3, 96, 96)), 0, 1).astype(np.float32)
    t = RandConvd(keys="image", prob=1.0, kernel_sizes=(3,), mix=(1.0, 1.0))
    t.set_random_state(2)
    out = t({"image": image})["image"]
    assert out.shape == image.shape and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    assert not np.allclose(out, image)  # texture and colour changed
    assert np.allclose(out.mean(axis=(1, 2)), image.mean(axis=(1, 2)), atol=0.03)  # exposure kept per channel
    again = RandConvd(keys="image", prob=1.0, kernel_sizes=(3,), mix=(1.0, 1.0))
    again.set_random_state(2)
    assert np.array_equal(again({"image": image})["image"], out)  # seeded: reproducible


def test_bad_ranges_are_refused() -> None:
    with pytest.raises(ValueError, match="kernel_sizes"):
        RandConvd(keys="image", kernel_sizes=(2,))
    with pytest.raises(ValueError, match="mix"):
        RandConvd(keys="image", mix=(0.8, 0.2))
    with pytest.raises(ValueError, match="amount"):
        RandDesaturated(keys="image", amount=(0.5, 1.5))
    with pytest.raises(ValueError, match="depth"):
        RandFieldEdged(keys="image", depth=(0.5, 1.2))
    with pytest.raises(ValueError, match="strength"):
        RandRimFlared(keys="image", strength=(0.9, 0.1))
