"""The NumPy stand-ins for ``scipy.ndimage`` give SciPy's results, bit for bit where SciPy is deterministic."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import ndimage

from medscreen.transforms import _ndimage

RNG = np.random.default_rng(20261201)
SHAPES = [(1, 1), (1, 7), (7, 1), (5, 3), (33, 17), (64, 200), (256, 256)]
MODES = ("reflect", "constant", "nearest", "mirror", "wrap")
EIGHT = np.ones((3, 3), dtype=bool)


def _image(shape: tuple[int, int], dtype: type) -> np.ndarray:
    return (RNG.random(shape) * 255).astype(dtype)


def _same(ours: np.ndarray, theirs: np.ndarray) -> None:
    """Same dtype and shape; equal to float rounding (in practice bit for bit)."""
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    rtol = 1e-6 if ours.dtype == np.float32 else 1e-12
    assert_allclose(ours, theirs, rtol=rtol, atol=rtol * 255)
    assert_array_equal(ours, theirs)


# ---------------------------------------------------------------------------- filters


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", MODES)
def test_uniform_filter_matches_scipy(shape: tuple[int, int], dtype: type, mode: str) -> None:
    x = _image(shape, dtype)
    for size in (1, 2, 3, 4, 5, 9, 41):
        _same(_ndimage.uniform_filter(x, size, mode=mode), ndimage.uniform_filter(x, size, mode=mode))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", MODES)
def test_gaussian_filter_matches_scipy(shape: tuple[int, int], dtype: type, mode: str) -> None:
    x = _image(shape, dtype)
    # the project's calls: quality σ 1 / 1.41 / 2 (truncate 3), illumination σ 2.5, local contrast side/30
    for sigma, truncate in ((1.0, 3.0), (1.41, 3.0), (2.0, 3.0), (2.5, 4.0), (224 / 30, 4.0), (0.3, 4.0), (0.0, 4.0)):
        _same(_ndimage.gaussian_filter(x, sigma, mode=mode, truncate=truncate),
              ndimage.gaussian_filter(x, sigma, mode=mode, truncate=truncate))


def test_filters_keep_integer_and_3d_inputs_as_scipy_does() -> None:
    x = _image((9, 11, 3), np.float32)
    _same(_ndimage.gaussian_filter(x, 1.5), ndimage.gaussian_filter(x, 1.5))
    _same(_ndimage.uniform_filter(x, 3), ndimage.uniform_filter(x, 3))
    u8 = _image((20, 30), np.uint8)
    assert_array_equal(_ndimage.uniform_filter(u8, 5), ndimage.uniform_filter(u8, 5))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", ["minimum_filter", "maximum_filter"])
def test_min_and_max_filters_match_scipy(shape: tuple[int, int], mode: str, name: str) -> None:
    for x in (_image(shape, np.float32), (RNG.random(shape) < 0.5).view(np.uint8)):
        for size in (1, 2, 3, 4, 5, 9):
            ours, theirs = getattr(_ndimage, name)(x, size, mode=mode), getattr(ndimage, name)(x, size, mode=mode)
            assert ours.dtype == theirs.dtype
            assert_array_equal(ours, theirs)


def test_unknown_mode_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="choose one of reflect"):
        _ndimage.uniform_filter(np.zeros((4, 4)), 3, mode="grid-wrap")


# ---------------------------------------------------------------------------- label


def _masks() -> list[np.ndarray]:
    masks = [np.zeros((5, 5), bool), np.ones((5, 5), bool), np.ones((1, 1), bool), np.zeros((1, 1), bool),
             np.eye(6, dtype=bool), np.eye(6, dtype=bool)[::-1], np.ones((1, 9), bool), np.ones((9, 1), bool)]
    one = np.zeros((7, 9), bool)
    one[3, 4] = True
    masks.append(one)
    checker = (np.add.outer(np.arange(15), np.arange(17)) % 2).astype(bool)  # all diagonal for 8-connectivity
    masks.append(checker)
    snake = np.zeros((41, 37), bool)  # a 1-pixel-wide boustrophedon: one component, many runs
    snake[::2] = True
    snake[1::4, -1] = True
    snake[3::4, 0] = True
    masks += [snake, snake.T.copy()]
    spiral = np.zeros((31, 31), bool)  # a square spiral of 1-pixel lines, with gaps 1 pixel wide
    top, left, bottom, right = 0, 0, 30, 30
    while top <= bottom and left <= right:
        spiral[top, left:right + 1] = spiral[top:bottom + 1, right] = True
        spiral[bottom, left:right + 1] = True
        spiral[top + 2:bottom + 1, left] = True
        top, left, bottom, right = top + 2, left + 2, bottom - 2, right - 2
        spiral[top - 1, left - 1] = True
    masks.append(spiral)
    for shape in ((1, 50), (50, 1), (17, 31), (256, 256), (300, 199)):
        for p in (0.05, 0.3, 0.45, 0.59, 0.7, 0.95):
            masks.append(RNG.random(shape) < p)
    masks.append(ndimage.gaussian_filter(RNG.random((256, 256)), 3) > 0.5)  # blobs
    return masks


@pytest.mark.parametrize("structure", [None, EIGHT, ndimage.generate_binary_structure(2, 1)],
                         ids=["default", "eight", "cross"])
def test_label_gives_scipys_labels_and_numbering(structure: np.ndarray | None) -> None:
    for mask in _masks():
        ours, n_ours = _ndimage.label(mask, structure)
        theirs, n_theirs = ndimage.label(mask, structure=structure)
        assert n_ours == n_theirs, mask.shape
        assert ours.dtype == theirs.dtype
        assert_array_equal(ours, theirs)


def test_label_takes_any_nonzero_as_foreground_and_refuses_other_structures() -> None:
    x = RNG.integers(0, 3, (20, 20)).astype(np.uint8)
    assert_array_equal(_ndimage.label(x)[0], ndimage.label(x)[0])
    with pytest.raises(ValueError, match="structure"):
        _ndimage.label(x, np.ones((5, 5)))
    with pytest.raises(ValueError, match="2-D"):
        _ndimage.label(np.ones((2, 2, 2)))


def test_label_of_a_long_snake_and_of_a_large_mask() -> None:
    snake = np.zeros((1024, 1024), bool)
    snake[::2] = True
    snake[1::4, -1] = True
    snake[3::4, 0] = True
    labels, n = _ndimage.label(snake, EIGHT)
    assert n == 1 and labels[snake].min() == 1 and labels[~snake].max() == 0
    blobs = ndimage.gaussian_filter(RNG.random((1024, 1024)), 2) > 0.5  # the largest masks screening labels
    assert_array_equal(_ndimage.label(blobs)[0], ndimage.label(blobs)[0])
    assert_array_equal(_ndimage.label(blobs, EIGHT)[0], ndimage.label(blobs, structure=EIGHT)[0])


# ---------------------------------------------------------------------------- measurements


def test_sum_labels_and_center_of_mass_match_scipy() -> None:
    prob = RNG.random((256, 256)).astype(np.float32)
    labels, n = ndimage.label(prob > 0.6)
    index = np.arange(1, n + 1)
    assert_array_equal(_ndimage.sum_labels(prob, labels, index), ndimage.sum(prob, labels, index))
    theirs = np.array(ndimage.center_of_mass(prob, labels, index)).reshape(n, 2)
    assert_array_equal(_ndimage.center_of_mass(prob, labels, index), theirs)
    missing = np.array([0, n + 5])
    assert_array_equal(_ndimage.sum_labels(prob, labels, missing), ndimage.sum(prob, labels, missing))


def test_binary_erosion_matches_scipy() -> None:
    for mask in _masks()[:20]:
        for iterations in (1, 2, 3):
            assert_array_equal(_ndimage.binary_erosion(mask, iterations),
                               ndimage.binary_erosion(mask, iterations=iterations))
