"""Store a binary model's review band in its card: the bootstrap interval of its operating threshold.

    python scripts/review_band.py RUN_DIR --card src/medscreen/weights/glaucoma.json

Reads the run's ``val_predictions.csv`` (validation probabilities; patients not
trained on) and ``config.json`` (the threshold rule's ``min_sensitivity``), and
writes ``params.review_band`` = [low, high] from
:func:`medscreen.evaluation.classification.threshold_band` into the card (JSON
and its Markdown). The screening pipeline advises ``review`` for a probability
from ``low`` up to the threshold.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from medscreen.evaluation.classification import threshold_band
from medscreen.inference.card import render_card_markdown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path, help="training run folder (val_predictions.csv, config.json)")
    parser.add_argument("--card", type=Path, required=True, help="the model's card (.json) to update")
    parser.add_argument("--n-boot", type=int, default=2000)
    args = parser.parse_args()
    config = json.loads((args.run / "config.json").read_text())
    with open(args.run / "val_predictions.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    prob_col = next(c for c in rows[0] if c.startswith("p_"))
    positive = prob_col[2:]
    truth = [int(r["label"] == positive) for r in rows]
    prob = [float(r[prob_col]) for r in rows]
    low, high = threshold_band(truth, prob, float(config.get("min_sensitivity", 0.9)), n_boot=args.n_boot)
    card = json.loads(args.card.read_text())
    card.setdefault("params", {})["review_band"] = [round(low, 6), round(high, 6)]
    args.card.write_text(json.dumps(card, indent=2) + "\n")
    args.card.with_suffix(".md").write_text(render_card_markdown(card))
    print(f"{args.card}: review_band [{low:.4f}, {high:.4f}] around threshold {card.get('threshold')}")


if __name__ == "__main__":
    main()
