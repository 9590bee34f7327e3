"""Fixture builders shared by several test modules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from medscreen.datasets.records import Record


def make_blob_records(root: Path, n: int = 8, size: int = 64, rgb: bool = False) -> list[Record]:
    """Images with one bright disc each and its mask; one patient per image."""
    rng = np.random.default_rng(0)
    records = []
    for i in range(n):
        yy, xx = np.mgrid[:size, :size]
        cy, cx, r = rng.integers(16, size - 16, 2).tolist() + [int(rng.integers(6, 12))]
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 < r**2
        img = (rng.normal(60, 10, (size, size)) + 150 * mask).clip(0, 255).astype(np.uint8)
        if rgb:
            img = np.stack([img, (img * 0.6).astype(np.uint8), (img * 0.3).astype(np.uint8)], -1)
        Image.fromarray(img).save(root / f"im{i}.png")
        Image.fromarray(mask.astype(np.uint8) * 255).save(root / f"im{i}_mask.png")
        records.append(Record(root / f"im{i}.png", (root / f"im{i}_mask.png",), "benign", f"p{i}", "fixture", f"im{i}"))
    return records


def make_class_records(
    root: Path,
    n_patients: int = 8,
    per_patient: int = 2,
    size: int = 32,
    labels: tuple[str, str] = ("normal", "glaucoma"),
    dataset: str = "fixture",
) -> list[Record]:
    """RGB PNG 'crops', dark for ``labels[0]`` and bright for ``labels[1]``; patients alternate between them."""
    rng = np.random.default_rng(1)
    records = []
    for p in range(n_patients):
        label = labels[p % 2]
        for j in range(per_patient):
            level = 70 if label == labels[0] else 180
            img = rng.normal(level, 25, (size, size, 3)).clip(0, 255).astype(np.uint8)
            path = root / f"p{p}_{j}.png"
            Image.fromarray(img).save(path)
            records.append(Record(path, (), label, f"p{p}", dataset, f"p{p}_{j}"))
    return records
