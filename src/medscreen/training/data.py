"""Training data for segmentation: decode once, cache small, frame and augment per sample.

Decoding a 1600-px fundus JPEG takes longer than a training step on CPU, so
every image is decoded once and kept in memory at a working resolution:
fundus photos as their field of view squared at ``cache_side`` pixels,
ultrasound images resized to the model's input size.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from medscreen.datasets.records import Record
from medscreen.errors import ImageReadError
from medscreen.io.images import read_image, read_mask
from medscreen.transforms.geometry import centred_box, crop_box, fov_box, mask_geometry, resize, square_box
from medscreen.tasks import TASKS

__all__ = ["CachedImage", "load_cached", "DiscFramer", "SegmentationDataset", "fixed_disc_views"]

log = logging.getLogger(__name__)


@dataclass
class CachedImage:
    """One decoded training image (uint8 ``H×W×C``) and its boolean mask."""

    image: np.ndarray
    mask: np.ndarray
    key: str


def prepare_fundus(rgb: np.ndarray, side: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Square the field of view of a fundus photo and resize it to ``side``; returns image and box."""
    box = square_box(fov_box(rgb))
    return resize(crop_box(rgb, box), (side, side)), box


def prepare_ultrasound(grey: np.ndarray, side: int) -> np.ndarray:
    """Resize a grey ultrasound image to ``side × side`` (as the breast seed), channel last."""
    return resize(grey, (side, side))[..., None]


def _same_size(record: Record, image: np.ndarray, mask: np.ndarray | None) -> None:
    if mask is not None and mask.shape != image.shape[:2]:
        raise ImageReadError(
            f"{record.masks[0]}: mask is {mask.shape[1]}×{mask.shape[0]} but image {record.image.name} is "
            f"{image.shape[1]}×{image.shape[0]}; masks must have their image's size (run `medscreen data check`)"
        )


def load_cached(records: Sequence[Record], task: str, side: int) -> list[CachedImage]:
    """Decode ``records`` once into :class:`CachedImage` (fundus: FOV square; ultrasound: resized)."""
    out: list[CachedImage] = []
    for r in records:
        mask = read_mask(r.masks) if r.masks else None
        if TASKS[task].modality == "fundus":
            rgb = read_image(r.image, mode="rgb")
            _same_size(r, rgb, mask)
            mask = mask if mask is not None else np.zeros(rgb.shape[:2], bool)
            image, box = prepare_fundus(rgb, side)
            mask = resize(crop_box(mask, box), (side, side), nearest=True)
        else:
            grey = read_image(r.image, mode="gray")
            _same_size(r, grey, mask)
            mask = mask if mask is not None else np.zeros(grey.shape, bool)
            image = prepare_ultrasound(grey, side)
            mask = resize(mask, (side, side), nearest=True)
        out.append(CachedImage(image, mask, r.key or r.image.stem))
    log.info("cached %d %s images at %d px", len(out), task, side)
    return out


class DiscFramer:
    """Random framing of a fundus photo so the disc model sees every scale it meets.

    With probability ``p_full`` the whole field of view; otherwise a square
    around the disc of side ``k × disc diameter``, ``k`` log-uniform in
    ``k_range``, its centre jittered — from tight disc crops (ACRIMA-like) to
    wide views. This is the scale augmentation that lets one model segment
    full photos and disc-centred crops alike.
    """

    def __init__(self, p_full: float = 0.35, k_range: tuple[float, float] = (1.4, 7.0), jitter: float = 0.25):
        self.p_full, self.k_range, self.jitter = p_full, k_range, jitter

    def __call__(self, item: CachedImage, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        geo = mask_geometry(item.mask)
        if geo is None or rng.random() < self.p_full:
            return item.image, item.mask
        k = float(np.exp(rng.uniform(*np.log(self.k_range))))
        side = k * geo.diameter
        cy = geo.cy + rng.uniform(-self.jitter, self.jitter) * side
        cx = geo.cx + rng.uniform(-self.jitter, self.jitter) * side
        box = centred_box(cy, cx, side)
        return crop_box(item.image, box), crop_box(item.mask, box)


def fixed_disc_views(items: Sequence[CachedImage], ks: Sequence[float] = (2.5, 4.0)) -> list[CachedImage]:
    """Deterministic validation views: each full field plus disc-centred crops of side ``k × diameter``."""
    views: list[CachedImage] = []
    for item in items:
        views.append(item)
        geo = mask_geometry(item.mask)
        if geo is None:
            continue
        for k in ks:
            box = centred_box(geo.cy, geo.cx, k * geo.diameter)
            views.append(CachedImage(crop_box(item.image, box), crop_box(item.mask, box), f"{item.key}@crop{k:g}"))
    return views


class SegmentationDataset(Dataset):
    """Torch dataset over cached images: frame → resize to ``size`` → augment → tensors.

    Each item is ``{"image": C×H×W float32 in [0,1], "label": 1×H×W float32 {0,1}}``.
    ``repeats`` visits each image several times per epoch (small datasets).
    """

    def __init__(
        self,
        items: Sequence[CachedImage],
        size: int,
        *,
        framer: Callable[[CachedImage, np.random.Generator], tuple[np.ndarray, np.ndarray]] | None = None,
        augment: Callable[[dict], dict] | None = None,
        repeats: int = 1,
        seed: int = 0,
    ):
        self.items, self.size, self.framer, self.augment = list(items), size, framer, augment
        self.repeats = max(1, repeats)
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.items) * self.repeats

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = self.items[index % len(self.items)]
        image, mask = self.framer(item, self.rng) if self.framer else (item.image, item.mask)
        image = resize(image, (self.size, self.size))
        mask = resize(mask, (self.size, self.size), nearest=True)
        sample = {
            "image": np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32) / 255.0,
            "label": mask[None].astype(np.float32),
        }
        if self.augment is not None:
            sample = self.augment(sample)
        img = torch.as_tensor(np.asarray(sample["image"]), dtype=torch.float32).clamp_(0.0, 1.0)
        lab = (torch.as_tensor(np.asarray(sample["label"]), dtype=torch.float32) > 0.5).float()
        return {"image": img, "label": lab}
