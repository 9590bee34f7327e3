"""Named MONAI augmentation presets, applied to the training split only.

Arrays are channel-first float32 in [0, 1] (``image``) with a ``1×H×W``
float mask (``label``). Geometry: flips, shift, scale and rotation; intensity:
brightness, contrast (gamma), per-channel colour gain, blur (out-of-focus phone
photos) and noise, following GlaucoScreen's list (shift, flip, zoom, rotation,
brightness) plus what camera-to-camera shifts call for.
"""

from __future__ import annotations

import math

from monai.transforms import (
    Compose,
    RandAdjustContrastd,
    RandAffined,
    RandBiasFieldd,
    RandFlipd,
    RandGaussianNoised,
    RandGaussianSmoothd,
    RandHistogramShiftd,
    RandScaleIntensityd,
    RandShiftIntensityd,
    RandSimulateLowResolutiond,
)

from medscreen.tasks import get_task
from medscreen.transforms.appearance import RandConvd, RandDesaturated, RandFieldEdged, RandRimFlared

__all__ = ["CLASSIFICATION_AUGMENT", "SEGMENTATION_AUGMENT", "classification_augment", "segmentation_augment"]

_KEYS = ("image", "label")


def _fundus() -> Compose:
    return Compose(
        [
            RandFlipd(keys=_KEYS, prob=0.5, spatial_axis=1),  # left/right eye
            RandAffined(
                keys=_KEYS,
                prob=0.8,
                rotate_range=math.radians(20),
                scale_range=0.15,
                translate_range=(16, 16),
                mode=("bilinear", "nearest"),
                padding_mode="zeros",
            ),
            # camera appearance: colour gain per channel, exposure, gamma, uneven illumination
            # (bias field), non-linear contrast, edge-of-field flash, focus and sensor noise
            RandScaleIntensityd(keys="image", factors=0.35, prob=0.7, channel_wise=True),
            RandShiftIntensityd(keys="image", offsets=0.1, prob=0.5),
            RandAdjustContrastd(keys="image", gamma=(0.5, 1.8), prob=0.6),
            RandBiasFieldd(keys="image", coeff_range=(0.1, 0.5), prob=0.4),
            RandHistogramShiftd(keys="image", num_control_points=(5, 10), prob=0.25),
            RandRimFlared(keys="image", prob=0.3),
            RandGaussianSmoothd(keys="image", sigma_x=(0.3, 2.0), sigma_y=(0.3, 2.0), prob=0.3),
            RandGaussianNoised(keys="image", std=0.03, prob=0.3),
        ]
    )


def _ultrasound(keys: tuple[str, ...] = _KEYS) -> Compose:
    """Breast ultrasound; ``keys`` is ``("image", "label")`` for segmentation, ``("image",)`` for classification."""
    return Compose(
        [
            RandFlipd(keys=keys, prob=0.5, spatial_axis=1),
            RandAffined(
                keys=keys,
                prob=0.7,
                rotate_range=math.radians(12),
                scale_range=0.15,
                translate_range=(20, 20),
                mode=("bilinear", "nearest")[: len(keys)],
                padding_mode="zeros",
            ),
            RandScaleIntensityd(keys="image", factors=0.2, prob=0.5),
            RandAdjustContrastd(keys="image", gamma=(0.7, 1.5), prob=0.5),
            RandGaussianSmoothd(keys="image", sigma_x=(0.3, 1.0), sigma_y=(0.3, 1.0), prob=0.15),
            RandGaussianNoised(keys="image", std=0.03, prob=0.25),
        ]
    )


#: augmentation presets of segmentation tasks, by preset name (``TaskSpec.augment``)
SEGMENTATION_AUGMENT = {"fundus-field": _fundus, "ultrasound": _ultrasound}


def segmentation_augment(task: str, seed: int) -> Compose:
    """The training augmentation for ``task``, seeded for reproducibility."""
    transform = SEGMENTATION_AUGMENT[get_task(task, "segmentation").augment]()
    transform.set_random_state(seed=seed)
    return transform


def _fundus_crop() -> Compose:
    """Disc crops: GlaucoScreen's shift/flip/zoom/rotation/brightness plus camera appearance shifts.

    Colour gain per channel, exposure, gamma, uneven illumination (bias field),
    non-linear contrast, focus and noise: the ways one camera's crops differ
    from another's, so the classifier cannot key on them.

    Zoom ±15 % also covers the uncertainty of the crop's framing (disc
    diameters predicted on photos from unseen cameras); reflection padding
    avoids black corners that real crops never have.
    """
    return Compose(
        [
            RandFlipd(keys="image", prob=0.5, spatial_axis=1),
            RandAffined(keys="image", prob=0.8, rotate_range=math.radians(20), scale_range=0.15,
                        translate_range=(16, 16), padding_mode="reflection"),
            RandScaleIntensityd(keys="image", factors=0.35, prob=0.7, channel_wise=True),
            RandShiftIntensityd(keys="image", offsets=0.1, prob=0.5),
            RandAdjustContrastd(keys="image", gamma=(0.5, 1.8), prob=0.6),
            RandBiasFieldd(keys="image", coeff_range=(0.1, 0.4), prob=0.3),
            RandHistogramShiftd(keys="image", num_control_points=(5, 10), prob=0.25),
            RandGaussianSmoothd(keys="image", sigma_x=(0.3, 2.0), sigma_y=(0.3, 2.0), prob=0.3),
            RandGaussianNoised(keys="image", std=0.03, prob=0.25),
            RandFieldEdged(keys="image", prob=0.35),  # after the intensity changes: the surround stays black
        ]
    )


def _fundus_crop_dg() -> Compose:
    """``fundus-crop`` plus domain generalisation for unseen cameras.

    Resolution (an image sampled down to 35–100 % and back: cameras and
    framings differ in how many pixels the disc gets), colour saturation
    towards grey, and random convolutions (:class:`RandConvd`) that scramble
    texture and colour while keeping the cup's shape.

    Measured (two seeds each, the shipped recipe otherwise): leave-one-source-out
    AUC 0.807 / 0.665 (two-seed ensembles, held-out HYGD / ACRIMA) against
    0.772 / 0.722 with ``fundus-crop``, and on the unseen cameras of
    ``benchmarks/glaucoma_transfer.py`` GRAPE vs IDRiD AUC 0.68 (two-seed
    ensemble) against 0.87 (``fundus-crop``, seed 42, the shipped model): no
    better, so the shipped glaucoma model does not use it.
    """
    return Compose(
        [
            *_fundus_crop().transforms[:-1],
            RandSimulateLowResolutiond(keys="image", prob=0.35, zoom_range=(0.35, 1.0), downsample_mode="area",
                                       upsample_mode="bilinear"),
            RandDesaturated(keys="image", prob=0.3),
            RandConvd(keys="image", prob=0.5),
            RandFieldEdged(keys="image", prob=0.35),
        ]
    )


#: augmentation presets of classification tasks (image key only), by preset name (``TaskSpec.augment``)
CLASSIFICATION_AUGMENT = {
    "fundus-crop": _fundus_crop,
    "fundus-crop-dg": _fundus_crop_dg,
    "ultrasound": lambda: _ultrasound(("image",)),
}


def classification_augment(task: str, seed: int, preset: str | None = None) -> Compose:
    """The training augmentation for classifier ``task`` (``image`` key only), seeded.

    ``preset``: a name of :data:`CLASSIFICATION_AUGMENT` instead of the task's own.
    """
    transform = CLASSIFICATION_AUGMENT[preset or get_task(task, "classification").augment]()
    transform.set_random_state(seed=seed)
    return transform
