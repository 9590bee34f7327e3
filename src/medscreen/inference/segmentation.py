"""Segmentation inference on whole images: preprocessing, coarse-to-fine disc, lesion masks.

Works with any :data:`~medscreen.inference.runtime.Runner` (ONNX Runtime for
screening, a PyTorch module for research), so both backends share one code
path and give the same masks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from medscreen.inference.runtime import ModelSpec, Runner
from medscreen.transforms.geometry import (
    Box,
    centred_box,
    crop_box,
    fov_box,
    largest_component,
    mask_geometry,
    paste_box,
    resize,
    square_box,
)

__all__ = ["SegmentationOutput", "predict_in_box", "segment_disc", "segment_lesion"]


@dataclass
class SegmentationOutput:
    """A mask at the input image's resolution, the probability map and the boxes looked at."""

    mask: np.ndarray
    probability: np.ndarray
    boxes: list[Box]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -40, 40)))


def _to_batch(images: list[np.ndarray]) -> np.ndarray:
    arr = np.stack([im if im.ndim == 3 else im[..., None] for im in images]).astype(np.float32) / 255.0
    return arr.transpose(0, 3, 1, 2)


def predict_in_box(image: np.ndarray, box: Box, runner: Runner, spec: ModelSpec) -> np.ndarray:
    """Probability map of ``box`` of ``image`` (zero-padded), pasted back at image resolution."""
    s = spec.input_size
    crop = resize(crop_box(image, box), (s, s))
    prob = _sigmoid(runner(_to_batch([crop]))[0, 0]).astype(np.float32)
    prob = resize(prob, (box[2] - box[0], box[3] - box[1]))
    return paste_box(prob, box, image.shape[:2])


def _locate(prob: np.ndarray, threshold: float) -> np.ndarray | None:
    """The most probable disc region: the component of ``prob > t`` holding the most probability mass.

    ``t`` is the model threshold, lowered towards the map's peak when nothing
    passes it (a faint disc on an unfamiliar camera is still the likeliest place).
    """
    peak = float(prob.max())
    if peak < 0.05:
        return None
    labels, n = ndimage.label(prob > min(threshold, 0.5 * peak))
    if n == 0:
        return None
    mass = ndimage.sum(prob, labels, index=np.arange(1, n + 1))
    return labels == (int(np.argmax(mass)) + 1)


def segment_disc(rgb: np.ndarray, runner: Runner, spec: ModelSpec) -> SegmentationOutput:
    """Optic disc of a fundus photo, full field or disc-centred crop alike.

    Pass 1 looks at the squared field of view at the model's input size and
    locates the disc (:func:`_locate`); pass 2 looks again at a square around
    it of side ``max(refine_k × diameter, min_refine × field of view)`` — so
    an under-estimated first disc still gets a window that holds all of it —
    and the final mask is the pass-2 component with the most probability mass.
    """
    threshold = spec.threshold
    box1 = square_box(fov_box(rgb))
    prob = predict_in_box(rgb, box1, runner, spec)
    boxes = [box1]
    region = _locate(prob, threshold)
    geo = mask_geometry(region) if region is not None else None
    if geo is not None:
        fov_side = box1[2] - box1[0]
        k, floor = float(spec.params.get("refine_k", 3.0)), float(spec.params.get("min_refine", 0.35))
        side = max(int(k * geo["diameter"]), int(floor * fov_side), 32)
        box2 = centred_box(geo["cy"], geo["cx"], side)
        prob2 = predict_in_box(rgb, box2, runner, spec)
        inside = paste_box(np.ones((side, side), bool), box2, rgb.shape[:2])
        prob = np.where(inside, prob2, 0.0).astype(np.float32)
        boxes.append(box2)
    final = _locate(prob, threshold) if geo is not None else None
    mask = (final & (prob > threshold)) if final is not None else np.zeros(rgb.shape[:2], bool)
    return SegmentationOutput(largest_component(mask), prob, boxes)


def segment_lesion(grey: np.ndarray, runner: Runner, spec: ModelSpec) -> SegmentationOutput:
    """Lesion mask of a grey ultrasound image (resized to the input size, as trained).

    Components smaller than ``min_area_fraction`` of the image are dropped
    (speckle), which keeps normal images empty.
    """
    h, w = grey.shape[:2]
    prob = predict_in_box(grey, (0, 0, h, w), runner, spec)
    mask = prob > spec.threshold
    min_area = float(spec.params.get("min_area_fraction", 0.0)) * h * w
    if min_area > 0 and mask.any():
        labels, n = ndimage.label(mask)
        sizes = np.bincount(labels.ravel())
        keep = np.nonzero(sizes >= min_area)[0]
        mask = np.isin(labels, keep[keep > 0])
    return SegmentationOutput(mask, prob, [(0, 0, h, w)])
