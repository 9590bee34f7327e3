"""The input check's tests (gates) and their thresholds, as plain data.

A :class:`Gate` compares one measure of :func:`~medscreen.pipelines._quality_features.measure_image`
with one threshold of :data:`THRESHOLDS`. How the thresholds were obtained
(``benchmarks/input_check.py`` refits them from the images and reports how far
they move on a held-out half):

* **fixed by design** (``*`` in :data:`THRESHOLDS`) where the data have no
  spread: the camera surround, the share of coloured pixels an ultrasound may
  carry, the smallest usable image, a flat colour card;
* **modality gates**, from the positive images only (all fundus photos and
  crops, the whole-field photos or the crops alone, or all ultrasound): the
  0.1st (99.9th for an upper limit) percentile, widened by a share of its
  distance to the median — 50 % for the fundus gates, whose nearest ordinary
  photos are far away (red-tinted photos are stopped by the texture gates),
  10 % for the ultrasound gates, beyond which grey photos and textures begin
  (a star field is the only photo above the speckle range, so that upper limit
  is widened by 50 % too);
* **blur, darkness and saturation**, against degraded copies of ~250 real
  photos (Gaussian blur σ = 2 % of the longest side, brightness × 0.15,
  exposure × 3 over a median luma of 100, clipped): midway between the 0.5th
  percentile of the real photos and the 99.5th of the degraded ones;
* **illumination balance, disc contrast, field size** and the ultrasound
  exposure gates: as modality gates with a 10 % widening (real photos are as
  uneven as a strong synthetic ramp, so only what is beyond every public photo
  is flagged).

Fitted on the IDRiD (54), GRAPE CFP (451) and ROI (631), ACRIMA (705), BUSI
(624) and BUS-BRA (571) images here, rounded to 3 digits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from medscreen.i18n import N_, Message, Number
from medscreen.pipelines._quality_features import SURROUND_MAX_LUM

__all__ = [
    "Gate",
    "FUNDUS_COLOUR",
    "FUNDUS_WHOLE_FIELD",
    "FUNDUS_CROP",
    "ULTRASOUND",
    "FUNDUS_GRADABLE",
    "FUNDUS_WHOLE_FIELD_GRADABLE",
    "FUNDUS_CROP_GRADABLE",
    "ULTRASOUND_GRADABLE",
    "EXPOSURE",
    "THRESHOLDS",
    "TYPICAL",
]


@dataclass(frozen=True)
class Gate:
    """One test: ``measures[measure]`` must stay ≤ (``upper``) or ≥ ``thresholds[key]``.

    ``reason`` is a gettext msgid whose ``%(name)s`` placeholders are filled by
    :meth:`explain`: ``value`` (the measure), ``limit`` (the threshold) or any
    other measure, each formatted by its spec in ``numbers`` (``.Nf`` or ``.N%``).
    """

    key: str
    measure: str
    upper: bool
    reason: str
    numbers: Mapping[str, str] = field(default_factory=dict)

    def passes(self, measures: Mapping[str, float], thresholds: Mapping[str, float]) -> bool:
        value, limit = measures[self.measure], thresholds[self.key]
        return value <= limit if self.upper else value >= limit

    def margin(self, measures: Mapping[str, float], thresholds: Mapping[str, float]) -> float:
        """Signed distance past the threshold (≥ 0 passes) in units of threshold-to-:data:`TYPICAL`."""
        value, limit = measures[self.measure], thresholds[self.key]
        scale = abs(TYPICAL.get(self.key, limit) - limit) or max(abs(limit), 1e-6)
        return ((limit - value) if self.upper else (value - limit)) / scale

    def explain(self, measures: Mapping[str, float], thresholds: Mapping[str, float]) -> Message:
        """Why the image failed this test, as a translatable message (``str()`` of it is the English)."""
        given = dict(measures, value=measures[self.measure], limit=thresholds[self.key])
        return Message(self.reason, {name: Number(float(given[name]), spec) for name, spec in self.numbers.items()})


def _gate(key: str, measure: str, upper: bool, reason: str, **numbers: str) -> Gate:
    return Gate(key, measure, upper, reason, numbers)


_TEXTURE = N_("it has fine texture a retina does not have (detail %(value)s > %(limit)s)")
_DARK = N_("image is too dark (brightest parts %(value)s/255, mean %(lum_mean)s/255); retake with more light")
_SMALL_PHOTO = N_("image is too small (%(height)s×%(width)s px; ≥ %(limit)s px needed on the short side); "
                  "send the original photo, not a thumbnail")
_SMALL_SCAN = N_("image is too small (%(height)s×%(width)s px; ≥ %(limit)s px needed on the short side); "
                 "export the full-size image")
_SIZES = {"height": ".0f", "width": ".0f", "limit": ".0f"}

# --- what a fundus photo looks like: all colour gates, and the whole-field or the crop gates
FUNDUS_COLOUR: tuple[Gate, ...] = (
    _gate("fundus_red_order_min", "red_order_frac", False, N_("only %(value)s of it is red-orange (≥ %(limit)s)"),
          value=".0%", limit=".0%"),
    _gate("fundus_green_red_max", "green_red", True,
          N_("it is too green or grey for a retina (green/red %(value)s)"), value=".2f"),
    _gate("fundus_blue_red_max", "blue_red", True, N_("it is too blue or grey for a retina (blue/red %(value)s)"),
          value=".2f"),
    _gate("fundus_hue_min", "hue_mean", False, N_("its colour is not red-orange (hue %(value)s° < %(limit)s°)"),
          value=".0f", limit=".0f"),
    _gate("fundus_hue_max", "hue_mean", True, N_("its colour is not red-orange (hue %(value)s° > %(limit)s°)"),
          value=".0f", limit=".0f"),
    _gate("fundus_hue_concentration_min", "hue_concentration", False, N_("it has many different colours")),
    _gate("fundus_structure_min", "lum_cv", False,
          N_("it is nearly featureless (brightness variation %(value)s)"), value=".3f"),
)
FUNDUS_WHOLE_FIELD: tuple[Gate, ...] = (
    _gate("fundus_surround_max", "corner_lum", True, N_("it has no dark camera surround (corners %(value)s/255)"),
          value=".0f"),
    _gate("fundus_roundness_min", "fov_ellipse_iou", False, N_("its lit field is not round (roundness %(value)s)"),
          value=".2f"),
    _gate("fundus_texture_max", "texture_hf", True, _TEXTURE, value=".3f", limit=".3f"),
)
FUNDUS_CROP: tuple[Gate, ...] = (
    _gate("fundus_crop_texture_max", "texture_hf", True, _TEXTURE, value=".3f", limit=".3f"),
)

# --- what a B-mode breast ultrasound image looks like: all of these
ULTRASOUND: tuple[Gate, ...] = (
    _gate("us_colour_max", "colour_frac", True,
          N_("it is in colour (%(value)s of pixels; B-mode ultrasound is grey)"), value=".0%"),
    _gate("us_speckle_min", "local_cv", False,
          N_("it lacks ultrasound speckle (local contrast %(value)s < %(limit)s)"), value=".3f", limit=".3f"),
    _gate("us_speckle_max", "local_cv", True,
          N_("it is grainier than ultrasound speckle (local contrast %(value)s)"), value=".3f"),
    _gate("us_layering_min", "layering", False,
          N_("it lacks a scan's sideways tissue layers (%(value)s < %(limit)s)"), value=".2f", limit=".2f"),
    _gate("us_lateral_min", "speckle_lateral", False,
          N_("its grain is not elongated sideways like speckle (%(value)s)"), value=".2f"),
    _gate("us_contrast_min", "lum_cv", False,
          N_("it has less contrast than a scan (variation %(value)s < %(limit)s)"), value=".2f", limit=".2f"),
)

# --- gradable, once the modality is known
FUNDUS_GRADABLE: tuple[Gate, ...] = (
    _gate("fundus_blur_max", "blur_sigma", True,
          N_("image is out of focus (edge blur %(value)s > %(limit)s, in 1/256 of the image); refocus and retake"),
          value=".1f", limit=".1f"),
    _gate("fundus_dark_min", "lum_p99", False, _DARK, value=".0f", lum_mean=".0f"),
    _gate("fundus_saturated_max", "saturated_frac", True,
          N_("image is over-exposed (%(value)s of the retina is saturated white); retake with less light"),
          value=".0%"),
    _gate("fundus_balance_min", "illum_balance", False,
          N_("illumination is uneven (the darkest half is at %(value)s of the brightest); centre the pupil and "
             "retake"), value=".0%"),
    _gate("fundus_disc_min", "disc_contrast", False,
          N_("no bright optic-disc region is visible (contrast %(value)s < %(limit)s); aim so the optic disc is in "
             "view"), value=".2f", limit=".2f"),
)
FUNDUS_WHOLE_FIELD_GRADABLE: tuple[Gate, ...] = (
    _gate("fundus_min_side_whole", "min_side", False, _SMALL_PHOTO, **_SIZES),
    _gate("fundus_field_min", "fov_frac", False,
          N_("the retina fills only %(value)s of the frame (≥ %(limit)s needed); move closer and retake"),
          value=".0%", limit=".0%"),
)
FUNDUS_CROP_GRADABLE: tuple[Gate, ...] = (
    _gate("fundus_min_side_crop", "min_side", False, _SMALL_PHOTO, **_SIZES),
)
ULTRASOUND_GRADABLE: tuple[Gate, ...] = (
    _gate("us_min_side", "min_side", False, _SMALL_SCAN, **_SIZES),
    _gate("us_dark_min", "lum_p95_all", False, N_("image is too dark (bright tissue only %(value)s/255); raise the gain"),
          value=".0f"),
    _gate("us_saturated_max", "saturated_frac", True,
          N_("image is saturated (%(value)s pure white); lower the gain"), value=".0%"),
)

# --- said first when an image is neither: it may be a photo or scan too dark or too bright to recognise
EXPOSURE: tuple[Gate, ...] = (
    _gate("fundus_dark_min", "lum_p99", False, _DARK, value=".0f", lum_mean=".0f"),
    _gate("fundus_saturated_max", "saturated_frac", True,
          N_("image is over-exposed (%(value)s of it is saturated white); retake with less light"), value=".0%"),
)

#: Threshold of each gate (see the module docstring for how; ``*`` = fixed by design).
THRESHOLDS: dict[str, float] = {
    # fundus, colour inside the field (IDRiD, GRAPE CFPs and crops, ACRIMA)
    "fundus_red_order_min": 0.758,
    "fundus_green_red_max": 1.06,
    "fundus_blue_red_max": 0.661,
    "fundus_hue_min": -1.16,
    "fundus_hue_max": 62.7,
    "fundus_hue_concentration_min": 0.9,
    "fundus_structure_min": 0.03,  # * a flat colour card is no photo
    # fundus, whole-field photo in a camera surround (IDRiD, GRAPE CFPs) or frame-filling crop (ACRIMA, GRAPE ROI)
    "fundus_surround_max": SURROUND_MAX_LUM,  # * a camera's black surround
    "fundus_roundness_min": 0.718,
    "fundus_texture_max": 0.0388,
    "fundus_crop_texture_max": 0.0195,
    # ultrasound (BUSI, BUS-BRA)
    "us_colour_max": 0.05,  # * room for coloured annotation marks
    "us_speckle_min": 0.0427,
    "us_speckle_max": 0.273,
    "us_layering_min": 1.16,
    "us_lateral_min": -0.129,
    "us_contrast_min": 0.207,
    # fundus gradability
    "fundus_blur_max": 3.52,
    "fundus_dark_min": 61.0,
    "fundus_saturated_max": 0.0353,
    "fundus_balance_min": 0.394,
    "fundus_disc_min": 0.122,
    "fundus_field_min": 0.396,
    "fundus_min_side_whole": 384.0,  # * a disc of about 50 px in a whole-field photo
    "fundus_min_side_crop": 128.0,  # * ACRIMA's smallest crop is 178 px
    # ultrasound gradability
    "us_min_side": 128.0,  # * BUSI's narrowest image is about 190 px
    "us_dark_min": 56.6,
    "us_saturated_max": 0.0436,
}

#: Median of each fitted modality gate's measure on its images: the unit of the confidence margins.
TYPICAL: dict[str, float] = {
    "fundus_red_order_min": 1.0,
    "fundus_green_red_max": 0.501,
    "fundus_blue_red_max": 0.214,
    "fundus_hue_min": 20.4,
    "fundus_hue_max": 20.4,
    "fundus_hue_concentration_min": 0.995,
    "fundus_roundness_min": 0.996,
    "fundus_texture_max": 0.0143,
    "fundus_crop_texture_max": 0.00681,
    "us_speckle_min": 0.118,
    "us_speckle_max": 0.118,
    "us_layering_min": 3.22,
    "us_lateral_min": 0.616,
    "us_contrast_min": 0.445,
}
