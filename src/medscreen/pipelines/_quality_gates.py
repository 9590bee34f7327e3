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
from dataclasses import dataclass

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

    ``reason`` is a :meth:`str.format` template given ``value``, ``limit`` and every measure.
    """

    key: str
    measure: str
    upper: bool
    reason: str

    def passes(self, measures: Mapping[str, float], thresholds: Mapping[str, float]) -> bool:
        value, limit = measures[self.measure], thresholds[self.key]
        return value <= limit if self.upper else value >= limit

    def margin(self, measures: Mapping[str, float], thresholds: Mapping[str, float]) -> float:
        """Signed distance past the threshold (≥ 0 passes) in units of threshold-to-:data:`TYPICAL`."""
        value, limit = measures[self.measure], thresholds[self.key]
        scale = abs(TYPICAL.get(self.key, limit) - limit) or max(abs(limit), 1e-6)
        return ((limit - value) if self.upper else (value - limit)) / scale

    def explain(self, measures: Mapping[str, float], thresholds: Mapping[str, float]) -> str:
        return self.reason.format(value=measures[self.measure], limit=thresholds[self.key], **measures)


_TEXTURE = "it has fine texture a retina does not have (detail {value:.3f} > {limit:.3f})"
_DARK = "image is too dark (brightest parts {value:.0f}/255, mean {lum_mean:.0f}/255); retake with more light"
_SMALL = "image is too small ({height:.0f}×{width:.0f} px; ≥ {limit:.0f} px needed on the short side); "

# --- what a fundus photo looks like: all colour gates, and the whole-field or the crop gates
FUNDUS_COLOUR: tuple[Gate, ...] = (
    Gate("fundus_red_order_min", "red_order_frac", False, "only {value:.0%} of it is red-orange (≥ {limit:.0%})"),
    Gate("fundus_green_red_max", "green_red", True, "it is too green or grey for a retina (green/red {value:.2f})"),
    Gate("fundus_blue_red_max", "blue_red", True, "it is too blue or grey for a retina (blue/red {value:.2f})"),
    Gate("fundus_hue_min", "hue_mean", False, "its colour is not red-orange (hue {value:.0f}° < {limit:.0f}°)"),
    Gate("fundus_hue_max", "hue_mean", True, "its colour is not red-orange (hue {value:.0f}° > {limit:.0f}°)"),
    Gate("fundus_hue_concentration_min", "hue_concentration", False, "it has many different colours"),
    Gate("fundus_structure_min", "lum_cv", False, "it is nearly featureless (brightness variation {value:.3f})"),
)
FUNDUS_WHOLE_FIELD: tuple[Gate, ...] = (
    Gate("fundus_surround_max", "corner_lum", True, "it has no dark camera surround (corners {value:.0f}/255)"),
    Gate("fundus_roundness_min", "fov_ellipse_iou", False, "its lit field is not round (roundness {value:.2f})"),
    Gate("fundus_texture_max", "texture_hf", True, _TEXTURE),
)
FUNDUS_CROP: tuple[Gate, ...] = (Gate("fundus_crop_texture_max", "texture_hf", True, _TEXTURE),)

# --- what a B-mode breast ultrasound image looks like: all of these
ULTRASOUND: tuple[Gate, ...] = (
    Gate("us_colour_max", "colour_frac", True, "it is in colour ({value:.0%} of pixels; B-mode ultrasound is grey)"),
    Gate("us_speckle_min", "local_cv", False, "it lacks ultrasound speckle (local contrast {value:.3f} < {limit:.3f})"),
    Gate("us_speckle_max", "local_cv", True, "it is grainier than ultrasound speckle (local contrast {value:.3f})"),
    Gate("us_layering_min", "layering", False, "it lacks a scan's sideways tissue layers ({value:.2f} < {limit:.2f})"),
    Gate("us_lateral_min", "speckle_lateral", False, "its grain is not elongated sideways like speckle ({value:.2f})"),
    Gate("us_contrast_min", "lum_cv", False, "it has less contrast than a scan (variation {value:.2f} < {limit:.2f})"),
)

# --- gradable, once the modality is known
FUNDUS_GRADABLE: tuple[Gate, ...] = (
    Gate(
        "fundus_blur_max", "blur_sigma", True,
        "image is out of focus (edge blur {value:.1f} > {limit:.1f}, in 1/256 of the image); refocus and retake",
    ),
    Gate("fundus_dark_min", "lum_p99", False, _DARK),
    Gate(
        "fundus_saturated_max", "saturated_frac", True,
        "image is over-exposed ({value:.0%} of the retina is saturated white); retake with less light",
    ),
    Gate(
        "fundus_balance_min", "illum_balance", False,
        "illumination is uneven (the darkest half is at {value:.0%} of the brightest); centre the pupil and retake",
    ),
    Gate(
        "fundus_disc_min", "disc_contrast", False,
        "no bright optic-disc region is visible (contrast {value:.2f} < {limit:.2f}); aim so the optic disc is in view",
    ),
)
FUNDUS_WHOLE_FIELD_GRADABLE: tuple[Gate, ...] = (
    Gate("fundus_min_side_whole", "min_side", False, _SMALL + "send the original photo, not a thumbnail"),
    Gate(
        "fundus_field_min", "fov_frac", False,
        "the retina fills only {value:.0%} of the frame (≥ {limit:.0%} needed); move closer and retake",
    ),
)
FUNDUS_CROP_GRADABLE: tuple[Gate, ...] = (
    Gate("fundus_min_side_crop", "min_side", False, _SMALL + "send the original photo, not a thumbnail"),
)
ULTRASOUND_GRADABLE: tuple[Gate, ...] = (
    Gate("us_min_side", "min_side", False, _SMALL + "export the full-size image"),
    Gate("us_dark_min", "lum_p95_all", False, "image is too dark (bright tissue only {value:.0f}/255); raise the gain"),
    Gate("us_saturated_max", "saturated_frac", True, "image is saturated ({value:.0%} pure white); lower the gain"),
)

# --- said first when an image is neither: it may be a photo or scan too dark or too bright to recognise
EXPOSURE: tuple[Gate, ...] = (
    Gate("fundus_dark_min", "lum_p99", False, _DARK),
    Gate(
        "fundus_saturated_max", "saturated_frac", True,
        "image is over-exposed ({value:.0%} of it is saturated white); retake with less light",
    ),
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
