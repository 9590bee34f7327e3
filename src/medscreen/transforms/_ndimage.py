"""The few ``scipy.ndimage`` functions the screening path uses, in NumPy, giving SciPy's results.

Hand-written because the clinic server and :func:`medscreen.screen` should run
on ONNX Runtime, NumPy and the web stack alone: SciPy is a large install and a
slow import, and screening used only these few functions of it. Each filter
follows SciPy's C code (``scipy/ndimage/src/ni_filters.c``) step for step in
float64 — the same padding, the same order of additions — so results are the
same as SciPy's to the last bit on the inputs tested
(``tests/transforms/test_transforms_ndimage.py`` compares them) and screening
results do not change; :func:`label` numbers components as SciPy does.
Training and evaluation keep using SciPy.

All of it is vectorised (shifted slices, cumulative sums, a union-find over
runs of pixels); a filter costs one to two times SciPy's time, and
:func:`center_of_mass` is faster because it sums only the labelled pixels.

Only what the project calls is offered: 2-D arrays for :func:`label`; scalar
``size``/``sigma`` (the same along every axis); modes ``reflect``, ``nearest``,
``mirror``, ``wrap`` and ``constant``; origin 0. Arrays of any dimension for the
filters, filtered axis by axis and stored in the input's dtype between axes, as
SciPy does.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "binary_erosion",
    "center_of_mass",
    "gaussian_filter",
    "label",
    "maximum_filter",
    "minimum_filter",
    "sum_labels",
    "uniform_filter",
]

#: SciPy's boundary modes → :func:`numpy.pad` modes
_PAD_MODES = {"reflect": "symmetric", "mirror": "reflect", "nearest": "edge", "wrap": "wrap", "constant": "constant"}


def _padded(x: np.ndarray, axis: int, before: int, after: int, mode: str, cval: float,
            dtype: type = np.float64) -> np.ndarray:
    """``x`` as ``dtype``, extended along ``axis`` the way SciPy extends a line (one gather)."""
    if mode not in _PAD_MODES:
        raise ValueError(f"mode {mode!r} is not supported; choose one of {', '.join(_PAD_MODES)}")
    n = x.shape[axis]
    if mode == "constant":
        shape = list(x.shape)
        shape[axis] = n + before + after
        p = np.full(shape, cval, dtype=dtype)
        p[_along(axis, before, before + n)] = x
        return p
    pad = "edge" if mode == "mirror" and n == 1 else _PAD_MODES[mode]  # NumPy cannot reflect a single value
    index = np.pad(np.arange(n), (before, after), mode=pad)
    return np.take(x, index, axis=axis).astype(dtype, copy=False)


def _along(axis: int, start: int, stop: int) -> tuple[slice, ...]:
    """The index that slices ``start:stop`` along ``axis``."""
    return (slice(None),) * axis + (slice(start, stop),)


def uniform_filter(x: np.ndarray, size: int, mode: str = "reflect", cval: float = 0.0) -> np.ndarray:
    """``scipy.ndimage.uniform_filter(x, size, mode=mode, cval=cval)``: the mean over a ``size``-wide box.

    SciPy's running sum: the first window summed in order, then one
    ``entering − leaving`` step per pixel, each sum divided by ``size`` — one
    cumulative sum over ``[window…, steps…]``.
    """
    size = int(size)
    if size < 1:
        raise ValueError(f"size must be at least 1, got {size}")
    x = np.asarray(x)
    out = x
    if size == 1:
        return out.copy()
    before = size // 2
    for axis in range(out.ndim):
        n = out.shape[axis]
        p = _padded(out, axis, before, size - before - 1, mode, cval)
        if n > 1:
            steps = _along(axis, size, size + n - 1)
            np.subtract(p[steps], p[_along(axis, 0, n - 1)], out=p[steps])
        sums = np.cumsum(p[_along(axis, 0, size + n - 1)], axis=axis)[_along(axis, size - 1, size + n - 1)]
        sums /= size
        out = sums.astype(x.dtype, copy=False)
    return out


def _gaussian_kernel(sigma: float, radius: int) -> np.ndarray:
    """SciPy's normalised 1-D Gaussian weights, ``2·radius + 1`` of them."""
    r = np.arange(-radius, radius + 1)
    phi = np.exp(-0.5 / (sigma * sigma) * r**2)
    return phi / phi.sum()


def gaussian_filter(x: np.ndarray, sigma: float, mode: str = "reflect", cval: float = 0.0,
                    truncate: float = 4.0) -> np.ndarray:
    """``scipy.ndimage.gaussian_filter(x, sigma, mode=mode, cval=cval, truncate=truncate)`` (order 0).

    SciPy's symmetric correlation: centre × w₀, then ``(left + right) × w`` added
    from the outermost pair inwards.
    """
    x = np.asarray(x)
    sigma = float(sigma)
    if sigma <= 1e-15:
        return x.copy()
    radius = int(truncate * sigma + 0.5)
    weights = _gaussian_kernel(sigma, radius)
    out = x
    for axis in range(x.ndim):
        n = out.shape[axis]
        # many taps along the last axis: filter a transposed copy, where each shifted slice is one block
        first = radius >= 8 and axis == x.ndim - 1 > 0
        line = np.ascontiguousarray(np.moveaxis(out, axis, 0)) if first else out
        along = 0 if first else axis
        p = _padded(line, along, radius, radius, mode, cval)
        acc = p[_along(along, radius, radius + n)] * weights[radius]
        pair = np.empty_like(acc)
        for j in range(radius, 0, -1):
            np.add(p[_along(along, radius - j, radius - j + n)], p[_along(along, radius + j, radius + j + n)], out=pair)
            pair *= weights[radius - j]
            acc += pair
        out = acc.astype(x.dtype, copy=False)
        out = np.moveaxis(out, 0, axis) if first else out
    return np.ascontiguousarray(out)


def _rank_filter(x: np.ndarray, size: int, mode: str, cval: float, pick) -> np.ndarray:
    size = int(size)
    if size < 1:
        raise ValueError(f"size must be at least 1, got {size}")
    out = np.asarray(x)
    before = size // 2
    for axis in range(out.ndim):
        n = out.shape[axis]
        p = _padded(out, axis, before, size - before - 1, mode, cval, dtype=out.dtype)
        best = p[_along(axis, 0, n)].copy()
        for k in range(1, size):
            pick(best, p[_along(axis, k, k + n)], out=best)
        out = best
    return out


def minimum_filter(x: np.ndarray, size: int, mode: str = "reflect", cval: float = 0.0) -> np.ndarray:
    """``scipy.ndimage.minimum_filter(x, size, mode=mode, cval=cval)`` with a ``size``-wide box."""
    return _rank_filter(x, size, mode, cval, np.minimum)


def maximum_filter(x: np.ndarray, size: int, mode: str = "reflect", cval: float = 0.0) -> np.ndarray:
    """``scipy.ndimage.maximum_filter(x, size, mode=mode, cval=cval)`` with a ``size``-wide box."""
    return _rank_filter(x, size, mode, cval, np.maximum)


def binary_erosion(mask: np.ndarray, iterations: int = 1) -> np.ndarray:
    """``scipy.ndimage.binary_erosion(mask, iterations=iterations)`` of a 2-D mask (the cross, border off)."""
    out = np.asarray(mask) != 0
    if out.ndim != 2:
        raise ValueError(f"binary_erosion works on 2-D masks, got shape {out.shape}")
    for _ in range(max(1, int(iterations))):
        p = np.pad(out, 1)
        out = p[1:-1, 1:-1] & p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]
    return out


def _roots(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Root (smallest member) of each of ``n`` nodes joined by edges ``a[i]–b[i]``.

    Hook-and-compress: every edge joining two trees hangs the larger root
    under the smaller, then every node points at its root; each round about
    halves the trees still joined to another, so even a long snake takes a
    few rounds.
    """
    parent = np.arange(n)
    while a.size:
        ra, rb = parent[a], parent[b]
        lo, hi = np.minimum(ra, rb), np.maximum(ra, rb)
        apart = lo != hi
        if not apart.any():
            break
        a, b = a[apart], b[apart]
        np.minimum.at(parent, hi[apart], lo[apart])
        while True:
            jumped = parent[parent]
            if np.array_equal(jumped, parent):
                break
            parent = jumped
    return parent


def label(mask: np.ndarray, structure: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """``scipy.ndimage.label(mask, structure)`` for a 2-D mask: ``(int32 labels, count)``.

    Args:
        mask: 2-D array; nonzero pixels are foreground.
        structure: ``None`` or the cross (4-connectivity, SciPy's default), or
            ``np.ones((3, 3))`` (8-connectivity).

    Returns:
        Labels 1…count numbered in raster order of each component's first
        pixel (as SciPy numbers them), 0 for background; and the count.

    Components are found over horizontal runs of foreground: runs in
    neighbouring rows that touch are joined (:func:`_roots`).
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"label works on 2-D masks, got shape {mask.shape}")
    eight = _connectivity(structure)
    fg = mask != 0
    h, w = fg.shape
    if not fg.any():
        return np.zeros((h, w), np.int32), 0
    left = np.zeros((h, w + 2), bool)  # fg with a background column either side
    left[:, 1:-1] = fg
    starts = fg & ~left[:, :-2]  # first pixel of each run (raster order = run order)
    ends = fg & ~left[:, 2:]
    first_pixel = np.flatnonzero(starts)
    a, b = [], []
    for shift in (-1, 0, 1) if eight else (0,):  # the pixel above a pixel at column c is at c + shift
        up = np.s_[:-1, max(shift, 0):w + min(shift, 0)]
        down = np.s_[1:, max(-shift, 0):w + min(-shift, 0)]
        touch = fg[up] & fg[down]
        # one pair of pixels per pair of touching runs: where the touching begins
        begins = touch & (starts[up] | starts[down])
        begins[:, :1] = touch[:, :1]
        rows, cols = np.nonzero(begins)
        a.append(rows * w + cols + max(shift, 0))
        b.append((rows + 1) * w + cols + max(-shift, 0))
    pixels = np.concatenate([*a, *b])
    runs = np.searchsorted(first_pixel, pixels, side="right") - 1  # the run each of those pixels is in
    roots = _roots(first_pixel.size, runs[: pixels.size // 2], runs[pixels.size // 2:])
    first = roots == np.arange(roots.size)  # a component's root is its first run
    numbers = np.cumsum(first, dtype=np.int32)[roots]
    labels = np.zeros(h * w, np.int32)
    labels[fg.ravel()] = np.repeat(numbers, np.flatnonzero(ends) - first_pixel + 1)
    return labels.reshape(h, w), int(first.sum())


def _connectivity(structure: np.ndarray | None) -> bool:
    """Whether ``structure`` asks for 8-connectivity (True) or 4 (False); others are refused."""
    if structure is None:
        return False
    s = np.asarray(structure) != 0
    cross = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], bool)
    if s.shape == (3, 3) and s.all():
        return True
    if s.shape == (3, 3) and np.array_equal(s, cross):
        return False
    raise ValueError(f"structure must be the 3×3 cross or 3×3 ones, got {s.astype(int).tolist()}")


def sum_labels(values: np.ndarray, labels: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``scipy.ndimage.sum_labels(values, labels, index)`` for int labels ≥ 0: the sum of ``values`` per label."""
    return _label_sums(values, labels, index, moments=False)[0]


def center_of_mass(values: np.ndarray, labels: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``np.array(scipy.ndimage.center_of_mass(values, labels, index))``: ``(len(index), ndim)`` centres (row, col…)."""
    total, *moments = _label_sums(values, labels, index, moments=True)
    return np.stack([m / total for m in moments], axis=-1)


def _label_sums(values: np.ndarray, labels: np.ndarray, index: np.ndarray, *, moments: bool) -> list[np.ndarray]:
    """Per-label sums of ``values`` (and of ``values × coordinate`` along each axis) as SciPy adds them.

    SciPy sums with ``np.bincount`` over every pixel in raster order. When
    label 0 is not asked for, only labelled pixels are summed: leaving out the
    background changes no other label's sum (same pixels, same order) and
    saves most of the work on sparse masks.
    """
    labels = np.asarray(labels)
    values = np.broadcast_to(np.asarray(values), labels.shape)
    index = np.asarray(index, dtype=np.intp)
    flat = labels.ravel()
    where = np.arange(flat.size) if (index == 0).any() else np.flatnonzero(flat)
    keys, weights = flat[where], values.ravel()[where]
    arrays = [weights]
    if moments:
        arrays += [weights * coord.astype(float) for coord in np.unravel_index(where, labels.shape)]
    found = (index >= 0) & (index <= (keys.max() if keys.size else 0))
    safe = np.where(found, index, 0)
    return [np.where(found, np.bincount(keys, weights=a, minlength=1)[safe], 0.0) for a in arrays]
