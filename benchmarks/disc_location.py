"""Where does the disc stage put the optic disc, on every fundus source here? Numbers, not looks.

Runs the screening pipeline's disc stage (:func:`medscreen.inference.segmentation.segment_disc`,
coarse-to-fine) with an ONNX disc model on each source and compares the
predicted centre with a reference centre:

| source | images | reference centre |
|---|---|---|
| ``idrid`` | IDRiD full photos (validation split when ``--split`` given) | the mask's centroid |
| ``grape-cfp`` | GRAPE full photos (``CFPs/``) | the authors' ROI crop matched inside the photo (``benchmarks/references/grape_disc_centres.csv``, made by ``benchmarks/disc_references.py``) |
| ``grape-roi`` | GRAPE's ROI crops | the crop's centre (disc-centred by construction) |
| ``acrima`` | ACRIMA crops | the crop's centre (disc-centred by construction) |
| ``hygd`` | HYGD full photos | ``benchmarks/references/hygd_disc_centres.csv`` (see its README) |
| ``skimage`` | scikit-image's retina | none: found / not found only |

A prediction is **located** when its centre lies within half a disc diameter of
the reference. The diameter used is the reference mask's where one exists
(IDRiD); elsewhere the source's typical disc: the median of predicted
diameter ÷ view side over the source (view side: the squared field of view of a
full photo, the side of a crop) times this image's view side, so a wrong
blob's own size never loosens or tightens its own test. Shares come with
Wilson 95 % intervals.

Usage::

    python benchmarks/disc_location.py --model src/medscreen/weights/disc.onnx --out benchmarks/results/disc_location.json
    python benchmarks/disc_location.py --model runs/x/disc.onnx --sources hygd --sheet /tmp/hygd_sheets

``--sheet DIR`` writes contact sheets (each photo with the predicted outline's
centre, a cross, and the reference, a circle) for inspection by eye.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from medscreen.datasets import read_dataset  # noqa: E402
from medscreen.evaluation.stats import proportion_ci  # noqa: E402
from medscreen.inference.runtime import OnnxModel  # noqa: E402
from medscreen.inference.laterality import eye_from_disc  # noqa: E402
from medscreen.inference.segmentation import disc_confidence, disc_needs_review, segment_disc  # noqa: E402
from medscreen.io.images import read_image, read_mask  # noqa: E402
from medscreen.transforms.geometry import mask_geometry  # noqa: E402

REFERENCES = REPO / "benchmarks" / "references"
SOURCES = ("idrid", "grape-cfp", "grape-roi", "acrima", "hygd", "skimage")


@dataclass
class Case:
    """One image scored: reference and prediction in image pixels."""

    source: str
    key: str
    ref_x: float | None
    ref_y: float | None
    ref_diameter: float | None  # from a mask, where one exists
    view_side: float
    found: bool
    pred_x: float | None = None
    pred_y: float | None = None
    pred_diameter: float | None = None
    iou: float | None = None
    located: bool | None = None
    distance_dd: float | None = None  # centre distance in disc diameters
    confidence: float | None = None  # the pipeline's disc.confidence
    size_ratio: float | None = None
    vertical_offset: float | None = None  # disc centre above/below the view's middle, in half sides
    eye: str | None = None  # from the disc's side (full photos only)
    eye_true: str | None = None  # from the file name (GRAPE: OD/OS)
    is_crop: bool = False  # a disc-centred crop (no camera surround), as the pipeline decides
    doubtful: bool = False  # the card's large-and-unsure rule (disc_needs_review): advised review, never routine


def is_heldout(source: str, image_name: str) -> bool:
    """Photos never used to make training masks (``scripts/disc_pseudo_masks.py``): even subject/patient numbers.

    GRAPE names are ``<subject>_<eye>_<visit>.jpg``, HYGD's ``<patient>_<n>.jpg``; GRAPE's ROI crops
    follow their photo. Other sources are all held out (IDRiD uses its run's split instead).
    """
    if source.split("-")[0] not in ("grape", "hygd"):
        return True
    head = image_name.split("_")[0]
    return head.isdigit() and int(head) % 2 == 0


def _data_dir(arg: str | None) -> Path:
    return Path(arg or os.environ.get("MEDSCREEN_DATA_DIR") or REPO.parent / "shared" / "data")


def _read_centres(path: Path) -> dict[str, tuple[float, float]]:
    if not path.is_file():
        return {}
    with open(path, newline="") as fh:
        return {row["image"]: (float(row["cx"]), float(row["cy"])) for row in csv.DictReader(fh)
                if row.get("status", "ok") == "ok"}


def iter_images(source: str, data: Path, split_csv: Path | None, limit: int | None, *, heldout: bool = False):
    """Yield ``(key, rgb, ref_xy | None, ref_mask | None, is_crop)`` for one source."""
    n = 0

    def take(name: str = "") -> bool:
        if heldout and name and not is_heldout(source, name):
            return False
        return limit is None or n < limit

    if source == "idrid":
        records = read_dataset(data / "idrid").records
        if split_csv is not None:
            with open(split_csv, newline="") as fh:
                val = {Path(r["image"]).name for r in csv.DictReader(fh) if r.get("split") == "val"}
            records = [r for r in records if r.image.name in val]
        for r in records:
            if not take():
                return
            mask = read_mask(r.masks)
            geo = mask_geometry(mask)
            n += 1
            yield r.key, read_image(r.image, mode="rgb"), (geo.cx, geo.cy), mask, False
    elif source == "grape-cfp":
        refs = _read_centres(REFERENCES / "grape_disc_centres.csv")
        for name, xy in sorted(refs.items()):
            path = data / "grape" / "CFPs" / name
            if path.is_file() and take(name):
                n += 1
                yield name, read_image(path, mode="rgb"), xy, None, False
    elif source in ("grape-roi", "acrima"):
        folder = data / "grape" / "ROI images" if source == "grape-roi" else data / "acrima" / "Database" / "Images"
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() not in (".jpg", ".jpeg", ".png") or not take(path.name):
                continue
            rgb = read_image(path, mode="rgb")
            n += 1
            yield path.name, rgb, ((rgb.shape[1] - 1) / 2, (rgb.shape[0] - 1) / 2), None, True
    elif source == "hygd":
        refs = _read_centres(REFERENCES / "hygd_disc_centres.csv")
        for path in sorted((data / "hygd" / "Images").iterdir(), key=lambda p: p.name):
            if refs and path.name not in refs:
                continue  # only the reference photos (all photos when there is no reference)
            if not take(path.name):
                continue
            n += 1
            yield path.name, read_image(path, mode="rgb"), refs.get(path.name), None, False
    elif source == "skimage":
        from skimage import data as skdata

        yield "skimage-retina", np.ascontiguousarray(skdata.retina()[..., :3]), None, None, False


def score_source(source: str, model: OnnxModel, data: Path, split_csv: Path | None, limit: int | None, *,
                 heldout: bool = False) -> list[Case]:
    """Run the disc stage on every image of ``source`` and fill the cases (located is set later)."""
    cases: list[Case] = []
    for key, rgb, ref, mask, is_crop in iter_images(source, data, split_csv, limit, heldout=heldout):
        out = segment_disc(rgb, model, model.spec, is_crop=is_crop)
        fov = out.boxes[0]  # the squared field of view (or squared crop) of pass 1
        view = float(fov[2] - fov[0])
        geo = out.geometry()
        ref_d = mask_geometry(mask).diameter if mask is not None else None
        case = Case(source, key, ref[0] if ref else None, ref[1] if ref else None, ref_d, view, geo is not None)
        case.eye_true = "right" if "_OD_" in key else "left" if "_OS_" in key else None  # GRAPE names the eye
        case.is_crop = is_crop
        if geo is not None:
            case.pred_x, case.pred_y, case.pred_diameter = geo.cx, geo.cy, geo.diameter
            conf = disc_confidence(out, view, is_crop=is_crop, params=model.spec.params, view_box=fov)
            if conf is not None:
                case.confidence, case.size_ratio, case.vertical_offset = conf.confidence, conf.size_ratio, \
                    conf.vertical_offset
                case.doubtful = disc_needs_review(conf, model.spec.params, is_crop=is_crop)
            case.eye = None if is_crop else eye_from_disc(geo.cx, fov[1], fov[3])
            if mask is not None:
                inter = float((out.mask & mask).sum())
                case.iou = inter / max(float((out.mask | mask).sum()), 1.0)
        cases.append(case)
    return cases


def judge(cases: list[Case]) -> float | None:
    """Set ``located`` and ``distance_dd`` on each case; return the typical diameter ÷ view side used."""
    ratios = [c.pred_diameter / c.view_side for c in cases if c.found and c.pred_diameter]
    typical = float(np.median(ratios)) if ratios else None
    for c in cases:
        if c.ref_x is None:
            continue
        if not c.found:
            c.located = False
            continue
        d = c.ref_diameter or (typical * c.view_side if typical else None)
        if not d:
            continue
        c.distance_dd = math.hypot(c.pred_x - c.ref_x, c.pred_y - c.ref_y) / d
        c.located = c.distance_dd <= 0.5
    return typical


def summarise(source: str, cases: list[Case], typical: float | None) -> dict:
    """Counts, located share with its Wilson interval, found share, and IoU where masks exist."""
    judged = [c for c in cases if c.located is not None]
    k = sum(c.located for c in judged)
    out = {
        "n": len(cases),
        "n_with_reference": len(judged),
        "found": sum(c.found for c in cases),
        "located": k,
        "located_share": k / len(judged) if judged else None,
        "located_ci95": proportion_ci(k, len(judged)) if judged else None,
        "typical_diameter_over_view": typical,
        "median_distance_dd": float(np.median([c.distance_dd for c in judged if c.distance_dd is not None]))
        if judged else None,
        "missed": [c.key for c in judged if not c.located][:60],
    }
    if any(c.ref_diameter for c in cases):  # a missed disc counts as IoU 0
        ious = [c.iou if c.iou is not None else 0.0 for c in cases]
        out["iou_mean"] = float(np.mean(ious))
    with_eye = [c for c in cases if c.eye_true]
    if with_eye:
        decided = [c for c in with_eye if c.eye]
        right = sum(c.eye == c.eye_true for c in decided)
        out["laterality"] = {"n": len(with_eye), "decided": len(decided), "correct": right,
                             "accuracy": right / len(decided) if decided else None,
                             "accuracy_ci95": proportion_ci(right, len(decided)) if decided else None,
                             "wrong": [c.key for c in decided if c.eye != c.eye_true]}
    elif any(c.eye for c in cases):
        out["laterality"] = {"n": len(cases), "decided": sum(c.eye is not None for c in cases),
                             "right": sum(c.eye == "right" for c in cases), "note": "no eye labels"}
    if source == "skimage" and cases:
        out["prediction"] = asdict(cases[0])
    return out


def plausibility(cases: list[Case], limits: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)) -> dict:
    """For each disc.confidence limit: per source, good photos turned away and misplaced discs caught.

    A judged case is good when located; a disc that was not found is caught by
    the pipeline's no-disc rule already, so only found-but-misplaced discs count
    as misses to catch.
    """
    out: dict = {}
    for limit in limits:
        per: dict = {}
        for source in sorted({c.source for c in cases}):
            judged = [c for c in cases if c.source == source and c.located is not None and c.found]
            good = [c for c in judged if c.located]
            bad = [c for c in judged if not c.located]
            away = sum((c.confidence or 0.0) < limit for c in good)
            caught = sum((c.confidence or 0.0) < limit for c in bad)
            per[source] = {"good": len(good), "good_turned_away": away,
                           "good_turned_away_share": away / len(good) if good else None,
                           "misplaced": len(bad), "misplaced_caught": caught}
        out[f"{limit:.2f}"] = per
    return out


def card_rules(cases: list[Case], min_confidence: float) -> dict:
    """Per source, what the card's rules do: good photos turned away (rescreen) or sent to review, misplaced caught.

    Rescreen: ``disc.confidence`` below the card's ``min_confidence`` (0 when the
    centre is too far above or below the middle). Review: the card's
    large-and-unsure rule (``review_size_full``, ``review_below_confidence``) on a
    disc that passed. A misplaced disc is caught by either: it never gets a
    routine advice from the wrong crop.
    """
    def advice(c: Case) -> str:
        return "rescreen" if (c.confidence or 0.0) < min_confidence else "review" if c.doubtful else "kept"

    out: dict = {}
    for source in sorted({c.source for c in cases}):
        judged = [c for c in cases if c.source == source and c.located is not None and c.found]
        good = [advice(c) for c in judged if c.located]
        bad = [(c.key, advice(c)) for c in judged if not c.located]
        out[source] = {"good": len(good), "good_turned_away": good.count("rescreen"),
                       "good_sent_to_review": good.count("review"),
                       "good_sent_to_review_keys": [c.key for c in judged if c.located and advice(c) == "review"],
                       "misplaced": len(bad), "misplaced_rescreen": sum(a == "rescreen" for _, a in bad),
                       "misplaced_review": sum(a == "review" for _, a in bad),
                       "misplaced_not_caught": [k for k, a in bad if a == "kept"]}
    return out


def positions(cases: list[Case]) -> dict:
    """Per source: the largest vertical offset of a well-located disc, and the offsets of the misplaced ones.

    The evidence for the card's ``max_vertical_offset``: it must sit above every good photo's offset and below
    the misplaced discs' (the flash at the rim of the field).
    """
    out: dict = {}
    for source in sorted({c.source for c in cases}):
        judged = [c for c in cases if c.source == source and c.located is not None and c.found
                  and c.vertical_offset is not None]
        good = [c.vertical_offset for c in judged if c.located]
        out[source] = {"good_max": max(good) if good else None,
                       "good_p99": float(np.quantile(good, 0.99)) if good else None,
                       "misplaced": sorted(c.vertical_offset for c in judged if not c.located)}
    return out


def contact_sheets(cases: list[Case], data: Path, source: str, folder: Path, per_sheet: int = 30,
                   tile: int = 220) -> list[Path]:
    """Thumbnails with the predicted centre (red cross) and the reference (green circle), 6 per row."""
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    lookup = {key: (rgb, ref) for key, rgb, ref, _, _ in iter_images(source, data, None, None)
              if key in {c.key for c in cases}}
    for start in range(0, len(cases), per_sheet):
        chunk = cases[start:start + per_sheet]
        rows = math.ceil(len(chunk) / 6)
        sheet = Image.new("RGB", (6 * tile, rows * (tile + 14)), "white")
        draw = ImageDraw.Draw(sheet)
        for i, c in enumerate(chunk):
            rgb, _ = lookup[c.key]
            f = tile / max(rgb.shape[:2])
            thumb = Image.fromarray(rgb).resize((round(rgb.shape[1] * f), round(rgb.shape[0] * f)))
            x0, y0 = (i % 6) * tile, (i // 6) * (tile + 14)
            sheet.paste(thumb, (x0, y0))
            if c.found:
                px, py = x0 + c.pred_x * f, y0 + c.pred_y * f
                r = max(3.0, (c.pred_diameter or 10) * f / 2)
                draw.line([(px - r, py), (px + r, py)], fill="red", width=2)
                draw.line([(px, py - r), (px, py + r)], fill="red", width=2)
            if c.ref_x is not None:
                rx, ry = x0 + c.ref_x * f, y0 + c.ref_y * f
                draw.ellipse([rx - 6, ry - 6, rx + 6, ry + 6], outline="lime", width=2)
            draw.text((x0 + 2, y0 + tile), f"{c.key} {'ok' if c.located else ('MISS' if c.located is False else '')}",
                      fill="black")
        path = folder / f"{source}_{start // per_sheet:02d}.png"
        sheet.save(path)
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=str(REPO / "src" / "medscreen" / "weights" / "disc.onnx"))
    parser.add_argument("--data", default=None, help="datasets folder (default MEDSCREEN_DATA_DIR or ../shared/data)")
    parser.add_argument("--sources", nargs="+", default=list(SOURCES), choices=SOURCES)
    parser.add_argument("--idrid-split", default=None, help="a run's split.csv: score IDRiD's validation rows only")
    parser.add_argument("--limit", type=int, default=None, help="at most N images per source")
    parser.add_argument("--heldout", action="store_true",
                        help="GRAPE and HYGD: score only photos never used for training masks (see is_heldout)")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "disc_location.json"))
    parser.add_argument("--cases", default=None, help="also write every case to this CSV")
    parser.add_argument("--sheet", default=None, help="write contact sheets of each source to this folder")
    args = parser.parse_args()
    data = _data_dir(args.data)
    model = OnnxModel(Path(args.model), threads=1, spinning=False)
    report: dict = {"model": str(args.model), "model_sha256": model.sha256, "heldout_only": args.heldout,
                    "sources": {}}
    all_cases: list[Case] = []
    for source in args.sources:
        t0 = time.perf_counter()
        cases = score_source(source, model, data, Path(args.idrid_split) if args.idrid_split else None, args.limit,
                             heldout=args.heldout)
        typical = judge(cases)
        summary = summarise(source, cases, typical)
        summary["seconds"] = round(time.perf_counter() - t0, 1)
        report["sources"][source] = summary
        all_cases += cases
        share = summary["located_share"]
        print(f"{source:10s} n={summary['n']:4d} found={summary['found']:4d} located="
              f"{'-' if share is None else f'{share:.3f}'} {summary['located_ci95'] or ''}"
              f"{'  IoU %.3f' % summary['iou_mean'] if 'iou_mean' in summary else ''}", flush=True)
        if args.sheet:
            contact_sheets(cases, data, source, Path(args.sheet))
    report["plausibility"] = plausibility(all_cases)
    report["card_rules"] = {"params": model.spec.params.model_dump(include={
        "min_confidence", "max_vertical_offset", "review_size_full", "review_below_confidence"}),
        "per_source": card_rules(all_cases, model.spec.params.min_confidence)}
    report["vertical_offset"] = positions(all_cases)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    if args.cases:
        with open(args.cases, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(asdict(all_cases[0])))
            writer.writeheader()
            writer.writerows(asdict(c) for c in all_cases)


if __name__ == "__main__":
    main()
