"""How the glaucoma answer depends on the framing of a disc-centred crop, with and without re-framing; writes JSON.

Another dataset's disc crops may be framed wider than the training crops
(ACRIMA's frame the disc at 1.7 predicted disc diameters, HYGD's training crops
at 2.2). To measure what that costs, each held-out HYGD photo (the ``val``
rows of a training run's ``split.csv``: people the model did not train on) is
cropped around its disc at ``k`` disc diameters and the crop is screened as a
user's crop would be (``Screener.screen``: a crop with no camera surround is
taken as disc-centred). Each crop is screened twice: with the glaucoma card as
it is minus ``recrop_above_k`` (the crop taken as it is) and with
``recrop_above_k = --limit`` (a crop wider than that many disc diameters is
re-framed at the card's ``crop_k``). The AUC of each, with its bootstrap CI,
is reported per ``k``. Then the public crops (the held-out ACRIMA rows and every
fourth GRAPE ROI crop) are screened both ways: the rule should re-frame none.

    python benchmarks/glaucoma_framing.py --split runs/s3/glaucoma-r2b/split.csv \
        --out benchmarks/results/glaucoma_framing.json
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from medscreen.config import default_data_dir
from medscreen.evaluation.classification import compute_auc
from medscreen.evaluation.stats import bootstrap_ci
from medscreen.inference.classification import disc_masker
from medscreen.inference.runtime import bundled_model_path
from medscreen.io.images import read_image
from medscreen.pipelines.screening import Screener
from medscreen.transforms.classification import glaucoma_crop_box
from medscreen.transforms.geometry import crop_box, mask_geometry


def _screeners(model: Path, limit: float, folder: Path) -> dict[str, Screener]:
    """The glaucoma model with ``recrop_above_k`` removed (``as_is``) and set to ``limit`` (``reframed``)."""
    out = {}
    for name, value in (("as_is", None), ("reframed", limit)):
        sub = folder / name
        sub.mkdir()
        shutil.copy(model, sub / "glaucoma.onnx")
        card = json.loads(model.with_suffix(".json").read_text())
        card["params"].pop("recrop_above_k", None)
        if value is not None:
            card["params"]["recrop_above_k"] = value
        (sub / "glaucoma.json").write_text(json.dumps(card))
        out[name] = Screener(threads=1, models={"glaucoma": sub / "glaucoma.onnx"})
        out[name].load("fundus")
    return out


def _auc(truth: np.ndarray, prob: np.ndarray) -> dict:
    ok = ~np.isnan(prob)
    t, p = truth[ok], prob[ok]
    lo, hi = bootstrap_ci(len(t), lambda i: compute_auc(t[i], p[i]), seed=0)
    return {"n": int(ok.sum()), "auc": round(float(compute_auc(t, p)), 4), "auc_ci95": [round(lo, 4), round(hi, 4)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--split", required=True, help="the glaucoma run's split.csv (its val rows are held out)")
    parser.add_argument("--model", default=str(bundled_model_path("glaucoma")))
    parser.add_argument("--data", default=None, help="datasets folder (default MEDSCREEN_DATA_DIR or ../shared/data)")
    parser.add_argument("--limit", type=float, default=3.5, help="recrop_above_k to test")
    parser.add_argument("--k", type=float, nargs="+", default=[2.2, 3.0, 4.0, 5.0])
    parser.add_argument("--out", default="benchmarks/results/glaucoma_framing.json")
    args = parser.parse_args()
    data = Path(args.data) if args.data else default_data_dir()
    t0 = time.perf_counter()
    rows = list(csv.DictReader(open(args.split, newline="")))
    hygd = [r for r in rows if r.get("split") == "val" and r.get("dataset") == "hygd"]
    with tempfile.TemporaryDirectory() as tmp:
        screeners = _screeners(Path(args.model), args.limit, Path(tmp))
        disc = disc_masker()  # the bundled disc stage on a full photo, as the screening pipeline runs it
        truth: list[bool] = []
        probs = {(k, m): [] for k in args.k for m in screeners}
        for r in hygd:
            rgb = read_image(data / "hygd" / "Images" / f"{r['key']}.jpg", mode="rgb")
            geo = mask_geometry(disc(rgb))
            if geo is None:
                continue
            truth.append(r["label"] == "glaucoma")
            for k in args.k:
                crop = np.ascontiguousarray(crop_box(rgb, glaucoma_crop_box(None, "diameter", k, geometry=geo)))
                for name, screener in screeners.items():
                    res = screener.screen(crop)
                    probs[(k, name)].append(res.glaucoma.probability if res.glaucoma else np.nan)
        t = np.array(truth)
        by_k = {f"{k:g}": {m: _auc(t, np.array(probs[(k, m)], dtype=float)) for m in screeners} for k in args.k}
        public = [data / "acrima" / "Database" / "Images" / f"{r['key']}.jpg" for r in rows
                  if r.get("split") == "val" and r.get("dataset") == "acrima"]
        public += sorted((data / "grape" / "ROI images").glob("*"))[::4]
        reframed, diffs = 0, []
        for path in public:
            a, b = screeners["as_is"].screen(path), screeners["reframed"].screen(path)
            if a.glaucoma and b.glaucoma:
                diffs.append(abs(a.glaucoma.probability - b.glaucoma.probability))
                reframed += a.disc.crop_box != b.disc.crop_box
    report = {"model": args.model, "recrop_above_k": args.limit, "hygd_heldout_eyes": len(truth),
              "glaucoma_in_them": int(t.sum()), "by_crop_k": by_k,
              "public_crops": {"screened": len(diffs), "reframed": int(reframed),
                               "max_abs_probability_change": round(max(diffs), 6) if diffs else None},
              "seconds": round(time.perf_counter() - t0, 1)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    for k, v in by_k.items():
        print(f"k={k}: as is {v['as_is']['auc']:.3f} (n={v['as_is']['n']})  re-framed {v['reframed']['auc']:.3f}")
    print(f"public crops: {len(diffs)} screened, {reframed} re-framed")


if __name__ == "__main__":
    main()
