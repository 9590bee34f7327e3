"""Input check: modality and gradability on scikit-image samples, synthetic images and (marked) real data."""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import skimage.data
from PIL import Image, ImageFilter

from medscreen.errors import ConfigError, ImageReadError
from medscreen.pipelines import (
    THRESHOLDS,
    assess_fundus,
    assess_image,
    assess_ultrasound,
    detect_modality,
    judge,
    measure_image,
)
from tests_support import fundus_like as _fundus_like
from tests_support import ultrasound_like as _ultrasound_like


@contextmanager
def warnings_as_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


@pytest.fixture(scope="module")
def retina() -> np.ndarray:
    return skimage.data.retina()


def test_skimage_retina_is_a_gradable_fundus_photo(retina):
    report = assess_image(retina)
    assert report.modality == "fundus" and report.gradable, report.reasons
    assert report.reasons == [] and 0.5 < report.modality_confidence <= 1.0
    assert {"blur_sigma", "red_order_frac", "fov_frac", "fundus_score"} <= set(report.measures)


@pytest.mark.parametrize("name", ["astronaut", "chelsea", "coffee", "camera"])
def test_ordinary_photos_are_neither_modality(name):
    image = getattr(skimage.data, name)()
    report = assess_image(image)
    assert report.modality == "unknown" and not report.gradable
    assert any("does not look like a retinal fundus photo" in r for r in report.reasons), report.reasons


def test_red_tinted_photo_is_not_taken_for_a_fundus_crop():
    tinted = (skimage.data.astronaut() * np.array([1.0, 0.55, 0.15], np.float32)).astype(np.uint8)
    assert detect_modality(tinted)[0] == "unknown"


def test_synthetic_fundus_photo_is_recognised():
    modality, confidence, measures = detect_modality(_fundus_like())
    assert modality == "fundus" and confidence > 0.5
    assert measures["corner_lum"] < 5 and measures["fov_ellipse_iou"] > 0.95


def test_synthetic_speckle_image_is_ultrasound_and_grey_2d_input_works():
    image = _ultrasound_like()
    report = assess_image(image[..., 0])  # H×W grey is read as equal channels
    assert report.modality == "ultrasound" and report.gradable, report.reasons
    assert assess_ultrasound(image).gradable


def test_blurred_retina_is_not_gradable_for_focus(retina):
    blurred = np.asarray(Image.fromarray(retina).filter(ImageFilter.GaussianBlur(0.02 * retina.shape[1])))
    report = assess_image(blurred)
    assert report.modality == "fundus" and not report.gradable
    assert any("focus" in r for r in report.reasons), report.reasons


def test_darkened_retina_is_not_gradable_for_light(retina):
    report = assess_image(np.round(retina * np.float32(0.15)).astype(np.uint8))
    assert not report.gradable
    assert any("too dark" in r and "more light" in r for r in report.reasons), report.reasons


def test_thumbnail_is_not_gradable(retina):
    small = np.asarray(Image.fromarray(retina).resize((60, 60), Image.Resampling.BILINEAR))
    report = assess_fundus(small)
    assert not report.gradable and any("too small" in r for r in report.reasons), report.reasons


def test_expected_modality_that_does_not_match_is_refused_with_the_reason(retina):
    report = assess_ultrasound(retina)
    assert report.modality == "fundus" and not report.gradable
    assert "does not look like a breast ultrasound image" in report.reasons[0]
    assert any("looks like a fundus image" in r for r in report.reasons)
    report = assess_fundus(_ultrasound_like())
    assert not report.gradable and "does not look like a retinal fundus photo" in report.reasons[0]


def test_flat_and_noise_images_are_unknown():
    assert detect_modality(np.zeros((200, 300, 3), np.uint8))[0] == "unknown"
    assert detect_modality(np.full((200, 300, 3), (200, 90, 30), np.uint8))[0] == "unknown"
    noise = np.random.default_rng(1).integers(0, 256, (200, 300, 3), dtype=np.uint8)
    report = assess_image(noise)
    assert report.modality == "unknown" and not report.gradable


@pytest.mark.parametrize("shape", [(1, 1, 3), (1, 5000, 3), (4000, 2, 3)])
def test_degenerate_sizes_are_answered_without_warnings(shape):
    with np.errstate(all="raise"), warnings_as_errors():
        report = assess_image(np.full(shape, 128, np.uint8))
    assert report.modality == "unknown" and not report.gradable


def test_judge_accepts_alternative_thresholds_and_checks_its_inputs(retina):
    measures = measure_image(retina)
    strict = dict(THRESHOLDS, fundus_blur_max=0.1)
    report = judge(measures, thresholds=strict)
    assert report.modality == "fundus" and not report.gradable and "focus" in report.reasons[0]
    with pytest.raises(ConfigError, match="lack fundus_blur_max"):
        judge(measures, thresholds={k: v for k, v in THRESHOLDS.items() if k != "fundus_blur_max"})
    with pytest.raises(ConfigError, match="lack"):
        judge({"height": 10.0})
    with pytest.raises(ConfigError, match="'xray'"):
        assess_image(retina, "xray")  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [np.zeros((10, 10, 3), np.float32), np.zeros((10, 10, 4), np.uint8), [[1, 2]]])
def test_non_images_are_refused(bad):
    with pytest.raises(ImageReadError, match="input check"):
        assess_image(bad)


@pytest.mark.data
def test_real_images_sample(data_dir: Path):
    from medscreen.datasets.registry import read_dataset
    from medscreen.io.images import read_image

    expected = {"idrid": "fundus", "grape": "fundus", "acrima": "fundus", "busi": "ultrasound", "bus-bra": "ultrasound"}
    for name, modality in expected.items():
        records = read_dataset(data_dir / name).records
        for record in records[:: max(1, len(records) // 10)][:10]:
            paths = [record.image]
            if name == "grape" and record.fields.get("cfp_path") and Path(record.fields["cfp_path"]).is_file():
                paths.append(Path(record.fields["cfp_path"]))  # the whole-field photo beside its disc crop
            for path in paths:
                report = assess_image(read_image(path))
                assert report.modality == modality, (path.name, report.reasons)
                if modality == "fundus":
                    assert report.gradable, (path.name, report.reasons)


def test_reasons_are_messages_that_read_in_french(retina):
    """The input check's reasons are translatable: their English is the report's text, French reads French."""
    from medscreen.i18n import translator

    fr = translator("fr")
    blurred = np.asarray(Image.fromarray(retina).filter(ImageFilter.GaussianBlur(0.02 * retina.shape[1])))
    report = assess_image(blurred)
    assert [str(m) for m in report.messages] == report.reasons
    french = [fr.render(m) for m in report.messages]
    assert any(r.startswith("l'image est floue (flou des contours ") and "refaites la mise au point" in r
               for r in french), french
    refused = assess_ultrasound(retina)
    french = [fr.render(m) for m in refused.messages]
    assert french[0].startswith("ce n'est pas une image d'échographie mammaire\u00a0: "), french
    assert any("ressemble à une photo du fond d'œil" in r for r in french), french
    assert not any("%(" in r or "does not look" in r for r in french)
