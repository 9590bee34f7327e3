"""The glaucoma crop around a disc mask, and the classifier's input normalisation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from medscreen.errors import ConfigError
from medscreen.transforms.classification import (
    GLAUCOMA_CROP_K,
    crop_view_box,
    glaucoma_crop,
    glaucoma_crop_box,
    normalise,
    to_model_input,
)


def _disc(shape=(200, 300), cy=80, cx=120, r=20) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - cy) ** 2 + (xx - cx) ** 2 < r**2


def test_diameter_framing_is_k_diameters_centred_on_the_disc():
    y0, x0, y1, x1 = glaucoma_crop_box(_disc(r=20))
    side = y1 - y0
    assert side == x1 - x0
    assert side == pytest.approx(GLAUCOMA_CROP_K * 40, rel=0.03)
    assert (y0 + y1) / 2 == pytest.approx(80, abs=1) and (x0 + x1) / 2 == pytest.approx(120, abs=1)
    # k scales the side, centre unchanged
    b3 = glaucoma_crop_box(_disc(r=20), k=3.0)
    assert b3[2] - b3[0] == pytest.approx(120, rel=0.03)
    assert (b3[0] + b3[2]) / 2 == pytest.approx(80, abs=1)


def test_a_crop_is_squared_unless_wider_than_the_card_limit():
    from medscreen.transforms.geometry import mask_geometry

    tight = mask_geometry(_disc((100, 100), 50, 50, 30))  # 60 px disc in a 100 px crop: 1.7 diameters
    wide = mask_geometry(_disc((200, 200), 90, 110, 20))  # 40 px disc in a 200 px crop: 5 diameters
    assert crop_view_box((100, 100), tight, recrop_above_k=3.5) == (0, 0, 100, 100)
    assert crop_view_box((200, 200), wide) == (0, 0, 200, 200)  # no limit: as trained on ACRIMA
    assert crop_view_box((200, 200), None, recrop_above_k=3.5) == (0, 0, 200, 200)  # no disc: unchanged
    y0, x0, y1, x1 = crop_view_box((200, 200), wide, recrop_above_k=3.5)
    assert y1 - y0 == x1 - x0 == pytest.approx(GLAUCOMA_CROP_K * 40, rel=0.05)
    assert ((y0 + y1) / 2, (x0 + x1) / 2) == (pytest.approx(90, abs=1), pytest.approx(110, abs=1))
    assert crop_view_box((200, 150), wide, recrop_above_k=6.0) == (0, -25, 200, 175)  # squared on the longer side


def test_box_plus_50_framing_is_the_bounding_box_grown_and_squared():
    mask = np.zeros((200, 200), bool)
    mask[40:60, 30:70] = True  # 20 high, 40 wide
    assert glaucoma_crop_box(mask, framing="box+50") == (-20, -20, 120, 120)
    assert glaucoma_crop_box(mask, framing="box+50", margin_px=10) == (20, 20, 80, 80)


def test_empty_mask_gives_none_and_unknown_framing_is_refused():
    empty = np.zeros((50, 50), bool)
    assert glaucoma_crop_box(empty) is None
    assert glaucoma_crop(np.zeros((50, 50, 3), np.uint8), empty) is None
    with pytest.raises(ConfigError, match="box\\+50"):
        glaucoma_crop_box(_disc(), framing="square")  # type: ignore[arg-type]


def test_crop_is_centred_on_the_disc_and_zero_padded_at_the_border():
    rgb = np.full((200, 300, 3), 50, np.uint8)
    disc = _disc(cy=15, cx=120, r=20)  # near the top edge: the box extends past it
    rgb[disc] = (250, 200, 100)
    crop = glaucoma_crop(rgb, disc)
    side = crop.shape[0]
    assert crop.shape == (side, side, 3) and crop.dtype == np.uint8
    assert tuple(crop[side // 2, side // 2]) == (250, 200, 100)
    assert (crop[0] == 0).all()  # rows above the photo are zero padding
    assert (crop[-1] == 50).all()  # the bottom rows are inside the photo


def test_normalise_none_and_standardise():
    rng = np.random.default_rng(0)
    x = rng.random((3, 16, 16)).astype(np.float32)
    x[1] *= 0.2
    assert np.array_equal(normalise(x, "none"), x)
    z = normalise(x, "standardise")
    assert z.dtype == np.float32
    assert np.allclose(z.mean(axis=(1, 2)), 0, atol=1e-5)
    assert np.allclose(z.std(axis=(1, 2)), 1, atol=1e-3)
    flat = normalise(np.full((1, 8, 8), 0.7, np.float32), "standardise")
    assert np.all(np.isfinite(flat)) and np.allclose(flat, 0, atol=1e-3)  # no division by zero on a flat channel


def test_local_contrast_removes_slow_shading_and_keeps_edges():
    ramp = np.tile(np.linspace(0.2, 0.8, 60, dtype=np.float32), (60, 1))[None]  # slow illumination gradient
    assert np.abs(normalise(ramp, "local-contrast")).max() < 0.05
    const = np.full((3, 30, 30), 0.4, np.float32)
    assert np.allclose(normalise(const, "local-contrast"), 0, atol=1e-6)
    edge = np.zeros((1, 60, 60), np.float32)
    edge[:, :, 30:] = 1.0
    out = normalise(edge, "local-contrast")
    sigma = 60 / 30
    expected = 4.0 * (edge[0] - ndimage.gaussian_filter(edge[0], sigma, mode="reflect"))
    assert np.allclose(out[0], expected, atol=1e-5)
    assert out[0, 30, 30] > 1.0 and out[0, 30, 29] < -1.0


def test_unknown_preprocessing_is_refused_with_the_choices():
    with pytest.raises(ConfigError, match="standardise"):
        normalise(np.zeros((1, 4, 4), np.float32), "clahe")


def test_to_model_input_rgb_shapes_and_scale():
    rgb = np.zeros((40, 50, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 0, 51, 255
    out = to_model_input(rgb, 24, "none")
    assert out.shape == (3, 24, 24) and out.dtype == np.float32
    assert np.allclose(out[:, 5, 5], [0.0, 0.2, 1.0], atol=1e-6)
    z = to_model_input(np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8), 32, "standardise")
    assert np.allclose(z.mean(axis=(1, 2)), 0, atol=1e-5)
    two = to_model_input(np.full((40, 50, 2), 255, np.uint8), 32, "none")  # grey + lesion map (breast-class)
    assert two.shape == (2, 32, 32) and np.allclose(two, 1.0)


@pytest.mark.parametrize("grey", [np.full((40, 50), 255, np.uint8), np.full((40, 50, 1), 255, np.uint8)])
def test_to_model_input_grey(grey):
    out = to_model_input(grey, 32, "none")
    assert out.shape == (1, 32, 32) and out.dtype == np.float32
    assert np.allclose(out, 1.0)


def test_disc_pallor_is_the_central_circles_green_z_score():
    from medscreen.transforms.classification import disc_pallor

    size = 88
    image = np.full((size, size, 3), 60, np.uint8)
    yy, xx = np.ogrid[:size, :size]
    disc = np.hypot(yy - (size - 1) / 2, xx - (size - 1) / 2) < size * 0.2
    image[disc, 1] = 180
    green = image[..., 1].astype(float)
    assert disc_pallor(image, 0.2) == pytest.approx(((green - green.mean()) / green.std())[disc].mean())
    assert disc_pallor(image, 0.2) > 0
    # exposure and colour gain (a camera's) cancel out; red and blue are not read
    other = image.copy()
    other[..., 1] = (image[..., 1] * 0.5 + 20).astype(np.uint8)
    other[..., 0] = 255
    assert disc_pallor(other, 0.2) == pytest.approx(disc_pallor(image, 0.2), abs=0.02)
    flat = np.full((size, size, 3), 90, np.uint8)
    assert disc_pallor(flat, 0.2) == 0.0


def test_disc_pallor_refuses_what_it_cannot_measure():
    from medscreen.transforms.classification import disc_pallor

    with pytest.raises(ConfigError, match="RGB"):
        disc_pallor(np.zeros((20, 20), np.uint8), 0.2)
    with pytest.raises(ConfigError, match="radius"):
        disc_pallor(np.zeros((20, 20, 3), np.uint8), 0.7)


def test_disc_pallor_on_a_log_scale_shrugs_off_a_cameras_gamma():
    from medscreen.transforms.classification import disc_pallor

    rng = np.random.default_rng(1)
    size = 80
    green = rng.uniform(40, 120, (size, size))
    yy, xx = np.ogrid[:size, :size]
    disc = np.hypot(yy - (size - 1) / 2, xx - (size - 1) / 2) < size / 4.4
    green[disc] += 90  # a pale disc
    image = np.zeros((size, size, 3), np.uint8)
    image[..., 1] = green.clip(0, 255).astype(np.uint8)
    other = image.copy()
    other[..., 1] = (255 * (image[..., 1] / 255.0) ** 0.5).astype(np.uint8)  # another camera's gamma curve
    shift = {s: abs(disc_pallor(other, 1 / 4.4, s) - disc_pallor(image, 1 / 4.4, s)) for s in ("linear", "log")}
    assert shift["log"] < shift["linear"] / 2
    assert disc_pallor(image, 1 / 4.4, "log") > 0
    with pytest.raises(ConfigError, match="scale"):
        disc_pallor(image, 1 / 4.4, "sqrt")  # type: ignore[arg-type]


def test_disc_pallor_ignores_the_black_outside_the_field_of_view():
    """How much black surround or padding a crop holds says where the disc sits, not how pale it is."""
    from medscreen.transforms.classification import disc_pallor

    rng = np.random.default_rng(4)
    size = 90
    image = np.zeros((size, size, 3), np.uint8)
    image[..., 1] = rng.integers(50, 110, (size, size))
    image[..., 0] = 120
    yy, xx = np.ogrid[:size, :size]
    disc = np.hypot(yy - (size - 1) / 2, xx - (size - 1) / 2) < size / 4.4
    image[disc, 1] = 170
    edged = image.copy()
    edged[:, :25] = 0  # the field's edge (or zero padding) on one side, away from the disc
    green = image[:, 25:, 1].astype(float)  # the retina the edged crop still shows
    expected = (170 - green.mean()) / green.std()
    assert disc_pallor(edged, 1 / 4.4) == pytest.approx(expected)
    logs = np.log(green + 8)  # on the log scale, had the black strip counted, the figure would move a lot
    expected_log = (np.log(178) - logs.mean()) / logs.std()
    assert disc_pallor(edged, 1 / 4.4, "log") == pytest.approx(expected_log)
    everything = np.log(edged[..., 1].astype(float) + 8)
    assert abs((np.log(178) - everything.mean()) / everything.std() - expected_log) > 0.3
    black = np.zeros((40, 40, 3), np.uint8)
    black[:, :5] = 90
    assert disc_pallor(black, 0.2) == 0.0  # no pixel of the circle in the field: no evidence
