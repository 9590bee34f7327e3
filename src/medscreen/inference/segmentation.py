"""Segmentation inference on whole images: preprocessing, coarse-to-fine disc, lesion masks.

Works with any :data:`~medscreen.inference.runtime.Runner` (ONNX Runtime for
screening, a PyTorch module for research), so both backends share one code
path and give the same masks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from medscreen.inference.card import CardParams
from medscreen.inference.runtime import ModelSpec, Runner
from medscreen.transforms import _ndimage
from medscreen.transforms.geometry import (
    Box,
    DiscGeometry,
    centred_box,
    crop_box,
    fov_box,
    largest_component,
    mask_geometry,
    paste_box,
    resize,
    square_box,
)

__all__ = [
    "DiscConfidence", "SegmentationOutput", "disc_confidence", "disc_needs_review", "looks_like_crop",
    "predict_in_box", "region_near", "segment_disc",
    "segment_lesion",
]


@dataclass
class SegmentationOutput:
    """A mask at the input image's resolution, the probability map and the boxes looked at.

    ``window``: the part of the image outside which mask and probability are zero
    (None: the whole image); :meth:`geometry` measures only inside it.
    """

    mask: np.ndarray
    probability: np.ndarray
    boxes: list[Box]
    window: Box | None = None

    def geometry(self) -> DiscGeometry | None:
        """:func:`~medscreen.transforms.geometry.mask_geometry` of the mask (None when empty), in image pixels."""
        if self.window is None:
            return mask_geometry(self.mask)
        y0, x0, y1, x1 = self.window
        geo = mask_geometry(self.mask[y0:y1, x0:x1])
        return None if geo is None else geo.shifted(y0, x0)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -40, 40)))


def _to_batch(images: list[np.ndarray]) -> np.ndarray:
    arr = np.stack([im if im.ndim == 3 else im[..., None] for im in images]).astype(np.float32) / 255.0
    return arr.transpose(0, 3, 1, 2)


def _network_map(image: np.ndarray, box: Box, runner: Runner, spec: ModelSpec) -> np.ndarray:
    """The network's ``S×S`` probability map of ``box`` of ``image`` (zero-padded outside it).

    The window is shrunk in two steps (``reducing_gap``): twice as fast for a full photo, within a few grey levels.
    """
    s = spec.input_size
    crop = resize(crop_box(image, box), (s, s), reducing_gap=2.0)
    return _sigmoid(runner(_to_batch([crop]))[0, 0]).astype(np.float32)


def _inside(box: Box, shape: tuple[int, ...]) -> Box:
    """The part of ``box`` inside an image of ``shape``."""
    return max(box[0], 0), max(box[1], 0), min(box[2], shape[0]), min(box[3], shape[1])


def _window_part(image: np.ndarray, win: Box, onto: Box, runner: Runner, spec: ModelSpec) -> tuple[np.ndarray, Box]:
    """Probability of window ``win`` of ``image`` over the part of ``onto`` it covers, and that part.

    The network's map is resized straight to the part's pixels (Pillow's resize
    of a source ``box``), not to the whole window first: a window wider than
    ``onto`` costs no more than one of its size.
    """
    prob = _network_map(image, win, runner, spec)
    y0, x0, y1, x1 = max(win[0], onto[0]), max(win[1], onto[1]), min(win[2], onto[2]), min(win[3], onto[3])
    fy, fx = prob.shape[0] / (win[2] - win[0]), prob.shape[1] / (win[3] - win[1])
    source = ((x0 - win[1]) * fx, (y0 - win[0]) * fy, (x1 - win[1]) * fx, (y1 - win[0]) * fy)
    part = Image.fromarray(prob, mode="F").resize((x1 - x0, y1 - y0), Image.Resampling.BILINEAR, box=source)
    return np.asarray(part, dtype=np.float32), (y0, x0, y1, x1)


def _predict_window(image: np.ndarray, box: Box, runner: Runner, spec: ModelSpec) -> tuple[np.ndarray, Box]:
    """Probability map of ``box`` of ``image`` (zero-padded), cut to the part inside the image, and that part."""
    return _window_part(image, box, _inside(box, image.shape), runner, spec)


def _predict_window_scales(image: np.ndarray, box: Box, runner: Runner, spec: ModelSpec,
                           scales: tuple[float, ...]) -> tuple[np.ndarray, Box]:
    """Probability map of ``box`` of ``image`` (cut to the part inside the image, and that part), averaged over
    windows of the same centre and ``scales`` × its side.

    A scale test-time augmentation: the network sees the disc at several sizes
    in its window and the probability maps are averaged where they overlap
    ``box``. Written here rather than with MONAI's test-time augmentation, which
    resamples one tensor, because each scale is a new window cut from the whole
    photo (a larger window shows real retina, not padding). ``(1.0,)`` is the
    one window of before, unchanged.

    Windows are not held to pass 2's ceiling: on IDRiD's 11 validation photos
    cut to 2-diameter crops, windows 0.7/1/1.4 gave IoU 0.860 as here and 0.831
    with the wider ones cut to the ceiling (one window: 0.840; the cut variant
    was measured once and not kept).
    """
    window = _inside(box, image.shape)
    shape = (window[2] - window[0], window[3] - window[1])
    total, count = np.zeros(shape, np.float32), np.zeros(shape, np.float32)
    cy, cx, side = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, box[2] - box[0]
    for each in sorted({side if s == 1.0 else int(max(side * s, 32)) for s in scales}):
        # every window shares the box's centre, so each covers part of it
        part, at = _window_part(image, box if each == side else centred_box(cy, cx, each), window, runner, spec)
        y0, x0, y1, x1 = at[0] - window[0], at[1] - window[1], at[2] - window[0], at[3] - window[1]
        total[y0:y1, x0:x1] += part
        count[y0:y1, x0:x1] += 1.0
    return np.divide(total, count, out=np.zeros_like(total), where=count > 0), window


def predict_in_box(image: np.ndarray, box: Box, runner: Runner, spec: ModelSpec) -> np.ndarray:
    """Probability map of ``box`` of ``image`` (zero-padded), pasted back at image resolution."""
    prob, window = _predict_window(image, box, runner, spec)
    return paste_box(prob, window, image.shape[:2])


#: disc radii tried by the blob detector, as a share of the pass-1 view's side: a whole field's
#: disc is small; a disc-centred crop's fills a large part of it
_BLOB_RADII = {False: (0.025, 0.04, 0.06, 0.085, 0.12), True: (0.06, 0.085, 0.12, 0.17, 0.24)}
#: the pass-2 window's largest side, as a share of the view (a crop may need all of it)
_MAX_REFINE = {False: 0.6, True: 1.0}


def looks_like_crop(rgb: np.ndarray, dark: int = 20) -> bool:
    """Whether a fundus image has no dark camera surround in its corners (a disc-centred crop)."""
    h, w = rgb.shape[:2]
    c = max(2, min(h, w) // 20)
    corners = [rgb[:c, :c], rgb[:c, -c:], rgb[-c:, :c], rgb[-c:, -c:]]
    return sum(float(np.max(x, axis=-1).mean()) > dark if x.ndim == 3 else float(x.mean()) > dark
               for x in corners) >= 3


def _box_mean(x: np.ndarray, r: int) -> np.ndarray:
    return _ndimage.uniform_filter(x, size=2 * r + 1, mode="constant")


def _blob_peak(prob: np.ndarray, radii: tuple[float, ...],
               max_offset: float | None = None) -> tuple[int, int, float, float] | None:
    """The most disc-like spot of a probability map: ``(y, x, radius, score)`` or None.

    A centre-surround detector at several radii: the mean probability inside a
    square of side ``2r+1`` minus the mean of the ring out to ``2r``. A compact
    bright disc scores high; the broad glow a model paints over unfamiliar
    bright retina (flash at the rim, atrophy, reflexes) scores low, because its
    surround is as high as its centre. Hand-written: a few lines of
    box filters, and no library offers this scoring.

    ``max_offset``: look only at rows whose centre lies at most this many half
    heights above or below the map's middle (the band where a 45° photo's disc
    lies, :func:`disc_confidence`'s ``max_vertical_offset``); None: everywhere.
    """
    side = prob.shape[0]
    rows = None
    if max_offset is not None:
        rows = np.abs(np.arange(side) + 0.5 - side / 2) <= max_offset * side / 2
    best: tuple[int, int, float, float] | None = None
    for share in radii:
        r = max(1, int(round(share * side)))
        inner = _box_mean(prob, r)
        outer = _box_mean(prob, 2 * r)
        n_in, n_out = (2 * r + 1) ** 2, (4 * r + 1) ** 2
        ring = (outer * n_out - inner * n_in) / (n_out - n_in)
        score = inner - ring
        if rows is not None:
            score[~rows] = -np.inf
        y, x = np.unravel_index(int(np.argmax(score)), score.shape)
        if best is None or score[y, x] > best[3]:
            best = (int(y), int(x), float(r), float(score[y, x]))
    if best is None or best[3] <= 0.05:
        return None
    return best


def _blob_peak_halved(prob: np.ndarray, radii: tuple[float, ...],
                      max_offset: float | None = None) -> tuple[int, int, float, float] | None:
    """:func:`_blob_peak` on the map mean-pooled 2×2 (4× fewer pixels on the screening hot path), in full-map units.

    Only the peak's place is taken from it, to within 2 map pixels; pass 2 then outlines the disc at full resolution.
    """
    h, w = (prob.shape[0] // 2) * 2, (prob.shape[1] // 2) * 2
    if h < 32 or w < 32:
        return _blob_peak(prob, radii, max_offset)
    pooled = prob[:h, :w].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
    peak = _blob_peak(pooled, radii, max_offset)
    return None if peak is None else (2 * peak[0] + 1, 2 * peak[1] + 1, 2 * peak[2], peak[3])


def region_near(prob: np.ndarray, threshold: float, cy: float, cx: float, spread: float) -> np.ndarray | None:
    """The component of ``prob > t`` with the most probability mass, weighted by closeness to ``(cy, cx)``."""
    peak = float(prob.max())
    if peak < 0.05:
        return None
    above = prob > min(threshold, 0.5 * peak)
    labels, n = _ndimage.label(above)
    if n == 0:
        return None
    index = np.arange(1, n + 1)
    mass = _ndimage.sum_labels(prob, labels, index)
    centres = _ndimage.center_of_mass(prob, labels, index)
    dist2 = (centres[:, 0] - cy) ** 2 + (centres[:, 1] - cx) ** 2
    score = mass * np.exp(-dist2 / (2 * spread * spread))
    return labels == int(index[int(np.argmax(score))])


def segment_disc(rgb: np.ndarray, runner: Runner, spec: ModelSpec, *, is_crop: bool | None = None) -> SegmentationOutput:
    """Optic disc of a fundus photo, full field or disc-centred crop alike.

    Pass 1 looks at the squared field of view at the model's input size and
    locates the disc as the most disc-like spot of the probability map
    (:func:`_blob_peak`; on a full photo, only within the card's
    ``max_vertical_offset`` of the view's middle); pass 2 looks again at a square around it of side
    ``refine_k × diameter`` held between ``min_refine`` and ``max_refine`` of
    the field of view (averaged over windows of ``refine_scales`` × that side,
    :func:`_predict_window_scales`), and the final mask is the pass-2 component
    with the most probability mass near the window's centre. ``is_crop`` (default:
    :func:`looks_like_crop`) sets the disc sizes looked for and the largest window.
    """
    crop = looks_like_crop(rgb) if is_crop is None else is_crop
    threshold = spec.threshold
    shape = rgb.shape[:2]
    box1 = square_box(fov_box(rgb))
    s = spec.input_size
    small = _network_map(rgb, box1, runner, spec)
    boxes = [box1]
    # a full photo's disc is looked for only where a disc can lie: the flash at the rim of the field can
    # outscore it (a disc found there was turned away as implausible anyway)
    band = None if crop else spec.params.max_vertical_offset
    peak = _blob_peak_halved(small, _BLOB_RADII[crop], band)
    final = None
    if peak is None:
        prob, window = _predict_window(rgb, box1, runner, spec)
    else:
        f = (box1[2] - box1[0]) / s
        py, px, radius, _ = peak
        region = region_near(small, threshold, py, px, 2.0 * radius)
        geo = mask_geometry(region) if region is not None else None
        diameter = geo.diameter if geo is not None and np.hypot(geo.cy - py, geo.cx - px) < 2 * radius \
            else 2.0 * radius
        fov_side = box1[2] - box1[0]
        k, floor = spec.params.refine_k, spec.params.min_refine
        ceiling = spec.params.max_refine if spec.params.max_refine is not None else _MAX_REFINE[crop]
        side = int(np.clip(k * diameter * f, floor * fov_side, max(ceiling, floor) * fov_side))
        box2 = centred_box(box1[0] + (py + 0.5) * f, box1[1] + (px + 0.5) * f, max(side, 32))
        prob, window = _predict_window_scales(rgb, box2, runner, spec, spec.params.refine_scales)
        boxes.append(box2)
        cy2, cx2 = (box2[0] + box2[2]) / 2 - window[0], (box2[1] + box2[3]) / 2 - window[1]
        region2 = region_near(prob, threshold, cy2, cx2, (box2[2] - box2[0]) / 4)
        if region2 is not None:
            final = region2
    mask = (final & (prob > threshold)) if final is not None else np.zeros(prob.shape, bool)
    return SegmentationOutput(paste_box(largest_component(mask), window, shape), paste_box(prob, window, shape),
                              boxes, window)


#: disc diameter ÷ view side seen on good photos (set from data: ``benchmarks/disc_location.py``);
#: a card's ``params`` may override them as ``size_range_full`` / ``size_range_crop``
SIZE_RANGE_FULL = (0.06, 0.25)
SIZE_RANGE_CROP = (0.15, 0.85)


@dataclass(frozen=True)
class DiscConfidence:
    """How sure the disc stage is that it outlined the optic disc, and why.

    ``certainty``: mean model probability inside the outline (0–1).
    ``size_ratio``: disc diameter ÷ the view's side (the squared field of view
    of a full photo, the side of a crop); ``size_ok`` when inside the range
    good photos show. ``roundness``: outline area ÷ the ellipse filling its
    bounding box (≈1 for a disc, low for streaks and rims).
    ``vertical_offset``: how far above or below the view's middle the disc's
    centre lies, in half view sides (0 at the middle, 1 at the top or bottom
    edge; None when the view was not given); ``position_ok`` when it is at
    most the card's ``max_vertical_offset`` (always, without one).
    ``confidence``: certainty × size and roundness mapped to 0–1 (1 when
    plausible), and 0 when the position is not plausible.
    """

    confidence: float
    certainty: float
    size_ratio: float
    size_ok: bool
    roundness: float
    vertical_offset: float | None = None
    position_ok: bool = True


def disc_confidence(out: SegmentationOutput, view_side: float, *, is_crop: bool,
                    params: CardParams | None = None, view_box: Box | None = None) -> DiscConfidence | None:
    """Score a disc outline (None when there is none): model certainty × plausible size × disc-like shape × position.

    ``view_box``: the squared field of view (or crop) the size is measured
    against; with it, a disc whose centre lies more than the card's
    ``max_vertical_offset`` half-sides above or below the view's middle gets
    confidence 0. In a 45° photo, disc- or macula-centred, the disc lies near
    the horizontal meridian (on the people not trained on: at most 0.37 of the
    half side in HYGD, GRAPE and IDRiD); what the model mistakes for a disc
    far above or below it is the camera's flash at the rim of the field. A
    disc-centred crop has its disc near the middle by construction.

    Hand-written because no library scores "is this the optic disc"; each term
    is a plain, inspectable number so a later rule can turn an implausible disc
    into a retake with a reason a health worker understands.
    """
    geo = out.geometry()
    if geo is None:
        return None
    card_range = None if params is None else params.size_range_crop if is_crop else params.size_range_full
    lo, hi = card_range or (SIZE_RANGE_CROP if is_crop else SIZE_RANGE_FULL)
    certainty = float(out.probability[out.mask].mean()) if out.mask.any() else 0.0
    ratio = float(geo.diameter / max(view_side, 1.0))
    size_ok = lo <= ratio <= hi
    size_factor = 1.0 if size_ok else float(np.exp(-abs(np.log(ratio / (lo if ratio < lo else hi))) / 0.3))
    box_area = max((geo.x1 - geo.x0) * (geo.y1 - geo.y0), 1.0)
    roundness = float(min(1.0, geo.area / (np.pi / 4 * box_area)))
    shape_factor = float(np.clip((roundness - 0.5) / 0.3, 0.0, 1.0))
    offset = None
    if view_box is not None:
        y0, _, y1, _ = view_box
        offset = round(float(abs(geo.cy - (y0 + y1) / 2) / max((y1 - y0) / 2, 1.0)), 4)
    limit = None if params is None else params.max_vertical_offset
    position_ok = offset is None or limit is None or offset <= limit
    confidence = certainty * size_factor * shape_factor if position_ok else 0.0
    return DiscConfidence(round(confidence, 4), round(certainty, 4), round(ratio, 4), size_ok, round(roundness, 4),
                          offset, position_ok)


def disc_needs_review(conf: DiscConfidence | None, params: CardParams, *, is_crop: bool) -> bool:
    """Whether a plausible disc on a full photo is still too doubtful to let a routine advice stand.

    True when the disc is at least the card's ``review_size_full`` of the field
    of view (larger than about 19 in 20 well-located discs) and its confidence is
    below ``review_below_confidence``. Such an outline is what the disc stage draws
    when it takes in the pale atrophy beside the disc: the disc is still in
    the crop, but off its centre, so the glaucoma probability is not to be
    trusted and a specialist should look. Disc-centred crops are never
    ruled on (their disc fills a fixed share of the view).
    """
    return (conf is not None and not is_crop and params.review_size_full is not None
            and conf.size_ratio >= params.review_size_full and conf.confidence < params.review_below_confidence)


def segment_lesion(grey: np.ndarray, runner: Runner, spec: ModelSpec) -> SegmentationOutput:
    """Lesion mask of a grey ultrasound image (resized to the input size, as trained).

    Components smaller than ``min_area_fraction`` of the image are dropped
    (speckle), and so are those whose mean probability is below
    ``min_mean_probability``: a lesion the model is unsure of as a whole is
    what it paints on normal images (chosen on validation data, see the card).
    """
    h, w = grey.shape[:2]
    prob = predict_in_box(grey, (0, 0, h, w), runner, spec)
    mask = prob > spec.threshold
    min_area = spec.params.min_area_fraction * h * w
    min_mean = spec.params.min_mean_probability
    if (min_area > 0 or min_mean > 0) and mask.any():
        labels, n = _ndimage.label(mask)
        sizes = np.bincount(labels.ravel())
        means = np.bincount(labels.ravel(), weights=prob.ravel()) / np.maximum(sizes, 1)
        keep = np.nonzero((sizes >= min_area) & (means >= min_mean))[0]
        mask = np.isin(labels, keep[keep > 0])
    return SegmentationOutput(mask, prob, [(0, 0, h, w)])
