"""Record in a model card the SHA-256 of its training and validation images (``training_images``, card version 3).

    # a run whose split.csv lists the images themselves
    python scripts/card_training_images.py src/medscreen/weights/lesion.json runs/lesion/split.csv --expect 956 239
    # a run trained on disc crops: trace each crop to its source photo by dataset and key
    python scripts/card_training_images.py src/medscreen/weights/glaucoma.json runs/models/glaucoma-final/split.csv \\
        --sources ../shared/data/acrima --sources ../shared/data/hygd

``medscreen export`` records this for every new model; this script fills it in
for cards exported before (version 1 or 2), from the split the run used. The
numbers of train and val rows must equal the card's ``training_split``
(``n_train``, ``n_val``) or, for a card without one, ``--expect TRAIN VAL``;
nothing is written otherwise. ``--sources`` names dataset folders: a split row
whose (dataset, key) is found there is recorded as that record's files — its
image, and every other published view of it (GRAPE: ROI crop and full CFP) —
instead of the row's own image; every row must then be found. Only
``training_images`` and ``card_version`` change; the ``.onnx`` is not touched
(its ``sha256`` in the card is checked). The card's JSON and Markdown are rewritten.
"""

from __future__ import annotations

import argparse
import csv
from collections import Counter
from pathlib import Path

from medscreen.datasets.registry import read_dataset
from medscreen.errors import MedscreenError
from medscreen.inference.card import CARD_VERSION, load_card, parse_card, write_card
from medscreen.inference.provenance import split_training_images
from medscreen.io.images import file_sha256


def source_files(folders: list[Path]) -> dict[tuple[str, str], list[Path]]:
    """(dataset, key) → the record's image plus its other published views (fields ending in ``_path``)."""
    out: dict[tuple[str, str], list[Path]] = {}
    for folder in folders:
        for r in read_dataset(folder).records:
            views = [r.image, *(Path(v) for k, v in sorted(r.fields.items()) if k.endswith("_path") and v)]
            out[(r.dataset, r.key or r.image.stem)] = list(dict.fromkeys(p for p in views if p.is_file()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("card", type=Path, help="the model's card (.json), beside its .onnx")
    parser.add_argument("split", type=Path, help="the training run's split.csv (or the reproduced split)")
    parser.add_argument("--sources", type=Path, action="append", default=[],
                        help="dataset folder the split's crops were cut from (repeatable)")
    parser.add_argument("--expect", type=int, nargs=2, metavar=("TRAIN", "VAL"),
                        help="train and val rows expected, for a card without training_split")
    parser.add_argument("--dry-run", action="store_true", help="check and print, write nothing")
    args = parser.parse_args()
    for path in (args.card, args.split):
        if not path.is_file():
            raise SystemExit(f"{path}: not found; give an existing file")
    try:
        card = load_card(args.card)
        with open(args.split, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh))
        counts = Counter(r.get("split") for r in rows)
        split = card.training_split
        expected = (split.n_train, split.n_val) if split and split.n_train is not None else args.expect
        if expected is None:
            raise SystemExit(f"{args.card.name} has no training_split; give --expect TRAIN VAL (the run's counts)")
        if (counts["train"], counts["val"]) != tuple(expected):
            raise SystemExit(f"{args.split}: {counts['train']} train / {counts['val']} val rows, but the card's run "
                             f"had {expected[0]} / {expected[1]}; this is not the split the model was trained on")
        sources = source_files(args.sources) if args.sources else None
        if sources is not None:
            lost = [r["key"] for r in rows if r.get("split") in ("train", "val")
                    and (r.get("dataset", ""), r.get("key", "")) not in sources]
            if lost:
                raise SystemExit(f"{len(lost)} split rows are in none of the --sources folders (first: {lost[0]}); "
                                 "give the dataset folder(s) they were cut from")
        images = split_training_images(args.split, sources=sources)
        onnx = args.card.with_suffix(".onnx")
        if onnx.is_file() and card.sha256 and file_sha256(onnx) != card.sha256:
            raise SystemExit(f"{onnx.name}'s SHA-256 is not the card's: the card is not this model's")
    except MedscreenError as exc:
        raise SystemExit(str(exc)) from None
    print(f"{args.card.name}: {counts['train']} train / {counts['val']} val rows → {len(images.train)} train, "
          f"{len(images.val)} val image digests")
    if args.dry_run:
        return
    try:  # validated as a version-3 card (which must still credit its training data)
        updated = parse_card({**card.to_json(), "card_version": max(card.card_version, CARD_VERSION),
                              "training_images": images.model_dump()}, args.card.name)
    except MedscreenError as exc:
        raise SystemExit(str(exc)) from None
    json_path, md_path = write_card(updated, onnx)
    print(f"wrote {json_path} and {md_path}")


if __name__ == "__main__":
    main()
