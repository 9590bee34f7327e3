"""Make the HYGD disc-centre reference: model proposals, checked and corrected by eye, kept as a CSV.

HYGD has no disc masks, so "does the crop show the disc?" needs a reference
made once, with care, and kept in the repo
(``benchmarks/references/hygd_disc_centres.csv``). The method:

1. ``sample``: one photo per patient (seeded), so photos are independent.
2. ``propose --model M``: the disc stage proposes a centre for each; contact
   sheets (numbered tiles, the proposal as a red cross) are written for review.
3. A person looks at every tile. Where the cross is on the optic disc the
   proposal is accepted. Where it is not, a 400-px view with a 0.1 grid is
   made (``zoom``) and the disc centre is read off it by eye (±0.02 of the
   side, about ±15 px on a 768-px photo, a third of HYGD's half disc
   diameter). Photos where no disc can be seen are marked ``no_disc``.
4. ``apply --corrections C``: writes the reference CSV: ``image, cx, cy,
   status (ok|no_disc), source (model|eye), reviewer_note``.

Usage::

    python benchmarks/hygd_reference.py sample --out /tmp/hygd_sample.txt
    python benchmarks/hygd_reference.py propose --model M.onnx --sample /tmp/hygd_sample.txt --out /tmp/hygd_ref
    python benchmarks/hygd_reference.py zoom --images 0_0.jpg 100_0.jpg --out /tmp/hygd_ref/zoom
    python benchmarks/hygd_reference.py apply --proposals /tmp/hygd_ref/proposals.csv \
        --corrections benchmarks/references/hygd_corrections.csv --out benchmarks/references/hygd_disc_centres.csv
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from medscreen.datasets import read_hygd  # noqa: E402
from medscreen.inference.runtime import OnnxModel  # noqa: E402
from medscreen.inference.segmentation import segment_disc  # noqa: E402
from medscreen.io.images import read_image  # noqa: E402


def _images(data: Path) -> Path:
    return data / "hygd" / "Images"


def sample(data: Path, seed: int = 0) -> list[str]:
    """One photo per (published) patient, chosen at random with ``seed``."""
    rng = np.random.default_rng(seed)
    by_patient: dict[str, list[str]] = {}
    for r in read_hygd(data / "hygd").records:
        by_patient.setdefault(r.fields["patient"], []).append(r.image.name)
    return sorted((names[int(rng.integers(len(names)))] for names in by_patient.values()),
                  key=lambda n: [int(p) for p in n.split(".")[0].split("_")])


def propose(data: Path, model_path: Path, names: list[str], out: Path, tile: int = 220) -> Path:
    """Disc-stage proposals for ``names`` → ``proposals.csv`` and numbered contact sheets in ``out``."""
    from PIL import Image, ImageDraw

    model = OnnxModel(model_path, threads=1, spinning=False)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in names:
        rgb = read_image(_images(data) / name, mode="rgb")
        geo = segment_disc(rgb, model, model.spec).geometry()
        rows.append({"image": name, "width": rgb.shape[1], "height": rgb.shape[0],
                     "cx": round(geo.cx, 1) if geo else "", "cy": round(geo.cy, 1) if geo else "",
                     "diameter": round(geo.diameter, 1) if geo else ""})
    with open(out / "proposals.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    per = 30
    for s in range(0, len(rows), per):
        chunk = rows[s:s + per]
        sheet = Image.new("RGB", (6 * tile, math.ceil(len(chunk) / 6) * (tile + 14)), "white")
        draw = ImageDraw.Draw(sheet)
        for i, row in enumerate(chunk):
            rgb = read_image(_images(data) / row["image"], mode="rgb")
            f = tile / max(rgb.shape[:2])
            x0, y0 = (i % 6) * tile, (i // 6) * (tile + 14)
            sheet.paste(Image.fromarray(rgb).resize((round(rgb.shape[1] * f), round(rgb.shape[0] * f))), (x0, y0))
            if row["cx"] != "":
                px, py, r = x0 + row["cx"] * f, y0 + row["cy"] * f, max(4.0, row["diameter"] * f / 2)
                draw.line([(px - r, py), (px + r, py)], fill="red", width=2)
                draw.line([(px, py - r), (px, py + r)], fill="red", width=2)
            draw.text((x0 + 2, y0 + tile), f"{s + i}: {row['image']}", fill="black")
        sheet.save(out / f"sheet_{s // per:02d}.png")
    return out / "proposals.csv"


def zoom(data: Path, names: list[str], out: Path, side: int = 400, proposals: Path | None = None) -> list[Path]:
    """400-px views with a 0.1 grid (labelled 1–9), the proposal as a red cross, six to a PNG."""
    from PIL import Image, ImageDraw

    proposed: dict[str, dict[str, str]] = {}
    if proposals is not None:
        with open(proposals, newline="") as fh:
            proposed = {row["image"]: row for row in csv.DictReader(fh)}
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for start in range(0, len(names), 6):
        sheet = Image.new("RGB", (3 * side, 2 * (side + 16)), "white")
        for i, name in enumerate(names[start:start + 6]):
            rgb = read_image(_images(data) / name, mode="rgb")
            img = Image.fromarray(rgb).resize((side, side))
            draw = ImageDraw.Draw(img)
            for k in range(1, 10):
                v = k * side / 10
                draw.line([(v, 0), (v, side)], fill=(0, 160, 160), width=1)
                draw.line([(0, v), (side, v)], fill=(0, 160, 160), width=1)
                draw.text((v + 2, 2), str(k), fill="white")
                draw.text((2, v + 2), str(k), fill="white")
            row = proposed.get(name)
            if row and row["cx"]:
                fx, fy = side / float(row["width"]), side / float(row["height"])
                px, py, r = float(row["cx"]) * fx, float(row["cy"]) * fy, float(row["diameter"]) * fx / 2
                draw.line([(px - r, py), (px + r, py)], fill="red", width=2)
                draw.line([(px, py - r), (px, py + r)], fill="red", width=2)
            x0, y0 = (i % 3) * side, (i // 3) * (side + 16)
            sheet.paste(img, (x0, y0))
            ImageDraw.Draw(sheet).text((x0 + 4, y0 + side + 2), name, fill="black")
        path = out / f"zoom_{start // 6:02d}.png"
        sheet.save(path)
        paths.append(path)
    return paths


def apply(proposals: Path, corrections: Path, out: Path) -> Path:
    """Merge proposals with the reviewer's corrections into the reference CSV.

    ``corrections`` rows: ``image, verdict (wrong|no_disc), x_frac, y_frac, note``; every
    proposal not listed there was accepted by the reviewer.
    """
    with open(corrections, newline="") as fh:
        fixes = {row["image"]: row for row in csv.DictReader(fh)}
    rows = []
    with open(proposals, newline="") as fh:
        for p in csv.DictReader(fh):
            fix = fixes.get(p["image"])
            w, h = float(p["width"]), float(p["height"])
            if fix is None:
                rows.append({"image": p["image"], "cx": p["cx"], "cy": p["cy"], "status": "ok", "source": "model",
                             "note": ""})
            elif fix["verdict"] == "no_disc":
                rows.append({"image": p["image"], "cx": "", "cy": "", "status": "no_disc", "source": "eye",
                             "note": fix.get("note", "")})
            else:
                rows.append({"image": p["image"], "cx": round(float(fix["x_frac"]) * w, 1),
                             "cy": round(float(fix["y_frac"]) * h, 1), "status": "ok", "source": "eye",
                             "note": fix.get("note", "")})
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["image", "cx", "cy", "status", "source", "note"])
        writer.writeheader()
        writer.writerows(rows)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("step", choices=["sample", "propose", "zoom", "apply"])
    parser.add_argument("--data", default=os.environ.get("MEDSCREEN_DATA_DIR") or str(REPO.parent / "shared" / "data"))
    parser.add_argument("--model")
    parser.add_argument("--sample")
    parser.add_argument("--images", nargs="*")
    parser.add_argument("--proposals")
    parser.add_argument("--corrections")
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    data, out = Path(args.data), Path(args.out)
    if args.step == "sample":
        names = sample(data, args.seed)
        out.write_text("\n".join(names) + "\n")
        print(f"{len(names)} photos, one per patient -> {out}")
    elif args.step == "propose":
        names = Path(args.sample).read_text().split()
        print(propose(data, Path(args.model), names, out))
    elif args.step == "zoom":
        print("\n".join(str(p) for p in zoom(data, args.images or [], out,
                                              proposals=Path(args.proposals) if args.proposals else None)))
    else:
        print(apply(Path(args.proposals), Path(args.corrections), out))


if __name__ == "__main__":
    main()
