"""Overlay PNGs: truth and prediction outlines drawn on the image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from medscreen.transforms import _ndimage

__all__ = ["draw_outlines", "save_overlay"]


def _outline(mask: np.ndarray, width: int) -> np.ndarray:
    """The mask minus its erosion, computed only around the mask (a disc is ~1 % of a photo)."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    out = np.zeros_like(mask)
    if rows.size == 0:
        return out
    pad = max(1, width) + 1
    part = (slice(max(rows[0] - pad, 0), rows[-1] + pad + 1), slice(max(cols[0] - pad, 0), cols[-1] + pad + 1))
    region = mask[part]
    out[part] = region & ~_ndimage.binary_erosion(region, iterations=max(1, width))
    return out


def draw_outlines(image: np.ndarray, outlines: list[tuple[np.ndarray, tuple[int, int, int]]]) -> np.ndarray:
    """RGB copy of ``image`` with each boolean mask's outline drawn in its colour."""
    rgb = np.repeat(image[..., None], 3, axis=-1) if image.ndim == 2 else image[..., :3].copy()
    width = max(1, min(rgb.shape[:2]) // 300)
    for mask, colour in outlines:
        if mask.shape == rgb.shape[:2] and mask.any():
            rgb[_outline(mask.astype(bool), width)] = colour
    return rgb


def save_overlay(path: Path, image: np.ndarray, truth: np.ndarray | None, pred: np.ndarray, *, max_side: int = 800) -> Path:
    """Save truth (green) and prediction (magenta) outlines on ``image``, downscaled to ``max_side``."""
    outlines = [(pred, (255, 0, 255))]
    if truth is not None:
        outlines.insert(0, (truth, (0, 255, 0)))
    im = Image.fromarray(draw_outlines(image, outlines))
    im.thumbnail((max_side, max_side))
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path)
    return path
