"""How public disc-centred crops are framed, measured with the bundled disc model; writes JSON.

For every ``--step``-th image of ACRIMA and GRAPE's ``ROI images``: segment
the disc, and record crop side ÷ disc diameter and the disc centre's offset
from the crop centre (÷ side). The glaucoma stage's crop from a full photo
must match the training crops' framing, so this is the figure its crop is
defined from. On IDRiD (which has disc masks) it also records predicted ÷
true diameter on full photos and on disc-centred crops: the model's bias on
crops is why ACRIMA's framing cannot be read off its predicted diameters.

    python benchmarks/disc_framing.py --out benchmarks/results/disc_framing.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from medscreen.config import get_settings
from medscreen.datasets.registry import read_dataset
from medscreen.inference.runtime import OnnxModel, bundled_model_path
from medscreen.inference.segmentation import segment_disc
from medscreen.io.images import read_image
from medscreen.transforms.geometry import mask_geometry


def measure(name: str, model: OnnxModel, step: int) -> dict:
    records = read_dataset(get_settings().paths.data_dir / name).records[::step]
    ratios, offsets, missing = [], [], 0
    start = time.perf_counter()
    for record in records:
        image = read_image(record.image)
        geo = mask_geometry(segment_disc(image, model, model.spec).mask)
        if geo is None:
            missing += 1
            continue
        side = max(image.shape[:2])
        ratios.append(side / geo.diameter)
        offsets.append(float(np.hypot(geo.cx - image.shape[1] / 2, geo.cy - image.shape[0] / 2) / side))
    return {
        "n": len(records),
        "no_disc_found": missing,
        "side_over_diameter": {f"p{q}": float(np.percentile(ratios, q)) for q in (10, 25, 50, 75, 90)},
        "centre_offset_over_side_median": float(np.median(offsets)),
        "seconds_per_image": (time.perf_counter() - start) / max(1, len(records)),
    }


def diameter_bias(model: OnnxModel, ks: tuple[float, ...] = (2.5, 3.0)) -> dict:
    """Predicted ÷ true disc diameter on IDRiD (it has disc masks): full photos and disc-centred crops.

    Tells whether diameters measured on crops (ACRIMA's, GRAPE's) can be trusted
    to define the glaucoma crop, or only those measured on full photos.
    """
    from medscreen.io.images import read_mask
    from medscreen.transforms.geometry import centred_box, crop_box

    ratios: dict[str, list[float]] = {"full": [], **{f"crop{k:g}": [] for k in ks}}
    for record in read_dataset(get_settings().paths.data_dir / "idrid").records:
        image, truth = read_image(record.image), mask_geometry(read_mask(record.masks))
        if truth is None:
            continue
        views = {"full": image, **{f"crop{k:g}": crop_box(image, centred_box(truth.cy, truth.cx,
                                                                          k * truth.diameter)) for k in ks}}
        for name, view in views.items():
            geo = mask_geometry(segment_disc(view, model, model.spec).mask)
            if geo is not None:
                ratios[name].append(geo.diameter / truth.diameter)
    return {name: {"n": len(r), **{f"p{q}": float(np.percentile(r, q)) for q in (25, 50, 75)}}
            for name, r in ratios.items() if r}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/disc_framing.json"))
    parser.add_argument("--step", type=int, default=3, help="Measure every N-th image.")
    args = parser.parse_args()
    model = OnnxModel(bundled_model_path("disc"))
    result = {"model_sha256": model.sha256, **{name: measure(name, model, args.step) for name in ("acrima", "grape")},
              "idrid_predicted_over_true_diameter": diameter_bias(model)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
