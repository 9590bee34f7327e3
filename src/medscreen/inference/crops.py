"""Write the classifier's disc crops once, as files plus a manifest: a compact, reusable training cache.

Finding the disc in a full photo costs ~0.1 s; a training run, each fold of a
cross-validation and each leave-one-source-out run would otherwise repeat it
for every photo. :func:`write_disc_crops` runs the disc stage once per image
(as the screening pipeline does: full photos are cropped around the found
disc, published crops are only squared) and writes

* ``images/<dataset>/<key>.jpg`` — the crop at ``size`` px (JPEG q95),
* ``manifest.csv`` — every crop, with label, patient, dataset, key and
  ``source_sha256`` (its photo's digest: a model trained on the crops records
  the photos, which is what ``evaluate`` is given), and
* ``manifest_<dataset>.csv`` — each source alone (leave-one-source-out runs),
* ``skipped.csv`` — images left out, with the reason: no disc found (never
  guessed) or unreadable (the file is named; one bad file does not stop the run),
* ``crops.json`` — the disc model's SHA-256, framing, size and counts.

The folder is small (≈25 kB a crop) and self-contained, so it is also what a
GPU machine is given to train from.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from PIL import Image

from medscreen.constants import GLAUCOMA_CROP_K
from medscreen.datasets.manifest import SOURCE_DIGEST_COLUMN, write_manifest
from medscreen.datasets.records import Record
from medscreen.errors import ConfigError, ImageReadError
from medscreen.inference.classification import disc_masker, fundus_crop
from medscreen.inference.runtime import bundled_model_path, load_onnx_model
from medscreen.io.images import file_sha256, read_image
from medscreen.transforms.geometry import resize

__all__ = ["CROP_DATASETS", "record_is_crop", "write_disc_crops"]

#: datasets whose published images are already disc-centred crops
CROP_DATASETS = frozenset({"acrima"})


def record_is_crop(record: Record) -> bool:
    """Whether ``record``'s image is a published disc crop (ACRIMA, GRAPE's ``ROI images``) rather than a photo."""
    if record.dataset in CROP_DATASETS:
        return True
    return record.dataset == "grape" and "roi" in record.image.parent.name.casefold()


def write_disc_crops(
    records: Sequence[Record],
    out_dir: Path,
    *,
    disc_model: Path | None = None,
    size: int = 256,
    framing: str = "diameter",
    k: float = GLAUCOMA_CROP_K,
    on_progress: Callable[[int], None] | None = None,
) -> Path:
    """Crop the disc of every record into ``out_dir`` and return the path of ``manifest.csv``.

    Args:
        records: labelled fundus records (full photos and/or published crops).
        out_dir: a new or empty folder.
        disc_model: ONNX disc model (default: the bundled one).
        size: side of the written crops in pixels.
        framing, k: the crop's framing, as the classifier's card (``diameter``: ``k`` disc diameters).

    Raises:
        ConfigError: ``out_dir`` is not empty, or no record could be cropped.
        ModelError: the disc model cannot be loaded.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise ConfigError(f"{out_dir} is not empty; choose a new --out folder for the crops")
    model_path = Path(disc_model) if disc_model else bundled_model_path("disc")
    disc = disc_masker(model_path)
    kept: list[Record] = []
    sources: list[str] = []  # each crop's source photo's SHA-256, so that a model card names the photos
    skipped: list[tuple[Record, str]] = []
    for i, r in enumerate(records):
        try:
            crop = fundus_crop(read_image(r.image, mode="rgb"), is_crop=record_is_crop(r), framing=framing, k=k,
                               disc=disc)
        except ImageReadError as exc:
            crop, reason = None, f"unreadable: {exc}"
        else:
            reason = "no optic disc found"
        if crop is None:
            skipped.append((r, reason))
        else:
            path = out_dir / "images" / r.dataset / f"{r.key or r.image.stem}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(resize(crop, (size, size))).save(path, quality=95)
            kept.append(replace(r, image=path, masks=()))
            sources.append(file_sha256(r.image))
        if on_progress:
            on_progress(i + 1)
    if not kept:
        raise ConfigError(f"none of the {len(records)} images gave a crop ({skipped[0][1]} …); are these fundus photos?")
    manifest = write_manifest(kept, out_dir / "manifest.csv", extra={SOURCE_DIGEST_COLUMN: sources})
    for dataset in sorted({r.dataset for r in kept}):
        write_manifest([r for r in kept if r.dataset == dataset], out_dir / f"manifest_{dataset}.csv",
                       extra={SOURCE_DIGEST_COLUMN: [d for r, d in zip(kept, sources, strict=True)
                                                     if r.dataset == dataset]})
    with open(out_dir / "skipped.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["image", "dataset", "label", "reason"])
        writer.writerows([str(r.image), r.dataset, r.label, reason] for r, reason in skipped)
    counts: dict[str, dict[str, int]] = {}
    for r in kept:
        counts.setdefault(r.dataset, {}).setdefault(str(r.label), 0)
        counts[r.dataset][str(r.label)] += 1
    (out_dir / "crops.json").write_text(json.dumps({
        "disc_model": str(model_path), "disc_model_sha256": load_onnx_model(str(model_path)).sha256, "size": size,
        "framing": framing, "crop_k": k, "n": len(kept), "n_skipped": len(skipped), "counts": counts,
    }, indent=2))
    logging.getLogger(__name__).info("wrote %d crops to %s (%d skipped)", len(kept), out_dir, len(skipped))
    return manifest
