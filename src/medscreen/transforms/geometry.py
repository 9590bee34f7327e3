"""Field-of-view, square framing and resizing of images and masks (NumPy + Pillow only).

Used by training, by the ONNX predictors and by the screening pipelines, so it
must not import torch. Boxes are ``(y0, x0, y1, x1)`` in pixels, end-exclusive,
and may extend past the image: :func:`crop_box` pads with zeros there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from medscreen.transforms import _ndimage

__all__ = [
    "Box",
    "DiscGeometry",
    "field_mask",
    "fov_box",
    "square_box",
    "crop_box",
    "resize",
    "paste_box",
    "largest_component",
    "mask_geometry",
    "centred_box",
]

Box = tuple[int, int, int, int]


#: grey level above which a fundus pixel belongs to the field of view (the camera's black surround is near zero)
FIELD_LEVEL = 20


def field_mask(rgb: np.ndarray, *, threshold: int = FIELD_LEVEL) -> np.ndarray:
    """Pixels of a fundus image inside the camera's field of view: red or green above ``threshold``.

    ``rgb``: ``H×W×3`` (or ``H×W``) uint8. Zero padding of a crop falls outside too.
    """
    # np.maximum of two planes: the same as a max over the channel axis, several times faster on uint8
    return (rgb if rgb.ndim == 2 else np.maximum(rgb[..., 0], rgb[..., 1])) > threshold


def fov_box(rgb: np.ndarray, *, threshold: int = FIELD_LEVEL) -> Box:
    """Bounding box of a fundus photo's circular field of view.

    The field of view is the largest connected region brighter than
    ``threshold`` in the red+green channels (the black surround of fundus
    cameras is near zero). A disc-centred crop with no surround gives the
    whole image.

    Args:
        rgb: ``H×W×3`` (or ``H×W``) uint8 image.
        threshold: grey level above which a pixel belongs to the field of view.

    Returns:
        The box ``(y0, x0, y1, x1)``; the whole image when nothing is found.
    """
    h, w = rgb.shape[:2]
    step = max(1, min(h, w) // 256)  # the box needs no full resolution
    sub = rgb[::step, ::step]
    small = field_mask(sub, threshold=threshold)
    if not small.any():
        return (0, 0, h, w)
    region = largest_component(small)
    ys, xs = np.nonzero(region)
    y0, y1 = ys.min() * step, min(h, (ys.max() + 1) * step)
    x0, x1 = xs.min() * step, min(w, (xs.max() + 1) * step)
    if (y1 - y0) * (x1 - x0) < 0.25 * h * w:  # implausibly small: keep the whole image
        return (0, 0, h, w)
    return (int(y0), int(x0), int(y1), int(x1))


def square_box(box: Box, *, scale: float = 1.0, center: tuple[float, float] | None = None) -> Box:
    """The square of side ``scale × max(box height, width)`` centred on the box (or ``center``)."""
    y0, x0, y1, x1 = box
    side = max(1, int(round(max(y1 - y0, x1 - x0) * scale)))
    cy, cx = center if center is not None else ((y0 + y1) / 2, (x0 + x1) / 2)
    top, left = int(round(cy - side / 2)), int(round(cx - side / 2))
    return (top, left, top + side, left + side)


def crop_box(array: np.ndarray, box: Box) -> np.ndarray:
    """Crop ``array`` (``H×W`` or ``H×W×C``) to ``box``, zero-padding outside the image."""
    y0, x0, y1, x1 = box
    h, w = array.shape[:2]
    out = np.zeros((y1 - y0, x1 - x0, *array.shape[2:]), dtype=array.dtype)
    sy0, sx0, sy1, sx1 = max(y0, 0), max(x0, 0), min(y1, h), min(x1, w)
    if sy1 > sy0 and sx1 > sx0:
        out[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = array[sy0:sy1, sx0:sx1]
    return out


def paste_box(values: np.ndarray, box: Box, shape: tuple[int, int]) -> np.ndarray:
    """Inverse of :func:`crop_box`: place ``values`` (box-sized) into a zero array of ``shape``."""
    y0, x0, y1, x1 = box
    out = np.zeros(shape + values.shape[2:], dtype=values.dtype)
    sy0, sx0, sy1, sx1 = max(y0, 0), max(x0, 0), min(y1, shape[0]), min(x1, shape[1])
    if sy1 > sy0 and sx1 > sx0:
        out[sy0:sy1, sx0:sx1] = values[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0]
    return out


def resize(array: np.ndarray, size: tuple[int, int], *, nearest: bool = False,
           reducing_gap: float | None = None) -> np.ndarray:
    """Resize an ``H×W[×C]`` uint8/bool/float32 array to ``size = (height, width)``.

    Pillow is used rather than MONAI's ``Resize`` so inference needs no torch;
    bilinear for images, nearest for masks and label maps. ``reducing_gap``
    (uint8 images): Pillow's two-step shrink, first by a whole factor, then
    bilinear — about twice as fast for a full photo shrunk to a model's input,
    within 3 grey levels of the one-step result (mean 0.16 on scikit-image's
    retina, 1,411 → 256 px).
    """
    h, w = size
    if array.shape[:2] == (h, w):
        return array.copy()
    if array.ndim == 3 and array.shape[2] == 1:  # Pillow has no one-channel-last mode
        return resize(array[..., 0], size, nearest=nearest)[..., None]
    method = Image.Resampling.NEAREST if nearest else Image.Resampling.BILINEAR
    if array.dtype == bool:
        return np.asarray(Image.fromarray(array.astype(np.uint8) * 255).resize((w, h), method)) > 127
    if array.dtype == np.float32:
        if array.ndim == 3:
            return np.stack([resize(array[..., c], size, nearest=nearest) for c in range(array.shape[2])], -1)
        return np.asarray(Image.fromarray(array, mode="F").resize((w, h), method), dtype=np.float32)
    return np.asarray(Image.fromarray(array).resize((w, h), method, reducing_gap=None if nearest else reducing_gap))


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 8-connected component of a boolean mask (empty stays empty)."""
    labels, n = _ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if n <= 1:
        return mask.astype(bool)
    sizes = np.bincount(labels.ravel())[1:]
    return labels == (int(np.argmax(sizes)) + 1)


@dataclass(frozen=True)
class DiscGeometry:
    """Centre, equivalent diameter, area and bounding box of a mask, in pixels (``x`` right, ``y`` down).

    ``diameter`` is the diameter of the circle with the mask's area; the box
    ``(y0, x0, y1, x1)`` is end-exclusive like :data:`Box`, in float.
    """

    cx: float
    cy: float
    diameter: float
    area: float
    y0: float
    x0: float
    y1: float
    x1: float

    def shifted(self, dy: float, dx: float) -> DiscGeometry:
        """The same geometry in a frame whose origin lies at ``(-dy, -dx)`` (a window's offset added)."""
        return DiscGeometry(self.cx + dx, self.cy + dy, self.diameter, self.area,
                            self.y0 + dy, self.x0 + dx, self.y1 + dy, self.x1 + dx)

    def bbox_xyxy(self) -> list[int]:
        """The bounding box as integer ``[x0, y0, x1, y1]`` (the result schema's order)."""
        return [int(self.x0), int(self.y0), int(self.x1), int(self.y1)]


def mask_geometry(mask: np.ndarray) -> DiscGeometry | None:
    """Centre (x, y), equivalent diameter, area and bounding box of a boolean mask.

    Returns:
        A :class:`DiscGeometry` in pixels, or ``None`` when the mask is empty.
    """
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return None
    area = float(ys.size)
    return DiscGeometry(
        cx=float(xs.mean()),
        cy=float(ys.mean()),
        diameter=float(2.0 * np.sqrt(area / np.pi)),
        area=area,
        y0=float(ys.min()),
        x0=float(xs.min()),
        y1=float(ys.max() + 1),
        x1=float(xs.max() + 1),
    )


def centred_box(cy: float, cx: float, side: float) -> Box:
    """The square of ``side`` pixels centred on ``(cy, cx)`` (may extend past the image)."""
    side = max(1, int(side))
    top, left = int(round(cy - side / 2)), int(round(cx - side / 2))
    return (top, left, top + side, left + side)
