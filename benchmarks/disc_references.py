"""Reference optic-disc centres for GRAPE's full fundus photos, measured by template matching; writes CSV.

GRAPE has no disc masks for its full photos (``CFPs/*.jpg``, re-sampled to
768 x 768), but for every one it ships the authors' disc-centred crop
(``ROI images/<same name>.jpg``, 432-566 px square) cut from the original,
higher-resolution photo. The crop is centred on the optic disc by
construction, so where the crop sits inside the full photo, its centre is the
disc's position. This script finds that place numerically:

1. Both images are read as the green channel (the channel with the most
   retinal contrast), as float, and lightly blurred (Gaussian, sigma 1 px) to
   take off JPEG noise.
2. Coarse search: the photo is shrunk by ``--coarse-factor`` (4: 192 px) and
   the crop is resized (bicubic, antialiased) to a geometric grid of candidate
   scales (``--min-scale`` 0.12 to ``--max-scale`` 0.80 of its own size, steps
   of ``--scale-step`` 5 %: 40 scales); each is matched with normalised
   cross-correlation (:func:`skimage.feature.match_template`). Windows of the photo with
   (nearly) no texture, e.g. the black surround, are excluded: NCC is
   numerically meaningless there.
3. Refinement: up to ``--refine`` (3) best coarse candidates at distinct
   places (within 0.15 NCC of the best) are matched again at full resolution,
   inside a window of +-10 px around the coarse position (moved and searched
   again if the peak is at its edge), over integer template sides from one
   coarse step below to one above the candidate's (every 3 px, then
   hill-climbing in 1 px steps). Each side's peak is refined to sub-pixel
   position and value by a parabola per axis through the NCC map (peak and
   its neighbours); the best (side, position) wins, and the side is refined
   by a parabola through the peak NCC of the neighbouring sides. (Comparing
   interpolated peaks matters: odd and even sides put the template's centre on
   a pixel or a half-pixel, so raw peaks zig-zag with the side.)
4. Ambiguity: ``second_ncc`` is the best coarse NCC at a place farther than
   half the matched crop's side from the match, over the coarse scales within
   two grid steps (about +-10 %) of the matched one. A clear match has ``ncc``
   near 1 and a wide gap to ``second_ncc``. (Over all scales, the smallest
   templates, smooth blobs, correlate with any gradient, e.g. a bright
   crescent at the edge of the field, and would flag good matches.)

Outputs ``--out`` (default ``benchmarks/references/grape_disc_centres.csv``),
one row per photo that has a crop, sorted by file name:

``image``       file name, e.g. ``100_OD_1.jpg``
``width``, ``height``  the photo's size in pixels
``cx``, ``cy``  disc centre in the photo's pixel coordinates (pixel centres at
                integers, origin at the top-left pixel's centre, as in numpy
                indexing), 1 decimal
``roi_side``    side of the matched crop in photo pixels (mean of both axes)
``scale``       ``roi_side`` / the crop's own side
``ncc``         peak normalised cross-correlation at full resolution
                (sub-pixel interpolated)
``second_ncc``  best coarse NCC elsewhere (see 4)
``status``      ``ok`` when ``ncc >= --min-ncc`` (0.90) and
                ``ncc - second_ncc >= --min-gap`` (0.10); ``low`` when ncc is
                below the threshold; ``ambiguous`` when only the gap fails.

and prints a summary (counts by status, NCC quantiles, scales found per crop
size, wall time).

On GRAPE (451 photos, all with a crop): every peak NCC is >= 0.988 (median
0.9987); scales cluster by crop size (432 px: 0.477, 453 px: 0.494, 565/566
px: 0.360, each within +-0.001), and a coarse factor of 2 or 4 gives the same
centres to 0.1 px (4 is 2.3x faster). One photo (62_OD_1, very dark with a
bright crescent) is ``ambiguous`` by the gap rule although its match is right
by eye. What the reference is worth: the crops are only roughly disc-centred.
The bundled disc model, run on the crops themselves, puts the disc's centroid
a median 7.7 px (p90 16 px) of the 768 px photo from the crop's centre, about
0.1 (p90 0.22) of a disc diameter (median 83 px), in no consistent direction;
so score detections with a tolerance well above that (e.g. half a disc
diameter), not to the pixel.

    OMP_NUM_THREADS=1 python benchmarks/disc_references.py
    python benchmarks/disc_references.py --data /path/to/data --out /tmp/centres.csv

``--data`` is the datasets folder holding ``grape/`` (default: the
``MEDSCREEN_DATA_DIR`` environment variable, else ``../shared/data`` beside
the repository root).
"""

from __future__ import annotations

import argparse
import csv
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter
from skimage.feature import match_template

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "references" / "grape_disc_centres.csv"
FIELDS = ("image", "width", "height", "cx", "cy", "roi_side", "scale", "ncc", "second_ncc", "status")

#: Windows of the photo whose grey-level standard deviation is below this are
#: not matched (flat black surround: NCC's denominator is ~0 there).
MIN_WINDOW_STD = 2.0


@dataclass(frozen=True)
class Match:
    """Where a template (crop) sits inside an image.

    ``cx``, ``cy``: the crop's centre in the image's pixel coordinates (pixel
    centres at integers); ``side``: the matched crop's side in image pixels
    (mean of both axes); ``scale``: ``side`` / the crop's own side; ``ncc``:
    peak normalised cross-correlation; ``second_ncc``: best coarse NCC at a
    place farther than half ``side`` from the match, at similar scales.
    """

    cx: float
    cy: float
    side: float
    scale: float
    ncc: float
    second_ncc: float


def read_green(path: Path, sigma: float = 1.0) -> np.ndarray:
    """The green channel of an image file as float32 (0-255), Gaussian-blurred by ``sigma`` px."""
    with Image.open(path) as im:
        rgb = np.asarray(im.convert("RGB"), dtype=np.float32)
    green = rgb[..., 1]
    return gaussian_filter(green, sigma) if sigma > 0 else green


def scale_grid(min_scale: float, max_scale: float, step: float) -> np.ndarray:
    """Geometric grid of scales from ``min_scale``, ratio ``1 + step``, until ``max_scale`` is reached."""
    n = int(np.ceil(np.log(max_scale / min_scale) / np.log1p(step) - 1e-9)) + 1
    return min_scale * (1.0 + step) ** np.arange(n)


class _Windows:
    """Integral images of one image, for the grey-level standard deviation of any window in O(1)."""

    def __init__(self, image: np.ndarray) -> None:
        x = image.astype(np.float64)
        x = x - x.mean()
        self.s1 = np.zeros((x.shape[0] + 1, x.shape[1] + 1))
        self.s2 = np.zeros_like(self.s1)
        self.s1[1:, 1:] = x.cumsum(0).cumsum(1)
        self.s2[1:, 1:] = (x * x).cumsum(0).cumsum(1)

    def std(self, r0: int, c0: int, rows: int, cols: int, h: int, w: int) -> np.ndarray:
        """Std of the ``h`` x ``w`` windows whose top-left corners are ``[r0, r0+rows) x [c0, c0+cols)``."""
        def box(c: np.ndarray) -> np.ndarray:
            a = c[r0:r0 + rows, c0:c0 + cols]
            b = c[r0 + h:r0 + h + rows, c0:c0 + cols]
            d = c[r0:r0 + rows, c0 + w:c0 + w + cols]
            e = c[r0 + h:r0 + h + rows, c0 + w:c0 + w + cols]
            return e - b - d + a

        n = h * w
        var = box(self.s2) / n - (box(self.s1) / n) ** 2
        return np.sqrt(np.clip(var, 0, None))


def ncc_map(
    image: np.ndarray, template: np.ndarray, min_std: float = MIN_WINDOW_STD,
    windows: _Windows | None = None, offset: tuple[int, int] = (0, 0),
) -> np.ndarray:
    """Normalised cross-correlation of ``template`` at every valid top-left position of ``image``.

    Positions whose image window is (nearly) flat (std < ``min_std``) are set
    to -1; values are clipped to [-1, 1] (``match_template`` can overshoot on
    low-variance windows). ``windows``: integral images of a larger image of
    which ``image`` is the part at ``offset`` (row, col), to save recomputing.
    """
    th, tw = template.shape
    if th > image.shape[0] or tw > image.shape[1] or th < 3 or tw < 3:
        return np.full((max(1, image.shape[0] - th + 1), max(1, image.shape[1] - tw + 1)), -1.0)
    out = match_template(image, template).astype(np.float64)
    out[~np.isfinite(out)] = -1.0
    if windows is None:
        windows, offset = _Windows(image), (0, 0)
    out[windows.std(offset[0], offset[1], out.shape[0], out.shape[1], th, tw) < min_std] = -1.0
    return np.clip(out, -1.0, 1.0)


def _subpixel(m: np.ndarray, r: int, c: int) -> tuple[float, float, float]:
    """Quadratic refinement of a peak of ``m`` at (r, c): row and column offsets (within ±0.5) and peak value.

    A separable parabola per axis through the peak and its two neighbours. The
    interpolated value matters when comparing template sides: a template of odd
    or even side can only be placed with its centre on a pixel or half-pixel,
    so the raw maxima of neighbouring sides zig-zag.
    """
    def vertex(a: float, b: float, d: float) -> tuple[float, float]:
        den = a - 2 * b + d
        if den >= 0:
            return 0.0, 0.0
        x = float(np.clip(0.5 * (a - d) / den, -0.5, 0.5))
        return x, float(-0.25 * (a - d) * x)  # rise of the parabola's value at x above b

    dr, gr = vertex(m[r - 1, c], m[r, c], m[r + 1, c]) if 0 < r < m.shape[0] - 1 else (0.0, 0.0)
    dc, gc = vertex(m[r, c - 1], m[r, c], m[r, c + 1]) if 0 < c < m.shape[1] - 1 else (0.0, 0.0)
    return dr, dc, float(min(1.0, m[r, c] + gr + gc))


def _resize(a: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``a`` (2-D float) resized to ``shape`` (rows, cols); bicubic, antialiased when shrinking (PIL)."""
    im = Image.fromarray(np.ascontiguousarray(a, dtype=np.float32))
    return np.asarray(im.resize((shape[1], shape[0]), Image.Resampling.BICUBIC), dtype=np.float32)


def _resized(roi: np.ndarray, side: int) -> np.ndarray:
    """``roi`` resized so that its longer side is ``side`` px (aspect kept)."""
    h, w = roi.shape
    f = side / max(h, w)
    return _resize(roi, (max(1, round(h * f)), max(1, round(w * f))))


def match_roi(
    image: np.ndarray,
    roi: np.ndarray,
    scales: Sequence[float] | np.ndarray | None = None,
    coarse_factor: int = 4,
    refine: int = 3,
    refine_gap: float = 0.15,
    margin: int = 6,
    ambiguity_steps: int = 2,
) -> Match:
    """Find a (larger, higher-resolution) crop ``roi`` inside ``image``, both 2-D grey arrays.

    ``scales``: candidate ratios of the crop's size in ``image`` to its own
    size (default ``scale_grid(0.12, 0.80, 0.05)``). Coarse NCC search at
    ``image`` shrunk by ``coarse_factor``; then up to ``refine`` distinct coarse
    candidates whose NCC is within ``refine_gap`` of the best are searched at
    full resolution over integer template sides within one grid step (every
    3 px, then hill-climbing in 1 px steps), in a window of
    ± (``coarse_factor`` + ``margin``) px around the coarse place.
    ``second_ncc`` looks at the coarse scales within ``ambiguity_steps`` grid
    steps of the match's. See the module docstring for the method.
    """
    grid = np.asarray(scale_grid(0.12, 0.80, 0.05) if scales is None else scales, dtype=np.float64)
    roi_side = max(roi.shape)
    ratio = float(grid[1] / grid[0]) if len(grid) > 1 else 1.05
    f = max(1, int(coarse_factor))
    small = image if f == 1 else _resize(image, (round(image.shape[0] / f), round(image.shape[1] / f)))
    small_windows, windows = _Windows(small), _Windows(image)
    fy, fx = image.shape[0] / small.shape[0], image.shape[1] / small.shape[1]

    # Coarse: the peak of each scale (top-left in full-res px, template side in full-res px).
    coarse: list[tuple[float, float, float, float]] = []  # (ncc, row, col, side) with row/col of the centre
    maps: list[tuple[np.ndarray, int, int, float]] = []  # (NCC map, template rows, cols, side in full-res px)
    for s in grid:
        side_small = round(roi_side * s / f)
        if side_small < 4 or side_small > min(small.shape):
            continue
        t = _resized(roi, side_small)
        m = ncc_map(small, t, windows=small_windows)
        r, c = np.unravel_index(int(np.argmax(m)), m.shape)
        cy = (r + (t.shape[0] - 1) / 2) * fy + (fy - 1) / 2
        cx = (c + (t.shape[1] - 1) / 2) * fx + (fx - 1) / 2
        coarse.append((float(m[r, c]), cy, cx, side_small * f))
        maps.append((m, t.shape[0], t.shape[1], side_small * f))
    if not coarse:
        raise ValueError("no candidate scale fits inside the image")

    # Refine the best few candidates at distinct places (within ``refine_gap`` of the best) at full resolution;
    # the side search hill-climbs, so a candidate's scale need not be the best one at its place.
    order = sorted(range(len(coarse)), key=lambda i: -coarse[i][0])
    picked: list[int] = []
    for i in order:
        ncc0, cy, cx, side = coarse[i]
        if ncc0 < coarse[order[0]][0] - refine_gap:
            break
        if all(np.hypot(coarse[j][1] - cy, coarse[j][2] - cx) > min(side, coarse[j][3]) / 4 for j in picked):
            picked.append(i)
        if len(picked) >= refine:
            break

    half = f + margin
    max_side = min(image.shape)

    def refine_at(cy0: float, cx0: float, side0: float) -> tuple[float, float, float, int, dict[int, float]] | None:
        """Best (ncc, cy, cx, side, ncc by side) at full resolution within ± ``half`` px of (cy0, cx0)."""
        peaks: dict[int, tuple[float, float, float]] = {}

        def peak(side: int) -> float:
            """Full-resolution peak NCC (cached, sub-pixel interpolated) of the crop resized to ``side``."""
            if side not in peaks:
                t = _resized(roi, side)
                th, tw = t.shape
                r0 = int(np.clip(round(cy0 - (th - 1) / 2) - half, 0, image.shape[0] - th))
                c0 = int(np.clip(round(cx0 - (tw - 1) / 2) - half, 0, image.shape[1] - tw))
                r1 = min(image.shape[0], r0 + th + 2 * half)
                c1 = min(image.shape[1], c0 + tw + 2 * half)
                m = ncc_map(image[r0:r1, c0:c1], t, windows=windows, offset=(r0, c0))
                r, c = np.unravel_index(int(np.argmax(m)), m.shape)
                dr, dc, value = _subpixel(m, int(r), int(c))
                peaks[side] = (value, r0 + r + dr + (th - 1) / 2, c0 + c + dc + (tw - 1) / 2)
            return peaks[side][0]

        # Sides within one coarse step, every 3 px, then hill-climb in 1 px steps; both neighbours of the best.
        lo = max(4, int(np.floor(side0 / ratio)))
        hi = min(max_side, int(np.ceil(side0 * ratio)))
        if lo > hi:
            return None
        for side in range(lo, hi + 1, 3):
            peak(side)
        side_best = max(peaks, key=lambda k: peaks[k][0])
        while True:
            for side in (side_best - 1, side_best + 1):
                if 4 <= side <= max_side:
                    peak(side)
            new_best = max(peaks, key=lambda k: peaks[k][0])
            if new_best == side_best:
                break
            side_best = new_best
        ncc, cy, cx = peaks[side_best]
        return ncc, cy, cx, side_best, {k: v[0] for k, v in peaks.items()}

    best: tuple[float, float, float, int, dict[int, float]] | None = None  # (ncc, cy, cx, side, ncc by side)
    for i in picked:
        _, cy0, cx0, side0 = coarse[i]
        found = refine_at(cy0, cx0, side0)
        # A peak at the edge of the search window: search again around it (at most twice).
        for _ in range(2):
            if found is None or max(abs(found[1] - cy0), abs(found[2] - cx0)) < half - 1.5:
                break
            cy0, cx0, side0 = found[1], found[2], float(found[3])
            found = refine_at(cy0, cx0, side0)
        if found is not None and (best is None or found[0] > best[0]):
            best = found
    if best is None:
        raise ValueError("refinement found no candidate")
    ncc, cy, cx, side_int, by_side = best

    # Sub-integer side by a parabola through the neighbouring sides' peaks.
    side = float(side_int)
    if side_int - 1 in by_side and side_int + 1 in by_side:
        a, b, d = by_side[side_int - 1], by_side[side_int], by_side[side_int + 1]
        den = a - 2 * b + d
        if den < 0:
            side += float(np.clip(0.5 * (a - d) / den, -0.5, 0.5))
    h, w = roi.shape
    side_mean = side * (h + w) / 2 / max(h, w)

    # Ambiguity: best coarse NCC away from the match, at scales within ``ambiguity_steps`` grid steps of its own.
    # (Far smaller templates are smooth blobs that correlate with any gradient; they say nothing about
    # whether the crop, at the scale it has, fits somewhere else.)
    second = -1.0
    for m, th, tw, side_m in maps:
        if abs(np.log(side_m / side)) > (ambiguity_steps + 0.5) * np.log(ratio):
            continue
        rows = (np.arange(m.shape[0]) + (th - 1) / 2) * fy + (fy - 1) / 2
        cols = (np.arange(m.shape[1]) + (tw - 1) / 2) * fx + (fx - 1) / 2
        far = np.hypot(rows[:, None] - cy, cols[None, :] - cx) > side_mean / 2
        if far.any():
            second = max(second, float(m[far].max()))
    return Match(cx=cx, cy=cy, side=side_mean, scale=side_mean / ((h + w) / 2), ncc=ncc, second_ncc=second)


def classify(match: Match, min_ncc: float, min_gap: float) -> str:
    """``ok``, ``low`` (ncc < ``min_ncc``) or ``ambiguous`` (ncc - second_ncc < ``min_gap``)."""
    if match.ncc < min_ncc:
        return "low"
    if match.ncc - match.second_ncc < min_gap:
        return "ambiguous"
    return "ok"


def measure_grape(
    grape: Path, scales: np.ndarray, coarse_factor: int, refine: int, min_ncc: float, min_gap: float,
    limit: int | None = None,
) -> list[dict[str, object]]:
    """One CSV row (dict with :data:`FIELDS`) per ``CFPs/*.jpg`` that has a ``ROI images/`` crop."""
    rows: list[dict[str, object]] = []
    names = sorted(p.name for p in (grape / "CFPs").glob("*.jpg") if (grape / "ROI images" / p.name).is_file())
    for k, name in enumerate(names[:limit]):
        image = read_green(grape / "CFPs" / name)
        roi = read_green(grape / "ROI images" / name)
        match = match_roi(image, roi, scales=scales, coarse_factor=coarse_factor, refine=refine)
        rows.append({
            "image": name, "width": image.shape[1], "height": image.shape[0],
            "cx": round(match.cx, 1), "cy": round(match.cy, 1), "roi_side": round(match.side, 1),
            "scale": round(match.scale, 4), "ncc": round(match.ncc, 4), "second_ncc": round(match.second_ncc, 4),
            "status": classify(match, min_ncc, min_gap), "roi_px": max(roi.shape),
        })
        if (k + 1) % 50 == 0:
            print(f"  {k + 1}/{len(names[:limit])}", flush=True)
    return rows


def summarise(rows: list[dict[str, object]], seconds: float) -> str:
    """Counts by status, NCC quantiles, scales per crop size, timing."""
    ncc = np.array([r["ncc"] for r in rows], dtype=float)
    gap = ncc - np.array([r["second_ncc"] for r in rows], dtype=float)
    lines = [f"images: {len(rows)}  wall: {seconds:.1f} s ({seconds / max(1, len(rows)):.2f} s/image)"]
    for status in ("ok", "ambiguous", "low"):
        lines.append(f"  {status}: {sum(r['status'] == status for r in rows)}")
    q = (0, 1, 5, 25, 50, 100)
    lines.append("ncc quantiles: " + "  ".join(f"p{p}={np.percentile(ncc, p):.4f}" for p in q))
    lines.append("ncc - second_ncc: " + "  ".join(f"p{p}={np.percentile(gap, p):.3f}" for p in q))
    for px in sorted({int(r["roi_px"]) for r in rows}):
        sc = np.array([r["scale"] for r in rows if r["roi_px"] == px], dtype=float)
        lines.append(f"crop {px} px: n={sc.size} scale min/median/max = {sc.min():.4f}/{np.median(sc):.4f}/"
                     f"{sc.max():.4f}  side in photo median {np.median(sc) * px:.1f} px")
    worst = sorted(rows, key=lambda r: float(r["ncc"]))[:5]
    lines.append("lowest ncc: " + ", ".join(f"{r['image']} {r['ncc']} ({r['status']})" for r in worst))
    return "\n".join(lines)


def default_data_dir() -> Path:
    """``MEDSCREEN_DATA_DIR``, else ``../shared/data`` beside the repository root."""
    env = os.environ.get("MEDSCREEN_DATA_DIR")
    return Path(env) if env else (REPO_ROOT.parent / "shared" / "data").resolve()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--data", type=Path, default=None,
                        help="datasets folder holding grape/ (default: MEDSCREEN_DATA_DIR or ../shared/data "
                             "beside the repository root)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="CSV to write (default: %(default)s)")
    parser.add_argument("--min-scale", type=float, default=0.12, help="smallest candidate scale")
    parser.add_argument("--max-scale", type=float, default=0.80, help="largest candidate scale")
    parser.add_argument("--scale-step", type=float, default=0.05, help="relative step of the coarse scale grid")
    parser.add_argument("--coarse-factor", type=int, default=4, help="shrink factor of the coarse search")
    parser.add_argument("--refine", type=int, default=3, help="coarse candidates refined at full resolution")
    parser.add_argument("--min-ncc", type=float, default=0.90, help="below this ncc a match is 'low'")
    parser.add_argument("--min-gap", type=float, default=0.10,
                        help="below this ncc - second_ncc a match is 'ambiguous'")
    parser.add_argument("--limit", type=int, default=None, help="only the first N photos (for trying out)")
    args = parser.parse_args(argv)

    data = (args.data or default_data_dir()).resolve()
    grape = data / "grape"
    if not (grape / "CFPs").is_dir():
        parser.error(f"no GRAPE photos at {grape / 'CFPs'}")
    scales = scale_grid(args.min_scale, args.max_scale, args.scale_step)
    print(f"GRAPE at {grape}; {len(scales)} coarse scales {scales[0]:.3f}-{scales[-1]:.3f}", flush=True)
    start = time.perf_counter()
    rows = measure_grape(grape, scales, args.coarse_factor, args.refine, args.min_ncc, args.min_gap, args.limit)
    seconds = time.perf_counter() - start
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    print(summarise(rows, seconds))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
