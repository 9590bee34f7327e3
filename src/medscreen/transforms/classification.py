"""What a classifier sees: the glaucoma crop from a disc mask, and input normalisation.

Shared by training and inference so that both feed a model the same way
(numpy only; no torch).

The glaucoma crop: ACRIMA's published crops (the main training data) frame
the optic disc at about 2.2 disc diameters per side (measured by eye on a
sample of 24 ACRIMA and GRAPE ROI crops; the bundled disc model
under-segments those crops, so its diameters there cannot be trusted, while
on full photos its diameter matches IDRiD's ground truth within 1 %, median).
So the crop made from a full photo is a square of side ``k × predicted
diameter`` (``k =`` :data:`~medscreen.constants.GLAUCOMA_CROP_K` ``= 2.2``) centred on the predicted disc. GlaucoScreen's
"disc bounding box + 50 px" is available as ``framing="box+50"``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from medscreen.constants import GLAUCOMA_CROP_K
from medscreen.errors import ConfigError
from medscreen.transforms import _ndimage
from medscreen.transforms.geometry import (
    Box,
    DiscGeometry,
    centred_box,
    crop_box,
    field_mask,
    mask_geometry,
    resize,
    square_box,
)

__all__ = [
    "GLAUCOMA_CROP_K",
    "PREPROCESSING",
    "crop_view_box",
    "disc_pallor",
    "glaucoma_crop_box",
    "PALLOR_LOG_OFFSET",
    "glaucoma_crop",
    "normalise",
    "probabilities",
    "to_model_input",
]

Framing = Literal["diameter", "box+50"]
PREPROCESSING = ("none", "standardise", "local-contrast")


def glaucoma_crop_box(disc_mask: np.ndarray | None, framing: Framing = "diameter", k: float = GLAUCOMA_CROP_K,
                      margin_px: int = 50, *, geometry: DiscGeometry | None = None) -> Box | None:
    """The square crop box around a predicted disc, or None when the mask is empty.

    ``diameter``: side ``k ×`` the disc's equivalent diameter, centred on its
    centroid. ``box+50``: the disc's bounding box grown by ``margin_px`` on
    each side, squared on its centre (GlaucoScreen's crop; its framing depends
    on the photo's resolution). ``geometry``: the mask's
    :func:`~medscreen.transforms.geometry.mask_geometry` when already measured
    (``disc_mask`` is then not looked at).
    """
    geo = geometry if geometry is not None else mask_geometry(disc_mask)
    if geo is None:
        return None
    if framing == "diameter":
        return centred_box(geo.cy, geo.cx, k * geo.diameter)
    if framing == "box+50":
        side = max(geo.y1 - geo.y0, geo.x1 - geo.x0) + 2 * margin_px
        return centred_box((geo.y0 + geo.y1) / 2, (geo.x0 + geo.x1) / 2, side)
    raise ConfigError(f"unknown crop framing {framing!r}; choose 'diameter' or 'box+50'")


def crop_view_box(shape: tuple[int, ...], geometry: DiscGeometry | None, framing: Framing = "diameter",
                  k: float = GLAUCOMA_CROP_K, recrop_above_k: float | None = None) -> Box:
    """The box a classifier sees of an image that is already a disc-centred crop.

    The squared image, as the model was trained on such crops (ACRIMA's frame
    the disc at 1.7 predicted disc diameters, GRAPE's ROI crops at 1.8) —
    unless the crop is wider than ``recrop_above_k`` disc diameters (another
    dataset's framing), when it is re-framed like a full photo at ``k``
    around ``geometry``'s disc. Measured (``benchmarks/glaucoma_framing.py``,
    held-out HYGD eyes cropped at k diameters and screened as crops): the
    shipped glaucoma model's AUC is 0.93 at 2.2, 0.96 at 3, 0.79 at 4 and 0.72
    at 5 diameters taken as they are, 0.87 and 0.88 at 4 and 5 re-framed.
    """
    h, w = shape[:2]
    if recrop_above_k is not None and geometry is not None and max(h, w) > recrop_above_k * geometry.diameter:
        box = glaucoma_crop_box(None, framing, k, geometry=geometry)
        if box is not None:
            return box
    return square_box((0, 0, h, w))


def glaucoma_crop(rgb: np.ndarray, disc_mask: np.ndarray, framing: Framing = "diameter",
                  k: float = GLAUCOMA_CROP_K) -> np.ndarray | None:
    """Crop a fundus photo around its predicted disc (zero-padded at the border); None without a disc."""
    box = glaucoma_crop_box(disc_mask, framing, k)
    return None if box is None else crop_box(rgb, box)


def normalise(chw: np.ndarray, method: str) -> np.ndarray:
    """Normalise a ``C×H×W`` float image in [0, 1] for the network.

    ``none``: unchanged. ``standardise``: each channel to zero mean and unit
    variance over the image — removes a camera's colour cast and exposure.
    ``local-contrast``: each channel minus its Gaussian blur (σ = side/30),
    × 4 — keeps edges (disc rim, cup, vessels) and removes slow illumination
    and colour differences between cameras (Graham's fundus preprocessing,
    Kaggle diabetic retinopathy 2015). Hand-written because no installed
    library offers either as a pure-numpy function used identically at
    training and inference time.
    """
    x = np.asarray(chw, dtype=np.float32)
    if method == "none":
        return x
    if method == "standardise":
        mean = x.mean(axis=(1, 2), keepdims=True)
        std = x.std(axis=(1, 2), keepdims=True)
        return (x - mean) / np.maximum(std, 1e-3)
    if method == "local-contrast":
        sigma = max(x.shape[1:]) / 30.0
        blurred = np.stack([_ndimage.gaussian_filter(c, sigma, mode="reflect") for c in x])
        return 4.0 * (x - blurred)
    raise ConfigError(f"unknown preprocessing {method!r}; choose one of {', '.join(PREPROCESSING)}")


def to_model_input(image: np.ndarray, size: int, method: str) -> np.ndarray:
    """uint8 ``H×W`` or ``H×W×C`` image → normalised float32 ``C×size×size``."""
    if image.ndim == 2:
        image = image[..., None]
    chw = resize(image, (size, size)).reshape(size, size, -1).transpose(2, 0, 1).astype(np.float32) / 255.0
    return normalise(chw, method)


#: grey levels added before the logarithm of :func:`disc_pallor`'s ``log`` scale (dark pixels stay finite)
PALLOR_LOG_OFFSET = 8.0
_LINEAR_GREEN = np.arange(256, dtype=np.float64)
_LOG_GREEN = np.log(_LINEAR_GREEN + PALLOR_LOG_OFFSET)


def disc_pallor(image: np.ndarray, radius: float, scale: Literal["linear", "log"] = "linear") -> float:
    """How pale the disc is against the rest of its crop: the mean z-score of the green channel in a central circle.

    ``image``: a disc-centred RGB crop (uint8 ``H×W×3``); ``radius``: the circle's radius as a
    fraction of the crop's shorter side — ``1 / (2 k)`` is the disc's own radius in a crop of ``k``
    disc diameters. The green channel is standardised over the crop's field of view, so exposure and
    colour gain (what differs most between cameras) cancel out, and what is left is how much brighter
    the disc is than the retina around it: a cup that has grown makes the disc paler.
    ``scale="log"`` standardises ``log(green + 8)`` instead: a camera's gamma curve (green → a ·
    green^γ) then cancels out too, not only its gain and offset.

    Only pixels inside the field of view count (:func:`~medscreen.transforms.geometry.field_mask`): the
    black surround of the camera and the crop's zero padding would otherwise weigh in, and how much of
    it a crop holds says where the disc sits in the photo, not how pale it is. On HYGD that is a
    confound (its normal eyes' discs sit nearer the field's edge): counted in, the black edge alone
    would rank HYGD's glaucoma at AUC 0.87. A circle with no pixel in the field gives 0 (no evidence).

    Why it exists: the glaucoma network sees its crop after ``local-contrast`` preprocessing, which
    removes exactly this slow brightness difference. Measured on the classifier's crops with no
    training at all (``radius`` 1/4.4, ``log``; the glaucoma card's commands): AUC 0.736 on ACRIMA,
    0.670 on HYGD, and 0.789 for GRAPE's glaucomatous eyes against IDRiD's photos. Written by hand: a masked mean of a
    standardised channel, which no library offers as one call.

    Raises:
        ConfigError: not an RGB image, a radius outside (0, 0.5], or an unknown scale.
    """
    if image.ndim != 3 or image.shape[2] < 3:
        raise ConfigError(f"disc pallor needs an RGB crop (H×W×3), got an array of shape {image.shape}")
    if not 0.0 < radius <= 0.5:
        raise ConfigError(f"disc pallor radius {radius} must be a fraction of the crop side in (0, 0.5]")
    if scale not in ("linear", "log"):
        raise ConfigError(f"disc pallor scale {scale!r} must be 'linear' or 'log'")
    field = field_mask(image)
    green = (_LOG_GREEN if scale == "log" else _LINEAR_GREEN)[image[..., 1]]  # uint8 → float64 by table lookup
    h, w = green.shape
    yy, xx = np.ogrid[:h, :w]
    inside = ((yy - (h - 1) / 2.0) ** 2 + (xx - (w - 1) / 2.0) ** 2 < (radius * min(h, w)) ** 2) & field
    if not inside.any():
        return 0.0
    values = green[field]
    return float((green[inside].mean() - values.mean()) / max(float(values.std()), 1e-6))


def probabilities(logits: np.ndarray) -> np.ndarray:
    """``N×1`` logits → ``N`` positive-class probabilities; ``N×K`` → row-wise softmax."""
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim == 2 and logits.shape[1] == 1:
        return 1.0 / (1.0 + np.exp(-logits[:, 0]))
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)
