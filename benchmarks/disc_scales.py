"""Which second-pass windows the disc stage should average (``params.refine_scales``); writes JSON.

For each scale set, the bundled (or ``--model``) disc model is run with that
set in place of its card's, on IDRiD photos of a training run's split (full
photos and disc-centred crops of 2, 3 and 4 disc diameters, as ``medscreen
evaluate disc --crop-scale`` scores them), and the IoU is recorded per view.
Score both splits: the 11 validation photos alone are too few to choose on,
and the training photos, though optimistic in level, rank the sets too.

    python benchmarks/disc_scales.py --split-csv runs/disc-r1/split.csv --out benchmarks/results/disc_scales.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from medscreen.cli.evaluate import gather_records, load_runner
from medscreen.inference.evaluate import evaluate_segmentation
from medscreen.inference.runtime import ModelSpec, Runner

SETS = ("1.0", "1.0,1.25", "1.0,1.5", "0.8,1.0,1.25", "0.7,1.0,1.4")


def score(split_csv: Path, split: str, runner: Runner, spec: ModelSpec, scales: tuple[float, ...]) -> dict:
    """IoU per view and overall of the disc model with ``scales`` on ``split`` of ``split_csv``."""
    records = gather_records(None, split_csv, split)
    spec = dataclasses.replace(spec, params=spec.params.model_copy(update={"refine_scales": scales}))
    start = time.perf_counter()
    report = evaluate_segmentation(records, "disc", runner, spec, crop_scales=(2, 3, 4))
    return {"n_photos": len(records), "iou": report["iou"], "iou_ci95": report["iou_ci95"],
            "by_view": {view: r["iou"] for view, r in report["by_view"].items()},
            "seconds": round(time.perf_counter() - start, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split-csv", type=Path, required=True, help="a disc run's split.csv (IDRiD rows)")
    parser.add_argument("--model", type=Path, default=None, help="disc .onnx (default: bundled)")
    parser.add_argument("--sets", nargs="+", default=list(SETS), help="scale sets, e.g. 1.0,1.5")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    runner, spec, _ = load_runner("disc", args.model)
    results = {}
    for text in args.sets:
        scales = tuple(float(x) for x in text.split(","))
        results[text] = {split: score(args.split_csv, split, runner, spec, scales) for split in ("train", "val")}
        print(text, {s: round(r["iou"], 4) for s, r in results[text].items()}, flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"model": str(args.model or "bundled"), "split_csv": str(args.split_csv),
                                    "sets": results}, indent=2))


if __name__ == "__main__":
    main()
