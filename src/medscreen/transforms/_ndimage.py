"""The few ``scipy.ndimage`` functions the screening path uses, in NumPy, giving SciPy's results.

Hand-written because the clinic server and :func:`medscreen.screen` should run
on ONNX Runtime, NumPy and the web stack alone: SciPy is about 40 MB installed
and a slow import, and screening used only these five functions of it. Each
follows SciPy 1.x's C code (``scipy/ndimage/src/ni_filters.c``) step for step
in float64 — the same padding, the same order of additions — so results are
the same as SciPy's to the last bit on the inputs tested
(``tests/transforms/test_transforms_ndimage.py`` compares them), and screening
results do not change. Training and evaluation keep using SciPy.

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


def _padded(line: np.ndarray, before: int, after: int, mode: str, cval: float) -> np.ndarray:
    """``line`` (filtered axis last) padded along its last axis the way SciPy extends a line."""
    if mode not in _PAD_MODES:
        raise ValueError(f"mode {mode!r} is not supported; choose one of {', '.join(_PAD_MODES)}")
    width = [(0, 0)] * (line.ndim - 1) + [(before, after)]
    if mode == "constant":
        return np.pad(line, width, mode="constant", constant_values=cval)
    if mode == "mirror" and line.shape[-1] == 1:  # SciPy repeats the single value; NumPy cannot reflect it
        return np.pad(line, width, mode="edge")
    return np.pad(line, width, mode=_PAD_MODES[mode])


def _separable(x: np.ndarray, one_axis, out_dtype: np.dtype) -> np.ndarray:
    """Apply ``one_axis(line_float64) -> float64`` along every axis, storing ``out_dtype`` between axes."""
    out = np.asarray(x)
    for axis in range(out.ndim):
        line = np.moveaxis(out, axis, -1).astype(np.float64)
        out = np.moveaxis(one_axis(line), -1, axis).astype(out_dtype)
    return out


def uniform_filter(x: np.ndarray, size: int, mode: str = "reflect", cval: float = 0.0) -> np.ndarray:
    """``scipy.ndimage.uniform_filter(x, size, mode=mode, cval=cval)``: the mean over a ``size``-wide box.

    SciPy's running sum: the first window summed in order, then one
    ``entering − leaving`` step per pixel (a cumulative sum), each divided by ``size``.
    """
    size = int(size)
    if size < 1:
        raise ValueError(f"size must be at least 1, got {size}")
    x = np.asarray(x)
    if size == 1:
        return x.copy()
    before = size // 2

    def one_axis(line: np.ndarray) -> np.ndarray:
        p = _padded(line, before, size - before - 1, mode, cval)
        n = line.shape[-1]
        first = p[..., 0].copy()
        for k in range(1, size):
            first += p[..., k]
        steps = np.empty_like(line)
        steps[..., 0] = first
        steps[..., 1:] = p[..., size:size + n - 1] - p[..., : n - 1]
        return np.cumsum(steps, axis=-1) / size

    return _separable(x, one_axis, x.dtype)


def _gaussian_kernel(sigma: float, radius: int) -> np.ndarray:
    """SciPy's normalised 1-D Gaussian weights, ``2·radius + 1`` of them."""
    r = np.arange(-radius, radius + 1)
    phi = np.exp(-0.5 / (sigma * sigma) * r**2)
    return phi / phi.sum()


def gaussian_filter(x: np.ndarray, sigma: float, mode: str = "reflect", cval: float = 0.0,
                    truncate: float = 4.0) -> np.ndarray:
    """``scipy.ndimage.gaussian_filter(x, sigma, mode=mode, cval=cval, truncate=truncate)`` (order 0).

    SciPy's symmetric correlation: centre × w₀, then ``(left + right) × w`` from
    the outermost pair inwards.
    """
    x = np.asarray(x)
    sigma = float(sigma)
    if sigma <= 1e-15:
        return x.copy()
    radius = int(truncate * sigma + 0.5)
    weights = _gaussian_kernel(sigma, radius)

    def one_axis(line: np.ndarray) -> np.ndarray:
        p = _padded(line, radius, radius, mode, cval)
        n = line.shape[-1]
        out = p[..., radius:radius + n] * weights[radius]
        for j in range(radius, 0, -1):
            out += (p[..., radius - j:radius - j + n] + p[..., radius + j:radius + j + n]) * weights[radius - j]
        return out

    return _separable(x, one_axis, x.dtype)


def _rank_filter(x: np.ndarray, size: int, mode: str, cval: float, pick) -> np.ndarray:
    size = int(size)
    if size < 1:
        raise ValueError(f"size must be at least 1, got {size}")
    out = np.asarray(x)
    before = size // 2
    for axis in range(out.ndim):
        line = np.moveaxis(out, axis, -1)
        p = _padded(line, before, size - before - 1, mode, cval).astype(out.dtype, copy=False)
        n = line.shape[-1]
        best = p[..., :n].copy()
        for k in range(1, size):
            pick(best, p[..., k:k + n], out=best)
        out = np.moveaxis(best, -1, axis)
    return np.ascontiguousarray(out)


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
    under the smaller, then every node points at its root; each round at
    least halves the trees still joined to another, so a snake of any length
    takes O(log n) rounds.
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
    edge = np.zeros((h, w + 1), bool)
    edge[:, 1:] = fg
    starts = fg & ~edge[:, :-1]  # first pixel of each run (raster order = run order)
    run = np.cumsum(starts.ravel()).reshape(h, w) - 1  # run index of every foreground pixel
    pairs = [(fg[:-1] & fg[1:], run[:-1], run[1:])]
    if eight:
        pairs += [(fg[:-1, :-1] & fg[1:, 1:], run[:-1, :-1], run[1:, 1:]),
                  (fg[:-1, 1:] & fg[1:, :-1], run[:-1, 1:], run[1:, :-1])]
    a = np.concatenate([up[touch] for touch, up, _ in pairs])
    b = np.concatenate([down[touch] for touch, _, down in pairs])
    roots = _roots(int(starts.sum()), a, b)
    firsts, numbers = np.unique(roots, return_inverse=True)
    labels = np.zeros((h, w), np.int32)
    labels[fg] = (numbers.astype(np.int32) + 1)[run[fg]]
    return labels, int(firsts.size)


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
    index = np.asarray(index, dtype=np.intp)
    sums = np.bincount(np.asarray(labels).ravel(), weights=np.asarray(values).ravel())
    found = (index >= 0) & (index < sums.size)
    return np.where(found, sums[np.where(found, index, 0)], 0.0)


def center_of_mass(values: np.ndarray, labels: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``np.array(scipy.ndimage.center_of_mass(values, labels, index))``: ``(len(index), ndim)`` centres (row, col…)."""
    values = np.asarray(values)
    total = sum_labels(values, labels, index)
    grids = np.ogrid[tuple(slice(0, n) for n in values.shape)]
    return np.stack([sum_labels(values * g.astype(float), labels, index) / total for g in grids], axis=-1)
