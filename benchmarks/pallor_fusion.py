"""Pallor fusion under cross-validation: each fold's fusion fitted on its own inner validation split; writes JSON.

Reads a ``medscreen cv glaucoma … --out DIR`` folder (``DIR/fold*/split.csv`` and ``val_predictions.csv``,
``DIR/oof_predictions.csv``). A fold's held-out crops are the manifest rows missing from its ``split.csv``.
For each fold the network's inner-validation logits and the crops' pallor
(:func:`~medscreen.transforms.classification.disc_pallor`) fit the fusion
(:func:`~medscreen.training.fusion.fit_pallor_fusion`, ``--weight``), which is then applied to that
fold's out-of-fold predictions. Reported per source, pooled out of fold, with bootstrap 95 % CIs: the
network alone, the pallor alone (no training at all) and the fused score.

    python benchmarks/pallor_fusion.py --cv-dir runs/s7/cv5-e30 --weight 0.5 --scale log \\
        --out benchmarks/results/pallor_fusion_cv.json
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
from scipy.special import logit

from medscreen.constants import GLAUCOMA_CROP_K
from medscreen.evaluation.classification import auc_with_ci
from medscreen.inference.card import PallorFusion
from medscreen.inference.classification import fused_logits
from medscreen.io.images import read_image
from medscreen.training.fusion import fit_pallor_fusion
from medscreen.transforms.classification import disc_pallor


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _logits(rows: list[dict[str, str]]) -> np.ndarray:
    """The network's logits from a predictions CSV's ``p_glaucoma``."""
    return logit(np.clip([float(r["p_glaucoma"]) for r in rows], 1e-6, 1 - 1e-6))


def _auc(truth: np.ndarray, score: np.ndarray) -> dict:
    measured = auc_with_ci(truth, score)
    return {"auc": round(measured["auc"], 4), "auc_ci95": [round(v, 4) for v in measured["auc_ci95"]]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cv-dir", type=Path, required=True, help="a `medscreen cv glaucoma --out` folder")
    parser.add_argument("--weight", type=float, default=0.5, help="the pallor's share (as scripts/pallor_fusion.py)")
    parser.add_argument("--scale", choices=("linear", "log"), default="log", help="the pallor's scale")
    parser.add_argument("--crop-k", type=float, default=GLAUCOMA_CROP_K, help="the crops' framing, disc diameters")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/pallor_fusion_cv.json"))
    args = parser.parse_args()
    folds = sorted(p for p in args.cv_dir.glob("fold*") if (p / "split.csv").is_file())
    if not folds:
        raise SystemExit(f"{args.cv_dir}: no fold*/split.csv; give the --out folder of `medscreen cv glaucoma`")
    radius = 1.0 / (2.0 * args.crop_k)
    images: dict[str, Path] = {}
    for fold in folds:
        for r in _rows(fold / "split.csv"):
            images.setdefault(r["key"], (fold / r["image"]).resolve())
    pallor = {key: disc_pallor(read_image(path, mode="rgb"), radius, args.scale) for key, path in images.items()}
    oof = _rows(args.cv_dir / "oof_predictions.csv")
    fused: dict[str, float] = {}
    fits = []
    for fold in folds:
        inside = {r["key"] for r in _rows(fold / "split.csv")}
        val = _rows(fold / "val_predictions.csv")
        a, b, c = fit_pallor_fusion(_logits(val), np.array([pallor[r["key"]] for r in val]),
                                    np.array([r["label"] == "glaucoma" for r in val], int), args.weight)
        fusion = PallorFusion(logit_weight=a, pallor_weight=b, bias=c, radius=radius, weight=args.weight,
                              scale=args.scale)
        fits.append({"fold": fold.name, "logit_weight": round(a, 4), "pallor_weight": round(b, 4), "bias": round(c, 4)})
        held = [r for r in oof if r["key"] not in inside]
        scores = fused_logits(_logits(held)[:, None], [], fusion, pallor=np.array([pallor[r["key"]] for r in held]))
        fused.update({r["key"]: float(v) for r, v in zip(held, scores[:, 0], strict=True)})
    pooled = [r for r in oof if r["key"] in fused]
    truth = np.array([r["label"] == "glaucoma" for r in pooled], int)
    result: dict = {"cv_dir": str(args.cv_dir), "weight": args.weight, "scale": args.scale, "radius": radius,
                    "folds": fits,
                    "n": len(pooled), **_auc(truth, np.array([fused[r["key"]] for r in pooled])),
                    "network_pooled": _auc(truth, np.array([float(r["p_glaucoma"]) for r in pooled])), "by_source": {}}
    for source in sorted({r["source"] for r in oof}):
        rows = [r for r in oof if r["source"] == source and r["key"] in fused]
        truth = np.array([r["label"] == "glaucoma" for r in rows], int)
        result["by_source"][source] = {
            "n": len(rows),
            "network": _auc(truth, np.array([float(r["p_glaucoma"]) for r in rows])),
            "pallor_alone": _auc(truth, np.array([pallor[r["key"]] for r in rows])),
            "fused": _auc(truth, np.array([fused[r["key"]] for r in rows])),
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result["by_source"], indent=2))


if __name__ == "__main__":
    main()
