"""The measurements behind the input check (:mod:`medscreen.pipelines.quality`).

Everything is measured on a copy resized so that its longest side is
:data:`ANALYSIS_SIDE` pixels (down *or* up): lengths are in 1/256 of the
image's longest side whatever the camera, and a 1600×1063 photo costs about
10–15 ms on one core. NumPy/Pillow only (the few SciPy filters used come from
:mod:`medscreen.transforms._ndimage`, in NumPy), hand-written rather than taken
from scikit-image so that each measure is a few float32 array operations
whose cost is known. The *field* is the largest region brighter than a fundus
camera's black surround (the whole frame for a crop); *inner* is the field
shrunk by 4 pixels, away from its rim.

=================  ================================================  ====================================
measure            what                                              why
=================  ================================================  ====================================
height, width,     the decoded image's size in pixels                too small to grade
min_side
colour_frac        share of pixels whose max−min channel exceeds 24  ultrasound is grey (marks aside)
fov_frac           share of the frame that is field                  whole field or crop; field too small
fov_ellipse_iou    overlap of the field with the ellipse having its     a fundus camera's field is round
                   second moments
corner_lum         mean luma of the corner patches (6 % of a side)   a fundus camera's black surround
green_red,         field mean of green / red and of blue / red       a retina is red, low in blue
blue_red
red_order_frac     share of field pixels with R > G ≥ B              red-orange everywhere, disc too
hue_mean,          chroma-weighted circular mean hue (degrees, 0 =   a retina has one red-orange hue;
hue_concentration  red) and its concentration (1 = a single hue)     photos and charts have many
lum_mean, lum_p99  field mean and 99th-percentile luma               too dark: even the disc is dim
lum_cv             field luma standard deviation / mean              flat cards; B-mode contrast
saturated_frac     share of field pixels with green ≥ 250            over-exposure (red saturates in
                                                                     good fundus photos, green not)
lum_p95_all        95th-percentile luma of the whole frame           ultrasound gain set too low
texture_hf         mean ∣luma − Gaussian σ 1∣ / mean luma (field)    a retina is smooth; fur, cloth,
                                                                     text and textures are not
local_cv           median of 5×5 standard deviation / mean (field)   speckle is grainy everywhere
speckle_lateral    correlation of neighbouring fine detail along     B-mode speckle is elongated
                   rows minus along columns                          sideways (coarse lateral resolution)
layering           vertical / horizontal gradient energy of the      tissue layers run sideways
                   σ 1–3 band-pass
blur_sigma         Gaussian σ of the sharpest edges (re-blur)        focus
illum_balance      darkest / brightest mean of the four half-fields  uneven illumination
                   of a smooth brightness map
disc_contrast      (brightest σ 3 spot − field median) / median      a bright optic disc is visible
=================  ================================================  ====================================
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from PIL import Image

from medscreen.errors import ImageReadError
from medscreen.transforms import _ndimage
from medscreen.transforms.geometry import largest_component

__all__ = ["ANALYSIS_SIDE", "SURROUND_MAX_LUM", "downscale", "has_surround", "measure_image"]

ANALYSIS_SIDE = 256
_MIN_SIDE = 16  # shortest analysis side: a 1×5000 sliver still gets a few rows to measure
#: corners darker than this (mean luma, 0..255) mean a fundus camera's black surround
SURROUND_MAX_LUM = 25.0
#: ... and the lit field then covers less than this share of the frame
SURROUND_MAX_FIELD = 0.95


def has_surround(measures: Mapping[str, float]) -> bool:
    """Whether the image is a whole-field photo in a dark surround (else a crop filling the frame)."""
    return measures["corner_lum"] <= SURROUND_MAX_LUM and measures["fov_frac"] <= SURROUND_MAX_FIELD


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

    Large photos are first subsampled by an integer stride to 2–4 times the
    target (cheap; the box-then-bilinear reduction that follows averages away
    most of the aliasing), then resized with Pillow; small images are enlarged
    so that every measure sees the same scale.
    """
    h, w = image.shape[:2]
    step = max(h, w) // (2 * ANALYSIS_SIDE)
    if step > 1:
        image = image[::step, ::step]
        h, w = image.shape[:2]
    scale = ANALYSIS_SIDE / max(h, w)
    size = (max(_MIN_SIDE, round(w * scale)), max(_MIN_SIDE, round(h * scale)))  # a sliver is stretched
    if size == (w, h):
        return np.ascontiguousarray(image)
    pil = Image.fromarray(np.ascontiguousarray(image))
    return np.asarray(pil.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0))


def _quantile(values: np.ndarray, q: float) -> float:
    return float(np.percentile(values, q)) if values.size else 0.0


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    return float((a * b).mean() / (a.std() * b.std() + 1e-6))


def _erode(mask: np.ndarray, size: int) -> np.ndarray:
    """Binary erosion by a ``size×size`` square (a separable minimum filter: fast)."""
    return _ndimage.minimum_filter(mask.view(np.uint8), size=size, mode="nearest").view(bool)


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """``mask`` plus every background region that does not touch the border (one labelling pass)."""
    labels, n = _ndimage.label(~mask)
    if n == 0:
        return mask
    outside = np.zeros(n + 1, dtype=bool)
    for edge in (labels[0], labels[-1], labels[:, 0], labels[:, -1]):
        outside[edge] = True
    outside[0] = False
    return ~outside[labels]


def _field(red: np.ndarray, green: np.ndarray, lum: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
    """Field of view (the largest region brighter than a camera's black surround) and its shape.

    Found and returned on the half-resolution grid ``[::2, ::2]``: its outline needs no more.
    """
    h, w = lum.shape
    red_green = np.maximum(red[::2, ::2], green[::2, ::2])
    # the surround of a fundus camera is near 0; a threshold relative to the bright end keeps dim photos whole
    threshold = float(np.clip(0.15 * _quantile(red_green, 95), 8, 25))
    bright = (red_green > threshold).view(np.uint8)
    sub = _ndimage.maximum_filter(_ndimage.minimum_filter(bright, 3), 3).view(bool)  # opening: drop specks
    if sub.any():
        sub = _fill_holes(largest_component(sub))
    out = {"fov_frac": float(sub.mean()), "fov_ellipse_iou": 0.0}
    ys, xs = np.nonzero(sub)
    if ys.size >= 16:
        cov = np.cov(np.stack([ys, xs]).astype(np.float32)) + 1e-3 * np.eye(2)
        inv = np.linalg.inv(cov)
        dy = np.arange(sub.shape[0], dtype=np.float32)[:, None] - ys.mean()
        dx = np.arange(sub.shape[1], dtype=np.float32)[None, :] - xs.mean()
        # the uniform ellipse with the field's second moments is {d^T cov^-1 d <= 4}
        ellipse = (inv[0, 0] * dy * dy + 2 * inv[0, 1] * dy * dx + inv[1, 1] * dx * dx) <= 4.0
        out["fov_ellipse_iou"] = float((ellipse & sub).sum() / max(1, (ellipse | sub).sum()))
    c = max(2, round(0.06 * min(h, w)))
    corners = (lum[:c, :c], lum[:c, -c:], lum[-c:, :c], lum[-c:, -c:])
    out["corner_lum"] = float(np.mean([corner.mean() for corner in corners]))
    return sub, out


def _full(half: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A half-resolution mask back at full resolution (each value repeated 2×2)."""
    return np.ascontiguousarray(np.repeat(np.repeat(half, 2, axis=0), 2, axis=1)[: shape[0], : shape[1]])


def _colour(red: np.ndarray, green: np.ndarray, blue: np.ndarray, idx: np.ndarray) -> dict[str, float]:
    """Colour of the field: channel ratios, R > G ≥ B share, mean hue and how concentrated hues are.

    Hue is the angle of the opponent vector (α, β) = (R − (G+B)/2, √3/2·(G − B));
    the sum of the vectors over their summed length is 1 when every pixel has
    the same hue and near 0 for a colour wheel (a chroma-weighted circular
    mean, without a per-pixel arctangent).
    """
    idx = idx[::2]  # every other field pixel: the same statistics at half the cost
    r, g, b = red.ravel()[idx], green.ravel()[idx], blue.ravel()[idx]
    mr, mg, mb = float(r.mean()), float(g.mean()), float(b.mean())
    alpha = r - 0.5 * (g + b)
    beta = 0.8660254 * (g - b)
    length = float(np.hypot(alpha, beta).sum())
    sa, sb = float(alpha.sum()), float(beta.sum())
    colourful = length > 8.0 * idx.size  # mean opponent length above ~8 grey levels
    return {
        "green_red": mg / (mr + 1.0),
        "blue_red": mb / (mr + 1.0),
        "red_order_frac": float(((r > g) & (g >= b - 2)).mean()),
        "hue_mean": float(np.degrees(np.arctan2(sb, sa))) if colourful else 0.0,
        "hue_concentration": float(np.hypot(sa, sb) / length) if colourful else 0.0,
    }


def _gradients(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Squared central differences along y and x (each ×4), zero on the border."""
    gy = np.zeros_like(x)
    gx = np.zeros_like(x)
    np.subtract(x[2:], x[:-2], out=gy[1:-1])
    np.subtract(x[:, 2:], x[:, :-2], out=gx[:, 1:-1])
    return gy * gy, gx * gx


def _blur_sigma(lum: np.ndarray, grad2: np.ndarray, interior: np.ndarray) -> float:
    """Blur of the sharpest edges, as a Gaussian σ in analysis pixels (re-blur method).

    A step edge blurred by σ has a peak gradient ∝ 1/σ; re-blurring it by s
    gives ∝ 1/√(σ²+s²). The ratio ``r`` of the 99th-percentile gradient
    before and after re-blurring therefore gives σ = s/√(r²−1) (the re-blur
    principle of Hu & de Haan, ICIP 2006, and Crété-Roffet et al., SPIE 2007).
    Capped at 50 when re-blurring changes nothing (no edges at all).
    """
    s = 2.0
    where = interior[::2]  # the 99th percentile of every other row is as good
    g0 = _quantile(grad2[::2][where], 99)
    gy2, gx2 = _gradients(_ndimage.gaussian_filter(lum, s, truncate=3.0))
    g1 = _quantile((gy2 + gx2)[::2][where], 99)
    ratio2 = g0 / max(g1, 1e-6)
    return float(min(50.0, s / np.sqrt(max(ratio2 - 1.0, 1e-4))))


def _illumination(lum: np.ndarray, mask: np.ndarray) -> float:
    """Darkest / brightest mean of the four half-fields of a smoothed, field-only brightness map."""
    k = 8  # 8×8 block means: illumination varies slowly
    hh, ww = lum.shape[0] // k * k, lum.shape[1] // k * k
    if hh < 2 * k or ww < 2 * k:
        return 1.0
    m = mask[:hh, :ww].astype(np.float32)
    weight = m.reshape(hh // k, k, ww // k, k).mean(axis=(1, 3))
    total = (lum[:hh, :ww] * m).reshape(hh // k, k, ww // k, k).mean(axis=(1, 3))
    field = _ndimage.gaussian_filter(total, 2.5) / np.maximum(_ndimage.gaussian_filter(weight, 2.5), 1e-3)
    inside = weight > 0.5
    ch, cw = field.shape[0] // 2, field.shape[1] // 2
    halves = (np.s_[:ch, :], np.s_[ch:, :], np.s_[:, :cw], np.s_[:, cw:])
    means = [float(field[h][inside[h]].mean()) for h in halves if inside[h].any()]
    if len(means) < 2:
        return 1.0
    return min(means) / (max(means) + 1.0)


def _disc(smooth: np.ndarray, where: np.ndarray) -> float:
    """Contrast of the brightest smooth spot (a fundus photo's optic disc) over the field's median."""
    med = float(np.median(smooth[where])) if where.any() else 0.0
    peak = float(smooth[where].max()) if where.any() else 0.0
    return (peak - med) / (med + 1.0)


def _layering(band: np.ndarray, where: np.ndarray) -> float:
    """Vertical over horizontal gradient energy of a band-pass image (> 1: structures run sideways).

    B-mode images are layered (skin, fat, glandular tissue run across the
    image) and their speckle is elongated sideways, because lateral
    resolution is coarser than axial; most photos and textures are near 1.
    """
    gy2, gx2 = _gradients(band)
    if not where.any():
        return 1.0
    return float(gy2[where].mean() / (gx2[where].mean() + 1e-3))


def _speckle(lum: np.ndarray, detail: np.ndarray, inner: np.ndarray) -> dict[str, float]:
    """Ultrasound speckle: local coefficient of variation, and its lateral vs axial correlation.

    B-mode speckle is grainy everywhere in tissue (local CV well above a
    photo's) and elongated sideways because lateral resolution is coarser than
    axial, so neighbouring detail values correlate more along rows than along
    columns (``speckle_lateral`` = row-wise minus column-wise correlation).
    """
    mu = _ndimage.uniform_filter(lum, 5)[::2, ::2]
    sd = np.sqrt(np.maximum(_ndimage.uniform_filter(lum * lum, 5)[::2, ::2] - mu * mu, 0.0))
    sel = inner[::2, ::2] & (mu > 20)
    cv = sd[sel] / mu[sel] if sel.sum() >= 25 else np.zeros(0)
    rows, cols = detail[::2], detail[:, ::2]
    rho_x = _corr(rows[:, :-1], rows[:, 1:])
    rho_y = _corr(cols[:-1], cols[1:])
    return {
        "local_cv": float(np.median(cv)) if cv.size else 0.0,
        "speckle_lateral": rho_x - rho_y,
    }


def measure_image(image: np.ndarray) -> dict[str, float]:
    """Every measure the input check uses, from a decoded image.

    Args:
        image: ``H×W×3`` uint8 RGB, or ``H×W`` grey (read as equal channels).

    Returns:
        Name → value, as in the table of this module's docstring; lengths in 1/256
        of the longest side, brightness in 0..255.

    Raises:
        ImageReadError: not a uint8 ``H×W×3`` / ``H×W`` array.
    """
    image = _check_image(image)
    small = downscale(image)
    red, green, blue = (small[..., c].astype(np.float32) for c in range(3))
    lum = 0.299 * red + 0.587 * green + 0.114 * blue  # ITU-R 601 luma, as Pillow's "L"
    chroma = np.maximum(np.maximum(red, green), blue) - np.minimum(np.minimum(red, green), blue)
    out: dict[str, float] = {"height": float(image.shape[0]), "width": float(image.shape[1])}
    out["min_side"] = float(min(image.shape[:2]))
    out["colour_frac"] = float((chroma > 24).mean())
    mask_half, field = _field(red, green, lum)
    out.update(field)
    inner_half = _erode(mask_half, 5)  # 4 pixels in from the field's rim (flare, JPEG ringing)
    if inner_half.sum() < 16:  # no usable field (black, featureless): measure the whole frame
        inner_half = np.ones_like(mask_half)
    interior_half = _erode(inner_half, 5)
    if interior_half.sum() < 16:
        interior_half = inner_half
    mask, inner, interior = (_full(m, lum.shape) for m in (mask_half, inner_half, interior_half))
    out.update(_colour(red, green, blue, np.flatnonzero(inner)))
    v = lum[inner]
    mean = float(v.mean())
    out["lum_mean"] = mean
    out["lum_p99"] = _quantile(v[::2], 99)
    out["lum_cv"] = float(v.std() / (mean + 1.0))
    # red saturates in many good fundus photos; green only when the exposure is too long
    out["saturated_frac"] = float((green[inner] >= 250).mean())
    out["lum_p95_all"] = _quantile(lum[::3, ::3], 95)
    smooth1 = _ndimage.gaussian_filter(lum, 1.0, truncate=3.0)
    detail = lum - smooth1
    out["texture_hf"] = float(np.abs(detail[inner]).mean() / (mean + 1.0))
    out.update(_speckle(lum, detail, inner))
    # half-resolution copies smoothed by σ 1 and 3 analysis pixels (σ 1.41 on the half grid: √(1 + 2.83²) ≈ 3)
    half1 = smooth1[::2, ::2]
    half3 = _ndimage.gaussian_filter(half1, 1.41, truncate=3.0)
    out["layering"] = _layering(half1 - half3, inner_half)
    out["disc_contrast"] = _disc(half3, inner_half)
    gy2, gx2 = _gradients(lum)
    out["blur_sigma"] = _blur_sigma(lum, gy2 + gx2, interior)
    # a photo with a camera surround is judged inside its field, a crop over the whole frame
    out["illum_balance"] = _illumination(lum, mask if has_surround(out) else np.ones_like(mask))
    return out
