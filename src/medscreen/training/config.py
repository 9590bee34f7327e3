"""Training configuration: the whole run in one visible, saved object."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

__all__ = ["SegmentationConfig"]


class SegmentationConfig(BaseModel):
    """Everything that defines a segmentation run; saved as ``config.json`` in the run folder."""

    task: Literal["disc", "lesion"]
    arch: str = "compact"
    norm: Literal["batch", "instance"] = "batch"
    loss: Literal["dice", "bce", "dice+bce"] = "dice+bce"
    input_size: int = Field(256, ge=32, description="Model input side in pixels (multiple of 16).")
    cache_side: int = Field(1024, ge=64, description="Fundus photos are cached at this side before framing.")
    epochs: int = Field(60, ge=1)
    batch_size: int = Field(8, ge=1)
    lr: float = Field(1e-3, gt=0, description="Adam learning rate (both seeds: 1e-3).")
    plateau_patience: int = Field(4, ge=1, description="Epochs without val IoU gain before the LR is reduced.")
    early_stop_patience: int = Field(12, ge=1, description="Epochs without val IoU gain before training stops.")
    repeats: int = Field(1, ge=1, description="Times each training image is visited per epoch.")
    val_fraction: float = Field(0.2, gt=0, lt=1)
    seed: int = 42
    threshold: float = Field(0.5, gt=0, lt=1)
    max_images: int | None = Field(None, ge=2, description="Use only this many images (smoke tests).")
    num_workers: int = Field(0, ge=0)
    accelerator: str = "auto"
