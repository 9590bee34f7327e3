from __future__ import annotations

import numpy as np
import pytest

from medscreen.transforms.geometry import (
    crop_box,
    fov_box,
    largest_component,
    mask_geometry,
    paste_box,
    resize,
    square_box,
)


def _fundus(h: int = 300, w: int = 400) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    img = np.zeros((h, w, 3), np.uint8)
    inside = (yy - h / 2) ** 2 + (xx - w / 2) ** 2 < (h * 0.48) ** 2
    img[inside] = (180, 90, 40)
    return img


def test_fov_box_finds_circular_field():
    y0, x0, y1, x1 = fov_box(_fundus())
    assert abs((y1 - y0) - 288) <= 4 and abs((x1 - x0) - 288) <= 4
    assert abs((x0 + x1) / 2 - 200) <= 3


def test_fov_box_is_whole_image_for_a_crop_without_surround():
    img = np.full((120, 100, 3), 128, np.uint8)
    assert fov_box(img) == (0, 0, 120, 100)


def test_crop_and_paste_round_trip_with_padding():
    img = np.arange(100, dtype=np.uint8).reshape(10, 10)
    box = (-3, 5, 7, 15)  # sticks out top and right
    crop = crop_box(img, box)
    assert crop.shape == (10, 10)
    assert crop[0, 0] == 0 and crop[3, 0] == img[0, 5]
    back = paste_box(crop, box, img.shape)
    assert np.array_equal(back[0:7, 5:10], img[0:7, 5:10])
    assert back[:, :5].sum() == 0


def test_square_box_centres_and_scales():
    assert square_box((0, 0, 10, 20)) == (-5, 0, 15, 20)
    y0, x0, y1, x1 = square_box((0, 0, 10, 10), scale=2.0)
    assert (y1 - y0, x1 - x0) == (20, 20) and (y0 + y1) / 2 == 5


def test_resize_masks_stay_binary_and_images_keep_dtype():
    mask = np.zeros((40, 40), bool)
    mask[10:30, 10:30] = True
    small = resize(mask, (20, 20), nearest=True)
    assert small.dtype == bool and small.sum() == 100
    img = np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8)
    assert resize(img, (16, 24)).shape == (16, 24, 3)
    prob = np.random.default_rng(0).random((8, 8), dtype=np.float32)
    assert resize(prob, (16, 16)).dtype == np.float32


def test_two_step_shrink_stays_within_a_few_grey_levels_of_the_one_step():
    """reducing_gap (the disc stage's full-photo shrink) first reduces by a whole factor: nearly the same pixels."""
    img = resize(_fundus(), (1200, 1200))
    one, two = resize(img, (256, 256)), resize(img, (256, 256), reducing_gap=2.0)
    diff = np.abs(one.astype(int) - two.astype(int))
    assert two.shape == one.shape and two.dtype == np.uint8 and diff.max() <= 4 and diff.mean() < 0.5
    assert not np.array_equal(one, two)  # a real two-step shrink, not the same call


def test_largest_component_and_geometry():
    mask = np.zeros((50, 50), bool)
    mask[5:10, 5:10] = True
    mask[20:40, 20:40] = True
    big = largest_component(mask)
    assert big.sum() == 400 and not big[5, 5]
    geo = mask_geometry(big)
    assert geo is not None
    assert geo.cx == 29.5 and geo.area == 400
    assert abs(geo.diameter - 2 * np.sqrt(400 / np.pi)) < 1e-9
    assert mask_geometry(np.zeros((4, 4), bool)) is None
    assert geo.bbox_xyxy() == [20, 20, 40, 40]
    moved = geo.shifted(3, 5)
    assert (moved.cx, moved.cy, moved.x0, moved.y1, moved.area) == (34.5, 32.5, 25, 43, 400)
    with pytest.raises(AttributeError):
        geo.cx = 0.0  # frozen: stages hand each other a value, not a dict to patch


def test_centred_box_is_square_and_centred():
    from medscreen.transforms.geometry import centred_box

    y0, x0, y1, x1 = centred_box(50.0, 80.0, 41)
    assert (y1 - y0, x1 - x0) == (41, 41)
    assert abs((y0 + y1) / 2 - 50) <= 1 and abs((x0 + x1) / 2 - 80) <= 1


def test_field_mask_is_red_or_green_above_the_level():
    from medscreen.transforms.geometry import FIELD_LEVEL, field_mask

    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[0, 0, 0] = FIELD_LEVEL + 1  # red
    rgb[0, 1, 1] = FIELD_LEVEL + 1  # green
    rgb[0, 2, 2] = 255  # blue alone: still the camera's surround
    rgb[1, 0, :2] = FIELD_LEVEL  # at the level: outside
    assert field_mask(rgb).tolist() == [[True, True, False], [False, False, False]]
    assert field_mask(rgb[..., 0]).tolist() == [[True, False, False], [False, False, False]]
