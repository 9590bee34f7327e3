"""Choose the lesion model's ``min_mean_probability`` on a validation split, with cross-fitted evidence.

    python scripts/lesion_confidence_rule.py runs/breast/lesion_split.csv --split val \\
        --model src/medscreen/weights/lesion.onnx --write

A lesion component whose mean probability is below the rule's value is dropped
(:func:`~medscreen.inference.segmentation.segment_lesion`): it is what the model
paints on normal images. The value maximises the mean per-image Dice over the
split (a normal image scores 1 when left empty, 0 when painted). Because choosing
and measuring on the same images flatters the rule, the split is halved
(stratified by dataset and by normal/lesion, seed 0): the value chosen on each
half is measured on the other, and those cross-fitted figures are what is
printed, written to ``--json`` and to the card's ``limits``. ``--write`` stores
the value chosen on the whole split in the card's ``params``.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from medscreen.datasets.manifest import read_manifest
from medscreen.errors import MedscreenError
from medscreen.inference.card import load_card, write_card
from medscreen.inference.runtime import OnnxModel
from medscreen.inference.segmentation import segment_lesion
from medscreen.io.images import read_image, read_mask
from medscreen.transforms import _ndimage

GRID = np.round(np.arange(0.5, 0.951, 0.025), 3)


def component_stats(manifest: Path, split: str, model: OnnxModel) -> list[dict]:
    """Per image: dataset, truth pixels, and each predicted component's area, mean probability and overlap."""
    spec = replace(model.spec, params=model.spec.params.model_copy(update={"min_mean_probability": 0.0}))
    rows = []
    for record in read_manifest(manifest).records:
        if record.fields.get("split") != split:
            continue
        grey = read_image(record.image, mode="gray")
        truth = read_mask(list(record.masks)) if record.masks else np.zeros(grey.shape, bool)
        out = segment_lesion(grey, model, spec)
        labels, n = _ndimage.label(out.mask)
        comps = [(int((labels == i).sum()), float(out.probability[labels == i].mean()),
                  int(((labels == i) & truth).sum())) for i in range(1, n + 1)]
        rows.append({"key": record.key, "dataset": record.dataset, "truth": int(truth.sum()), "comps": comps})
    return rows


def dice(row: dict, t: float) -> float:
    kept = [c for c in row["comps"] if c[1] >= t]
    area, inter = sum(c[0] for c in kept), sum(c[2] for c in kept)
    if area == 0 and row["truth"] == 0:
        return 1.0
    return 2.0 * inter / (area + row["truth"])


def choose(rows: list[dict]) -> float:
    """The grid value with the highest mean Dice (the lowest such value on ties)."""
    means = [np.mean([dice(r, t) for r in rows]) for t in GRID]
    return float(GRID[int(np.argmax(np.round(means, 4)))])


def summary(rows: list[dict], ts: list[float]) -> dict:
    def group(keep):
        sel = [(r, t) for r, t in zip(rows, ts, strict=True) if keep(r)]
        return {"n": len(sel), "dice": round(float(np.mean([dice(r, t) for r, t in sel])), 4) if sel else None}

    normals = [(r, t) for r, t in zip(rows, ts, strict=True) if r["truth"] == 0]
    out = {name: group(lambda r, name=name: r["dataset"] == name) for name in sorted({r["dataset"] for r in rows})}
    out["with_lesion"] = group(lambda r: r["truth"] > 0)
    out["normals_painted"] = sum(any(c[1] >= t for c in r["comps"]) for r, t in normals)
    out["normals"] = len(normals)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("manifest", type=Path, help="split manifest (a lesion run's split.csv)")
    parser.add_argument("--split", default="val")
    parser.add_argument("--model", type=Path, required=True, help="the lesion .onnx (its card is beside it)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--write", action="store_true", help="store the chosen value in the model's card")
    args = parser.parse_args()
    try:
        model = OnnxModel(args.model)
        rows = component_stats(args.manifest, args.split, model)
    except MedscreenError as exc:
        raise SystemExit(str(exc)) from None
    if not rows or not any(r["truth"] == 0 for r in rows):
        raise SystemExit(f"{args.manifest}: the {args.split!r} split needs normal images (empty masks) and lesion "
                         "images to choose the rule")
    rng = np.random.default_rng(0)
    half = np.zeros(len(rows), int)
    for key in sorted({(r["dataset"], r["truth"] == 0) for r in rows}):
        idx = rng.permutation([i for i, r in enumerate(rows) if (r["dataset"], r["truth"] == 0) == key])
        half[idx[: len(idx) // 2]] = 1
    chosen = {h: choose([r for r, k in zip(rows, half, strict=True) if k == h]) for h in (0, 1)}
    crossed = [chosen[1 - k] for k in half]
    report = {"split": args.split, "n": len(rows), "chosen_on_halves": [chosen[0], chosen[1]],
              "chosen": choose(rows), "before": summary(rows, [0.0] * len(rows)),
              "cross_fitted": summary(rows, crossed)}
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    if args.write:
        card_path = args.model.with_suffix(".json")
        card = load_card(card_path)
        b, c = report["before"], report["cross_fitted"]
        limit = (f"Components the model is unsure of (mean probability below {report['chosen']}) are dropped, a "
                 f"rule chosen on the {args.split} split ({len(rows)} images; scripts/lesion_confidence_rule.py). "
                 f"Cross-fitted on its two halves: normal images painted {b['normals_painted']}/{b['normals']} → "
                 f"{c['normals_painted']}/{c['normals']}; Dice on images with a lesion {b['with_lesion']['dice']} → "
                 f"{c['with_lesion']['dice']}; " + "; ".join(
                     f"{k} {b[k]['dice']} → {c[k]['dice']}" for k in sorted(b) if isinstance(b[k], dict)
                     and k != "with_lesion") + ".")
        card = card.model_copy(update={
            "params": card.params.model_copy(update={"min_mean_probability": report["chosen"]}),
            "limits": [x for x in card.limits if "mean probability below" not in x] + [limit]})
        write_card(card, args.model)
        print(f"{card_path}: min_mean_probability {report['chosen']}")


if __name__ == "__main__":
    main()
