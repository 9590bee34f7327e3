"""Store an operating point chosen on validation in a model's card.

    # glaucoma: the review band (bootstrap interval of the referral threshold)
    python scripts/operating_point.py runs/models/glaucoma/val_predictions.csv \\
        --card src/medscreen/weights/glaucoma.json --positive glaucoma --write review_band
    # a card whose inference changed (params.tta): the referral threshold itself, by the training runs' rule, from
    # `medscreen evaluate glaucoma --manifest RUN/split.csv --split val --crops --out runs/val` with that card
    python scripts/operating_point.py runs/val/per_case.csv \\
        --card src/medscreen/weights/glaucoma.json --positive glaucoma --write threshold
    # breast-class: the malignancy threshold for malignant sensitivity >= 0.90
    python scripts/operating_point.py runs/breast/val/per_case.csv \\
        --card src/medscreen/weights/breast-class.json --positive malignant --write malignancy_threshold

The predictions CSV has a ``label`` column and one ``p_<class>`` column per
class (a training run's ``val_predictions.csv``, or the ``per_case.csv`` that
``medscreen evaluate --out`` writes for a validation split). ``review_band``:
:func:`~medscreen.evaluation.classification.threshold_band`.
``threshold`` (a binary model's referral threshold, e.g. after its card's
inference changed) and ``malignancy_threshold``: the training runs' rule
(:func:`~medscreen.evaluation.classification.operating_threshold`), with sensitivity and specificity (Wilson 95 % intervals) printed and
stored under ``operating_points``. The card's JSON and Markdown are rewritten.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from medscreen.errors import MedscreenError
from medscreen.evaluation.classification import operating_threshold, threshold_band
from medscreen.evaluation.stats import proportion_ci
from medscreen.inference.card import load_card, write_card


def _wilson(k: int, n: int) -> list[float]:
    return [round(v, 4) for v in proportion_ci(k, n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("predictions", type=Path, help="CSV with label and p_<class> columns (validation split)")
    parser.add_argument("--card", type=Path, required=True, help="the model's card (.json) to update")
    parser.add_argument("--positive", required=True, help="the class the operating point is for")
    parser.add_argument("--write", required=True, choices=("threshold", "review_band", "malignancy_threshold"))
    parser.add_argument("--min-sensitivity", type=float, default=0.9)
    parser.add_argument("--n-boot", type=int, default=2000)
    args = parser.parse_args()
    for path in (args.predictions, args.card):
        if not path.is_file():
            raise SystemExit(f"{path}: not found; give an existing file")
    with open(args.predictions, newline="") as fh:
        rows = list(csv.DictReader(fh))
    column = f"p_{args.positive}"
    if not rows or not {"label", column} <= set(rows[0]):
        raise SystemExit(f"{args.predictions}: needs a label and a {column} column; give predictions with label and "
                         "p_<class> columns")
    truth = np.array([r["label"] == args.positive for r in rows], int)
    try:
        prob = np.array([float(r[column]) for r in rows])
    except ValueError:
        raise SystemExit(f"{args.predictions}: {column} has a value that is not a number; fix or remove that row") from None
    if truth.all() or not truth.any():
        raise SystemExit(f"{args.predictions}: the operating point needs both {args.positive} and other cases; "
                         "give a validation split with both")
    try:
        card = load_card(args.card)
    except MedscreenError as exc:
        raise SystemExit(str(exc)) from None
    if args.write == "review_band":
        low, high = threshold_band(truth, prob, args.min_sensitivity, n_boot=args.n_boot)
        card = card.model_copy(update={"params": card.params.model_copy(
            update={"review_band": (round(low, 6), round(high, 6))})})
        print(f"{args.card}: review_band [{low:.4f}, {high:.4f}] around threshold {card.threshold}")
    else:
        t = operating_threshold(truth, prob, args.min_sensitivity)
        tp, pos = int(((prob >= t) & (truth == 1)).sum()), int(truth.sum())
        tn, neg = int(((prob < t) & (truth == 0)).sum()), int((truth == 0).sum())
        params = card.params
        update: dict = {}
        if args.write == "threshold":
            if len(card.params.labels) > 2 or card.params.labels[-1:] != [args.positive]:
                raise SystemExit(f"{args.card}: --write threshold is for a binary model whose positive class is "
                                 f"{args.positive!r}; this card's labels are {card.params.labels}")
            update = {"threshold": round(t, 6),
                      "threshold_rule": f"highest with validation sensitivity ≥ {args.min_sensitivity}"
                      + (" (test-time flip average)" if card.params.tta == "flip" else "")
                      + (" (network logit fused with the disc's pallor)" if card.params.pallor_fusion else "")}
        else:
            params = card.params.model_copy(update={"malignancy_threshold": round(t, 6)})
        point = {"threshold": round(t, 6), "n": len(rows), "sensitivity": round(tp / pos, 4),
                 "sensitivity_ci95": _wilson(tp, pos), "specificity": round(tn / neg, 4),
                 "specificity_ci95": _wilson(tn, neg), "positives": pos, "negatives": neg,
                 "source": str(args.predictions.name)}
        points = {**card.operating_points, f"{args.positive} (validation, chosen on it)": point}
        card = card.model_copy(update={"params": params, "operating_points": points, **update})
        print(f"{args.card}: {args.write} {t:.4f}: sensitivity {tp}/{pos} {point['sensitivity_ci95']}, "
              f"specificity {tn}/{neg} {point['specificity_ci95']}")
    write_card(card, args.card.with_suffix(".onnx"))


if __name__ == "__main__":
    main()
