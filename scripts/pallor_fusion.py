"""Fit a glaucoma card's pallor fusion on its validation split, and write the fused validation predictions.

    python scripts/pallor_fusion.py --card src/medscreen/weights/glaucoma.json \\
        --manifest runs/s3/glaucoma-r2b/split.csv --split val --weight 0.5 --scale log --out runs/glaucoma-val-fused.csv
    # then the threshold and the review band, on the fused predictions:
    python scripts/operating_point.py runs/glaucoma-val-fused.csv --card src/medscreen/weights/glaucoma.json \\
        --positive glaucoma --write threshold
    python scripts/operating_point.py runs/glaucoma-val-fused.csv --card src/medscreen/weights/glaucoma.json \\
        --positive glaucoma --write review_band

The manifest is the training run's ``split.csv`` (its images are disc crops); only the rows of
``--split`` are used. The card's network gives each crop its logit (any fusion already on the card
is ignored), :func:`~medscreen.transforms.classification.disc_pallor` its pallor in the disc's own
circle (radius ``1 / (2 × crop_k)``; ``--scale``, default ``log``), and
:func:`~medscreen.training.fusion.fit_pallor_fusion` the fused logit, written to the card as
``params.pallor_fusion``. ``--weight 0`` fits a calibration of the network alone. The output CSV has ``image``,
``dataset``, ``label``, ``p_glaucoma`` (fused) and
``p_network`` and ``pallor`` columns; ``scripts/operating_point.py`` reads the first four.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from medscreen.datasets.manifest import read_manifest
from medscreen.errors import MedscreenError
from medscreen.evaluation.classification import compute_auc
from medscreen.inference.card import PallorFusion, load_card, write_card
from medscreen.inference.classification import fused_logits, load_classifier, task_image
from medscreen.training.fusion import fit_pallor_fusion
from medscreen.transforms.classification import disc_pallor, probabilities


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--card", type=Path, required=True, help="the glaucoma model's card (.json, beside its .onnx)")
    parser.add_argument("--manifest", type=Path, required=True, help="the training run's split.csv (disc crops)")
    parser.add_argument("--split", default="val", help="the manifest rows to fit on (default: val)")
    parser.add_argument("--weight", type=float, default=0.5, help="the pallor's share of the standardised sum")
    parser.add_argument("--scale", choices=("linear", "log"), default="log",
                        help="standardise the green channel (linear) or its logarithm (log: a camera's gamma cancels)")
    parser.add_argument("--out", type=Path, required=True, help="CSV of the fused validation predictions")
    args = parser.parse_args()
    try:
        run(args)
    except MedscreenError as exc:
        raise SystemExit(str(exc)) from None


def run(args: argparse.Namespace) -> None:
    """Fit, write the card, write the predictions (see the module docstring)."""
    if not args.card.is_file() or not args.card.with_suffix(".onnx").is_file():
        raise SystemExit(f"{args.card}: give a card .json that has its .onnx beside it")
    card = load_card(args.card)
    if card.task != "glaucoma":
        raise SystemExit(f"{args.card}: pallor fusion is for the glaucoma model, not {card.task!r}")
    classifier = load_classifier("glaucoma", args.card.with_suffix(".onnx"))
    params = classifier.spec.params
    records = [r for r in read_manifest(args.manifest, labels=params.labels).records
               if r.fields.get("split") == args.split]
    if not records:
        raise SystemExit(f"{args.manifest}: no rows with split == {args.split!r}; give the run's split.csv")
    radius = 1.0 / (2.0 * params.crop_k)
    kept, images = [], []
    for r in records:
        image = task_image(r, "glaucoma", is_crop=True, framing=params.framing, k=params.crop_k,
                           recrop_above_k=params.recrop_above_k)
        if image is not None:
            kept.append(r)
            images.append(image)
    if not kept:
        raise SystemExit(f"{args.manifest}: no crop could be made from the {args.split} rows; give disc crops")
    truth = np.array([params.labels.index(r.label) for r in kept])
    logit = np.concatenate([classifier.network_logits(images[i:i + 32])[:, 0] for i in range(0, len(images), 32)])
    pale = np.array([disc_pallor(image, radius, args.scale) for image in images])
    a, b, c = fit_pallor_fusion(logit, pale, truth, args.weight)
    fusion = PallorFusion(logit_weight=round(a, 6), pallor_weight=round(b, 6), bias=round(c, 6),
                          radius=round(radius, 6), weight=args.weight, scale=args.scale)
    prob = probabilities(fused_logits(logit[:, None], [], fusion, pallor=pale))
    network = probabilities(logit[:, None])
    write_card(card.model_copy(update={"params": card.params.model_copy(update={"pallor_fusion": fusion})}),
               args.card.with_suffix(".onnx"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["image", "dataset", "label", "p_glaucoma", "p_network", "pallor"])
        for r, p, q, v in zip(kept, prob, network, pale, strict=True):
            writer.writerow([r.image, r.dataset, r.label, round(float(p), 6), round(float(q), 6), round(float(v), 4)])
    sources = sorted({r.dataset for r in kept})
    for s in sources:
        idx = np.array([r.dataset == s for r in kept])
        print(f"{s}: n={idx.sum()} AUC network {compute_auc(truth[idx], network[idx]):.3f}, pallor "
              f"{compute_auc(truth[idx], pale[idx]):.3f}, fused {compute_auc(truth[idx], prob[idx]):.3f}")
    print(f"{args.card}: pallor_fusion {fusion.model_dump()} ({len(kept)} {args.split} crops); now set the "
          f"threshold and review band from {args.out} with scripts/operating_point.py")


if __name__ == "__main__":
    main()
