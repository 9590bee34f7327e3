"""The measurements behind the input check (:mod:`medscreen.pipelines.quality`).

Everything is measured on a copy resized so that its longest side is
:data:`ANALYSIS_SIDE` pixels (down *or* up), so every length below is in
units of 1/256 of the image's longest side whatever the camera's resolution,
and one photo costs a few milliseconds on one core. NumPy/SciPy only: the
screening server imports this without PyTorch.

Hand-written rather than taken from scikit-image because each measure is a
few array operations whose cost we control (scikit-image's equivalents
convert to float64 and work on the full image).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image
from scipy import ndimage

from medscreen.errors import ImageReadError
from medscreen.transforms.geometry import largest_component

__all__ = ["ANALYSIS_SIDE", "downscale", "measure_image"]

ANALYSIS_SIDE = 256
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R 601, as Pillow's "L"
_CROSS = ndimage.generate_binary_structure(2, 1)


def _check_image(image: np.ndarray) -> np.ndarray:
    """``H×W×3`` uint8 RGB from ``H×W`` grey or ``H×W×3``; anything else is refused."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        got = type(image).__name__ if not isinstance(image, np.ndarray) else f"array of {image.dtype}"
        raise ImageReadError(f"input check: expected a uint8 image array, got {got}; decode files with read_image()")
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 1:
        raise ImageReadError(
            f"input check: expected an H×W×3 RGB (or H×W grey) image, got shape {image.shape}; "
            "decode files with read_image(path, mode='rgb')"
        )
    return image


def downscale(image: np.ndarray) -> np.ndarray:
    """Resize an ``H×W×3`` uint8 image so that its longest side is :data:`ANALYSIS_SIDE`.

    Large photos are first subsampled by an integer stride to at most twice
    the target (cheap, and the bilinear reduction that follows averages away
    the aliasing), then resized with Pillow; small images are enlarged so
    that every measure sees the same scale.
    """
    h, w = image.shape[:2]
    step = max(h, w) // (2 * ANALYSIS_SIDE)
    if step > 1:
        image = image[::step, ::step]
        h, w = image.shape[:2]
    scale = ANALYSIS_SIDE / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if size == (w, h):
        return np.ascontiguousarray(image)
    pil = Image.fromarray(np.ascontiguousarray(image))
    return np.asarray(pil.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0))


@lru_cache(maxsize=8)
def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:h, 0:w]
    return yy.astype(np.float32), xx.astype(np.float32)


def _quantile(values: np.ndarray, q: float) -> float:
    return float(np.percentile(values, q)) if values.size else 0.0


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    return float((a * b).mean() / (a.std() * b.std() + 1e-6))


def _field(rgb: np.ndarray, lum: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
    """Field of view (the largest region brighter than the camera's black surround) and its shape."""
    h, w = lum.shape
    red_green = np.maximum(rgb[..., 0], rgb[..., 1])
    # the surround of a fundus camera is near 0; a threshold relative to the bright end keeps dim photos whole
    threshold = float(np.clip(0.15 * _quantile(red_green, 95), 8, 25))
    mask = ndimage.binary_opening(red_green > threshold, structure=_CROSS)
    if mask.any():
        mask = ndimage.binary_fill_holes(largest_component(mask))
    out = {"fov_frac": float(mask.mean())}
    n = int(mask.sum())
    if n >= 16:
        yy, xx = _grid(h, w)
        ys, xs = yy[mask], xx[mask]
        cy, cx = ys.mean(), xs.mean()
        cov = np.cov(np.stack([ys, xs])) + 1e-3 * np.eye(2)
        inv = np.linalg.inv(cov)
        dy, dx = yy - cy, xx - cx
        # a uniform ellipse with these second moments is {d^T cov^-1 d <= 4}
        ellipse = (inv[0, 0] * dy * dy + 2 * inv[0, 1] * dy * dx + inv[1, 1] * dx * dx) <= 4.0
        out["fov_ellipse_iou"] = float((ellipse & mask).sum() / max(1, (ellipse | mask).sum()))
    else:
        out["fov_ellipse_iou"] = 0.0
    c = max(2, round(0.06 * min(h, w)))
    out["corner_lum"] = float(np.mean([lum[:c, :c].mean(), lum[:c, -c:].mean(), lum[-c:, :c].mean(), lum[-c:, -c:].mean()]))
    return mask, out


def _colour(rgb: np.ndarray, chroma: np.ndarray, inner: np.ndarray) -> dict[str, float]:
    """Colour of the field: channel ratios, R > G ≥ B share, chroma-weighted mean hue and its spread."""
    r, g, b = rgb[..., 0][inner], rgb[..., 1][inner], rgb[..., 2][inner]
    mr, mg, mb = r.mean(), g.mean(), b.mean()
    out = {
        "green_red": float(mg / (mr + 1.0)),
        "blue_red": float(mb / (mr + 1.0)),
        "red_order_frac": float(((r > g) & (g >= b - 2)).mean()),
    }
    c = chroma[inner]
    sel = c > 15
    if sel.sum() >= 20:
        hue = np.arctan2(np.sqrt(3) * (g[sel] - b[sel]), 2 * r[sel] - g[sel] - b[sel])
        wgt = c[sel] / c[sel].sum()
        cs, sn = float((np.cos(hue) * wgt).sum()), float((np.sin(hue) * wgt).sum())
        out["hue_mean"] = float(np.degrees(np.arctan2(sn, cs)))
        out["hue_concentration"] = float(np.hypot(cs, sn))
    else:  # (almost) no colour: no hue to speak of
        out["hue_mean"], out["hue_concentration"] = 0.0, 0.0
    return out


def _gradient(x: np.ndarray) -> np.ndarray:
    gy = np.zeros_like(x)
    gx = np.zeros_like(x)
    gy[1:-1] = x[2:] - x[:-2]
    gx[:, 1:-1] = x[:, 2:] - x[:, :-2]
    return np.hypot(gx, gy) * 0.5


def _blur_sigma(green: np.ndarray, interior: np.ndarray) -> float:
    """Blur of the sharpest edges, as a Gaussian σ in analysis pixels (re-blur method).

    A step edge blurred by σ has a peak gradient ∝ 1/σ; re-blurring by s
    gives ∝ 1/√(σ²+s²). The ratio ``r`` of the 99th-percentile gradient
    before and after re-blurring therefore gives σ = s/√(r²−1) (the idea of
    Crété-Roffet et al., "The blur effect", SPIE 2007, made quantitative).
    Capped at 50 when re-blurring changes nothing (a featureless image).
    """
    if interior.sum() < 50:
        return 50.0
    s = 2.0
    g0 = _quantile(_gradient(green)[interior], 99)
    g1 = _quantile(_gradient(ndimage.gaussian_filter(green, s))[interior], 99)
    ratio = g0 / max(g1, 1e-6)
    return float(min(50.0, s / np.sqrt(max(ratio * ratio - 1.0, 1e-4))))


def _illumination(lum: np.ndarray, mask: np.ndarray) -> float:
    """Darkest / brightest mean of the four half-fields of a smoothed, field-only brightness map."""
    h, w = lum.shape
    k = 8  # work on 8×8 block means: the illumination field is smooth
    hh, ww = h // k * k, w // k * k
    if hh < 2 * k or ww < 2 * k:
        return 1.0
    m = mask[:hh, :ww].astype(np.float32).reshape(hh // k, k, ww // k, k).mean(axis=(1, 3))
    v = (lum[:hh, :ww] * mask[:hh, :ww]).reshape(hh // k, k, ww // k, k).mean(axis=(1, 3))
    field = ndimage.gaussian_filter(v, 2.5) / np.maximum(ndimage.gaussian_filter(m, 2.5), 1e-3)
    inside = m > 0.5
    if inside.sum() < 4:
        return 1.0
    ch, cw = field.shape[0] // 2, field.shape[1] // 2
    halves = [(slice(None, ch), slice(None)), (slice(ch, None), slice(None)), (slice(None), slice(None, cw)), (slice(None), slice(cw, None))]
    means = [field[s][inside[s]].mean() for s in halves if inside[s].any()]
    return float(min(means) / (max(means) + 1.0))


def _disc(lum: np.ndarray, inner: np.ndarray) -> dict[str, float]:
    """Brightest smooth spot (the optic disc in a fundus photo): contrast over the field median, offset from centre."""
    h, w = lum.shape
    smooth = ndimage.gaussian_filter(lum, 3.0)
    vals = smooth[inner]
    med, peak = float(np.median(vals)), float(vals.max())
    iy, ix = np.unravel_index(int(np.argmax(np.where(inner, smooth, -1.0))), smooth.shape)
    return {
        "disc_contrast": (peak - med) / (med + 1.0),
        "disc_offset": float(max(abs(iy + 0.5 - h / 2) / h, abs(ix + 0.5 - w / 2) / w)),
    }


def _speckle(lum: np.ndarray, detail: np.ndarray, inner: np.ndarray) -> dict[str, float]:
    """Ultrasound speckle: local coefficient of variation and its lateral vs axial correlation."""
    mu = ndimage.uniform_filter(lum, 5)
    sd = np.sqrt(np.maximum(ndimage.uniform_filter(lum * lum, 5) - mu * mu, 0.0))
    sel = inner & (mu > 20)
    rho_x = _corr(detail[:, :-1], detail[:, 1:])
    rho_y = _corr(detail[:-1], detail[1:])
    return {
        "local_cv": float(np.median(sd[sel] / mu[sel])) if sel.sum() >= 50 else 0.0,
        "speckle_rho_x": rho_x,
        "speckle_lateral": rho_x - rho_y,
    }


def measure_image(image: np.ndarray) -> dict[str, float]:
    """Every measure the input check uses, from a decoded image.

    Args:
        image: ``H×W×3`` uint8 RGB, or ``H×W`` grey (read as equal channels).

    Returns:
        Name → value; see the table in :mod:`medscreen.pipelines.quality`.
        Lengths are in 1/256 of the longest side, brightness in 0..255.

    Raises:
        ImageReadError: not a uint8 ``H×W×3`` / ``H×W`` array.
    """
    image = _check_image(image)
    height, width = image.shape[:2]
    rgb = downscale(image).astype(np.float32)
    lum = rgb @ _LUMA
    chroma = rgb.max(axis=-1) - rgb.min(axis=-1)
    out: dict[str, float] = {"height": float(height), "width": float(width)}
    out["colour_frac"] = float((chroma > 24).mean())
    mask, field = _field(rgb, lum)
    out.update(field)
    inner = ndimage.binary_erosion(mask, structure=_CROSS, iterations=4) if mask.sum() > 400 else mask
    if inner.sum() < 50:  # no usable field (black, tiny): measure the whole frame
        inner = np.ones_like(mask)
    interior = ndimage.binary_erosion(inner, structure=_CROSS, iterations=4) if inner.sum() > 2000 else inner
    out.update(_colour(rgb, chroma, inner))
    v = lum[inner]
    mean = float(v.mean())
    out["lum_mean"] = mean
    out["lum_p99"] = _quantile(v, 99)
    out["lum_cv"] = float(v.std() / (mean + 1.0))
    out["clip_frac"] = float((v >= 245).mean())
    out["lum_p5_all"] = _quantile(lum, 5)
    out["lum_p95_all"] = _quantile(lum, 95)
    smooth = ndimage.gaussian_filter(lum, 1.0)
    detail = lum - smooth
    out["texture_hf"] = float(np.abs(detail[inner]).mean() / (mean + 1.0))
    out.update(_speckle(lum, detail, inner))
    out["blur_sigma"] = _blur_sigma(rgb[..., 1], interior)
    out["illum_balance"] = _illumination(lum, mask)
    out.update(_disc(lum, inner))
    return out
