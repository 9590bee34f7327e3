"""Disc masks for photos from other cameras, made where the disc's position is known: a training manifest.

IDRiD (one camera) is the only fundus set here with disc masks. GRAPE's photos
(``benchmarks/references/grape_disc_centres.csv``, from the authors' ROI crops)
and HYGD's reference photos (``hygd_disc_centres.csv``, checked by eye) have a
known disc centre but no outline. A disc model outlines a disc well in a window
already centred on it (≥ 99 % located on disc-centred crops), so each pseudo-mask
is the model's outline in a window of 0.35 × the field of view around the
reference centre, kept only when its centre lies within half its diameter of the
reference and its size is plausible for the field (diameter 6–25 % of it).

Half of each source is held out for evidence and never becomes a training mask:
GRAPE subjects and HYGD patients with an even number (:func:`is_heldout`), so
``benchmarks/disc_location.py --heldout`` scores the next model on photos of
people it never saw.

    python scripts/disc_pseudo_masks.py --model runs/disc-r1/disc.onnx \
        --idrid-split runs/disc-r1/split.csv --out runs/disc-pseudo
    medscreen train disc --manifest runs/disc-pseudo/manifest.csv --out runs/disc-r2 ...
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))

from disc_location import REFERENCES, is_heldout  # noqa: E402
from medscreen.inference.runtime import OnnxModel  # noqa: E402
from medscreen.inference.segmentation import predict_in_box, region_near  # noqa: E402
from medscreen.io.images import read_image  # noqa: E402
from medscreen.transforms.geometry import (  # noqa: E402
    centred_box,
    fov_box,
    largest_component,
    mask_geometry,
    square_box,
)


def pseudo_mask(rgb: np.ndarray, cx: float, cy: float, model: OnnxModel) -> np.ndarray | None:
    """The model's disc outline in a window around ``(cx, cy)``; None when implausible."""
    fov = square_box(fov_box(rgb))
    side = fov[2] - fov[0]
    box = centred_box(cy, cx, 0.35 * side)
    prob = predict_in_box(rgb, box, model, model.spec)
    region = region_near(prob, model.spec.threshold, cy, cx, 0.1 * side)
    if region is None:
        return None
    # a disc is one filled, smooth region: close small notches, fill holes, keep the largest part
    mask = ndimage.binary_fill_holes(ndimage.binary_closing(region & (prob > model.spec.threshold), iterations=3))
    mask = largest_component(ndimage.binary_opening(mask, iterations=2))
    geo = mask_geometry(mask)
    if geo is None or not 0.06 <= geo.diameter / side <= 0.25:
        return None
    if np.hypot(geo.cx - cx, geo.cy - cy) > 0.5 * geo.diameter:
        return None
    return mask


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="disc .onnx that makes the outlines")
    parser.add_argument("--idrid-split", required=True, help="split.csv of an IDRiD disc run (its rows are kept)")
    parser.add_argument("--data", default=os.environ.get("MEDSCREEN_DATA_DIR") or str(REPO.parent / "shared" / "data"))
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    data, out = Path(args.data), Path(args.out)
    model = OnnxModel(Path(args.model), spinning=False)
    rows: list[dict[str, str]] = []
    with open(args.idrid_split, newline="") as fh:
        base = Path(args.idrid_split).resolve().parent
        for row in csv.DictReader(fh):
            rows.append({"image": str((base / row["image"]).resolve()), "mask": str((base / row["mask"]).resolve()),
                         "label": "", "patient_id": row.get("patient_id", ""), "dataset": "idrid",
                         "key": row.get("key", ""), "split": row["split"]})
    kept = skipped = 0
    for dataset, ref_file, folder in (("grape", "grape_disc_centres.csv", data / "grape" / "CFPs"),
                                      ("hygd", "hygd_disc_centres.csv", data / "hygd" / "Images")):
        with open(REFERENCES / ref_file, newline="") as fh:
            refs = [r for r in csv.DictReader(fh) if r.get("status", "ok") == "ok" and r["cx"]]
        for ref in refs:
            if is_heldout(dataset, ref["image"]):
                continue
            rgb = read_image(folder / ref["image"], mode="rgb")
            mask = pseudo_mask(rgb, float(ref["cx"]), float(ref["cy"]), model)
            if mask is None:
                skipped += 1
                continue
            path = out / "masks" / dataset / f"{Path(ref['image']).stem}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(mask.astype(np.uint8) * 255).save(path)
            person = ref["image"].split("_")[0]
            rows.append({"image": str((folder / ref["image"]).resolve()), "mask": str(path.resolve()), "label": "",
                         "patient_id": f"{dataset}:{person}", "dataset": dataset,
                         "key": Path(ref["image"]).stem, "split": "train"})
            kept += 1
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "manifest.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"{kept} pseudo-masks kept, {skipped} implausible skipped; {len(rows)} rows -> {out / 'manifest.csv'}")


if __name__ == "__main__":
    main()
