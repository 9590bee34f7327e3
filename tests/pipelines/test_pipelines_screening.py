"""End-to-end screening: generated images through tiny hand-made models, and the bundled models on real samples."""

from __future__ import annotations

import io
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import astuple
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import skimage.data
from PIL import Image

from medscreen.errors import ConfigError, ImageReadError, ModelError
from medscreen.inference.card import load_card
from medscreen.inference.runtime import OnnxModel
from medscreen.inference.segmentation import segment_disc
from medscreen.io.images import file_sha256
from medscreen.pipelines.schema import ScreeningResult
from medscreen.inference.laterality import eye_from_disc
from medscreen.pipelines.screening import DISC_UNCLEAR, NO_DISC, Screener, breast_advice, get_screener, read_inputs, screen
from medscreen.transforms.geometry import mask_geometry
from tests_support import fundus_like, make_screening_models, ultrasound_like

WEIGHTS = Path(str(resources.files("medscreen") / "weights"))
TASKS = ("disc", "glaucoma", "progression", "lesion", "breast-class")


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    return make_screening_models(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def screener(models) -> Screener:
    return Screener(models=models)


@pytest.fixture(scope="module")
def fundus() -> np.ndarray:
    return fundus_like()


@pytest.fixture(scope="module")
def ultrasound() -> np.ndarray:
    return ultrasound_like()


def _bundled_or_skip(suffix: str = ".onnx") -> None:
    missing = [f"{t}{suffix}" for t in TASKS if not (WEIGHTS / f"{t}{suffix}").is_file()]
    if missing:
        pytest.skip(f"bundled model files absent from {WEIGHTS}: {', '.join(missing)}")


# --------------------------------------------------------------------------- generated images, tiny models


def test_fundus_photo_goes_through_every_stage(screener, models, fundus):
    out = screener.analyse(fundus, source="eye.png")
    r = out.result
    assert (r.modality, r.detected_modality, r.gradable, r.advice) == ("fundus", "fundus", True, "refer")
    assert r.source == "eye.png" and r.quality_reasons == [] and r.lesion is None and r.breast_class is None
    h, w = fundus.shape[:2]
    disc_x, disc_y = w / 2 + 0.45 * 0.46 * h, h / 2  # where fundus_like draws the disc
    assert r.disc.found and abs(r.disc.centre_x - disc_x) < 5 and abs(r.disc.centre_y - disc_y) < 5
    assert 40 < r.disc.diameter_px < 120 and r.disc.area_px == out.mask.sum()
    assert r.disc.eye == "right"  # fundus_like draws the disc right of the field's middle
    x0, y0, x1, y1 = r.disc.crop_box
    assert x1 - x0 == y1 - y0 == int(2.2 * r.disc.diameter_px) and x0 < disc_x < x1
    assert r.glaucoma.probability == pytest.approx(0.5) and r.glaucoma.threshold == 0.4 and r.glaucoma.positive
    assert r.progression.probability == pytest.approx(0.5) and r.progression.progressing
    assert any("referral threshold 0.40" in s for s in r.reasons) and any("earlier review" in s for s in r.reasons)
    assert set(r.models) == {"disc", "glaucoma", "progression"}
    assert all(r.models[t].sha256 == file_sha256(models[t]) and r.models[t].file == f"{t}.onnx" for t in r.models)
    assert {"decode", "quality", "disc", "crop", "glaucoma", "progression", "total"} <= set(r.timings_ms)
    assert r.backend == "onnxruntime" and "not a diagnosis" in r.disclaimer


def test_below_threshold_is_routine_and_progression_is_not_run(tmp_path, fundus):
    r = Screener(models=make_screening_models(tmp_path, glaucoma_threshold=0.6)).screen(fundus)
    assert r.advice == "routine" and not r.glaucoma.positive and r.progression is None
    assert "progression" not in r.models and "routine" in r.reasons[0]


@pytest.mark.parametrize(("band", "advice"), [((0.45, 0.7), "review"), ((0.55, 0.7), "routine"), (None, "routine")])
def test_a_probability_in_the_review_band_below_the_threshold_is_review(tmp_path, fundus, band, advice):
    r = Screener(models=make_screening_models(tmp_path, glaucoma_threshold=0.6, glaucoma_band=band)).screen(fundus)
    assert r.glaucoma.probability == pytest.approx(0.5) and not r.glaucoma.positive
    assert r.advice == advice and r.glaucoma.review_band == (list(band) if band else None)
    assert ("a specialist should look" in r.reasons[0]) == (advice == "review") and r.progression is None


def test_no_disc_found_is_rescreen_without_a_probability(tmp_path, fundus):
    r = Screener(models=make_screening_models(tmp_path, disc_bias=-1000.0)).screen(fundus)
    assert r.gradable and r.advice == "rescreen" and r.reasons == [NO_DISC]
    assert r.disc is not None and not r.disc.found and r.disc.diameter_px is None and r.glaucoma is None


def test_an_implausible_disc_is_rescreen_without_a_glaucoma_finding(tmp_path, fundus):
    sure = Screener(models=make_screening_models(tmp_path / "a", disc_params={"min_confidence": 0.0})).screen(fundus)
    assert sure.advice == "refer" and 0.0 < sure.disc.confidence < 1.0
    limit = sure.disc.confidence + 1e-3  # just above what the disc stage reaches on this photo
    r = Screener(models=make_screening_models(tmp_path / "b", disc_params={"min_confidence": limit})).screen(fundus)
    assert r.gradable and r.advice == "rescreen" and r.reasons == [DISC_UNCLEAR]
    assert r.disc.found and r.disc.confidence == sure.disc.confidence and r.disc.eye == "right"
    assert r.glaucoma is None and r.progression is None and "glaucoma" not in r.models


def test_a_large_doubtful_disc_on_a_full_photo_is_never_routine(tmp_path, fundus):
    free = Screener(models=make_screening_models(tmp_path / "a", glaucoma_threshold=0.6)).screen(fundus)
    assert free.advice == "routine" and free.disc.eye == "right"
    size, conf = free.disc.size_ratio, free.disc.confidence
    doubtful = {"review_size_full": size - 1e-3, "review_below_confidence": conf + 1e-3}
    r = Screener(models=make_screening_models(tmp_path / "b", glaucoma_threshold=0.6, disc_params=doubtful)).screen(
        fundus)
    assert r.advice == "review" and len(r.reasons) == 1 and "the optic disc is unusually large" in r.reasons[0]
    assert "0.5" in r.reasons[0] and r.glaucoma.probability == free.glaucoma.probability  # the finding is kept
    for rule in ({**doubtful, "review_size_full": size + 1e-3}, {**doubtful, "review_below_confidence": conf}):
        kept = Screener(models=make_screening_models(tmp_path / str(len(rule)) / str(rule), glaucoma_threshold=0.6,
                                                     disc_params=rule)).screen(fundus)
        assert kept.advice == "routine", rule  # smaller, or sure enough
    referred = Screener(models=make_screening_models(tmp_path / "c", disc_params=doubtful)).screen(fundus)
    assert referred.advice == "refer" and "refer to an eye specialist" in referred.reasons[0]
    assert "unusually large" in referred.reasons[-1]
    crop = Screener(models=make_screening_models(tmp_path / "d", glaucoma_threshold=0.6, disc_params={
        "review_size_full": 0.0, "review_below_confidence": 1.1})).screen(_wide_crop())
    assert crop.disc.eye is None and crop.advice == "routine"  # a disc-centred crop is never ruled on


def test_a_disc_far_above_the_middle_is_rescreen_with_the_card_limit(tmp_path):
    high = fundus_like(disc_dy=-0.6)  # a round bright "disc" high in the field, as a flash at the rim looks
    models = {"min_confidence": 0.1}
    free = Screener(models=make_screening_models(tmp_path / "a", disc_params=models)).screen(high)
    assert free.advice == "refer" and free.disc.vertical_offset == pytest.approx(0.6, abs=0.05)
    ruled = {**models, "max_vertical_offset": 0.5}
    r = Screener(models=make_screening_models(tmp_path / "b", disc_params=ruled)).screen(high)
    assert r.advice == "rescreen" and r.reasons == [DISC_UNCLEAR] and r.disc.confidence == 0.0 and r.glaucoma is None
    level = Screener(models=make_screening_models(tmp_path / "c", disc_params=ruled)).screen(fundus_like())
    assert level.advice == "refer" and level.disc.vertical_offset < 0.05


def _wide_crop(side: int = 240, radius: int = 20) -> np.ndarray:
    """A disc-centred crop with no camera surround, framed at side / (2 × radius) = 6 disc diameters."""
    rng = np.random.default_rng(1)
    rgb = np.empty((side, side, 3), np.float32)
    rgb[:] = (170, 75, 25)
    yy, xx = np.mgrid[:side, :side]
    rgb[(yy - side / 2) ** 2 + (xx - side / 2) ** 2 <= radius**2] = (250, 225, 115)
    for y in range(20, side, 40):  # vessels, so the photo is not too plain to grade
        rgb[y : y + 3, :] *= 0.6
    return np.clip(rgb + rng.normal(0, 2, rgb.shape), 0, 255).astype(np.uint8)


def test_a_crop_wider_than_the_card_limit_is_re_framed_around_its_disc(tmp_path):
    crop = _wide_crop()
    plain = Screener(models=make_screening_models(tmp_path / "a")).screen(crop)
    assert plain.disc.found and plain.disc.eye is None and plain.disc.crop_box == [0, 0, 240, 240]
    ruled = Screener(models=make_screening_models(tmp_path / "b", glaucoma_params={"recrop_above_k": 3.5})).screen(crop)
    x0, y0, x1, y1 = ruled.disc.crop_box
    assert x1 - x0 == y1 - y0 == pytest.approx(2.2 * ruled.disc.diameter_px, abs=2)
    assert (x0 + x1) / 2 == pytest.approx(120, abs=3) and (y0 + y1) / 2 == pytest.approx(120, abs=3)
    loose = Screener(models=make_screening_models(tmp_path / "c", glaucoma_params={"recrop_above_k": 8.0})).screen(crop)
    assert loose.disc.crop_box == [0, 0, 240, 240]


def test_eye_from_the_disc_side():
    assert eye_from_disc(700, 0, 1000) == "right" and eye_from_disc(300, 0, 1000) == "left"
    assert eye_from_disc(530, 0, 1000) is None and eye_from_disc(470, 0, 1000) is None  # disc-centred photo
    assert eye_from_disc(10, 20, 20) is None


def test_ultrasound_image_goes_through_every_stage(screener, ultrasound):
    out = screener.analyse(ultrasound)
    r = out.result
    assert (r.modality, r.gradable, r.advice) == ("ultrasound", True, "refer")
    assert r.disc is None and r.glaucoma is None
    h, w = ultrasound.shape[:2]
    x0, y0, x1, y1 = r.lesion.bbox
    assert r.lesion.found and x0 < w / 2 < x1 and y0 < 0.55 * h < y1
    assert out.mask[int(0.55 * h), w // 2]  # the lesion's centre is in the mask
    assert r.lesion.area_fraction == pytest.approx(r.lesion.area_px / (h * w))
    assert r.breast_class.label == "malignant" and sum(r.breast_class.probabilities.values()) == pytest.approx(1)
    assert "urgently" in r.reasons[0]
    assert set(r.models) == {"lesion", "breast-class"} and {"lesion", "breast_class"} <= set(r.timings_ms)


def test_classifier_saying_normal_while_a_lesion_is_outlined_is_referred(tmp_path, ultrasound):
    r = Screener(models=make_screening_models(tmp_path, breast_logits=(3.0, 0.0, 0.0))).screen(ultrasound)
    assert r.breast_class.label == "normal" and r.lesion.found
    assert r.advice == "refer" and "disagree" in r.reasons[0]


def test_breast_advice_rules():
    from medscreen.pipelines.schema import BreastClassFinding, LesionFinding

    none, some = (LesionFinding(found=False, area_px=0, area_fraction=0),
                  LesionFinding(found=True, area_px=10, area_fraction=0.01, bbox=[0, 0, 5, 5]))
    probs = {"normal": 0.8, "benign": 0.15, "malignant": 0.05}
    normal = BreastClassFinding(probabilities=probs, label="normal")
    benign = BreastClassFinding(probabilities=probs, label="benign")
    assert breast_advice(normal, none)[0] == "routine"
    assert breast_advice(normal, some)[0] == "refer"
    advice, reasons = breast_advice(benign, some)
    assert advice == "refer" and "non-urgent" in str(reasons[0])
    malignant = BreastClassFinding(probabilities={"normal": 0.1, "benign": 0.2, "malignant": 0.7}, label="malignant",
                                   urgent=True)
    assert "refer urgently" in str(breast_advice(malignant, some)[1][0])
    below = BreastClassFinding(probabilities={"normal": 0.05, "benign": 0.75, "malignant": 0.2}, label="benign",
                               malignancy_threshold=0.15, urgent=True)
    advice, reasons = breast_advice(below, some)
    text = str(reasons[0])
    assert advice == "refer" and "refer urgently" in text and "reaches the malignancy threshold 0.15" in text


@pytest.mark.parametrize(("limit", "urgent"), [(0.2, True), (0.5, False), (None, False)])
def test_malignant_probability_at_the_cards_threshold_is_urgent(tmp_path, ultrasound, limit, urgent):
    """Constant logits (normal 0, benign 2, malignant 1): benign is the label, malignant probability 0.24."""
    models = make_screening_models(tmp_path, breast_logits=(0.0, 2.0, 1.0), malignancy_threshold=limit)
    r = Screener(models=models).screen(ultrasound)
    assert r.breast_class.label == "benign" and r.breast_class.probabilities["malignant"] == pytest.approx(0.2447, abs=1e-3)
    assert r.breast_class.urgent is urgent and r.breast_class.malignancy_threshold == limit
    assert r.advice == "refer" and ("refer urgently" in r.reasons[0]) is urgent


@pytest.mark.parametrize("name", ["astronaut", "chelsea"])
@pytest.mark.parametrize("modality", [None, "fundus"])
def test_photos_of_other_things_are_rescreened_without_any_finding(screener, name, modality):
    r = screener.screen(getattr(skimage.data, name)(), modality)
    assert not r.gradable and r.advice == "rescreen" and r.detected_modality == "unknown"
    assert r.modality == (modality or "unknown")
    assert r.glaucoma is r.progression is r.disc is r.lesion is r.breast_class is None
    assert r.models == {} and any("does not look like a retinal fundus photo" in s for s in r.reasons)
    assert r.reasons == r.quality_reasons


def test_fundus_photo_sent_as_ultrasound_is_refused_with_the_reason(screener, fundus):
    r = screener.screen(fundus, "ultrasound")
    assert not r.gradable and r.advice == "rescreen" and r.lesion is None and r.breast_class is None
    assert any("breast ultrasound" in s for s in r.reasons) and any("fundus screening" in s for s in r.reasons)


def test_path_bytes_and_array_inputs_agree(screener, fundus, tmp_path):
    path = tmp_path / "eye.png"
    Image.fromarray(fundus).save(path)
    from_path = screener.screen(path)
    from_bytes = screener.screen(path.read_bytes(), source="upload.png")
    from_array = screener.screen(fundus)
    assert from_path.source == "eye.png" and from_bytes.source == "upload.png" and from_array.source is None
    for r in (from_bytes, from_array):
        assert r.glaucoma == from_path.glaucoma and r.disc == from_path.disc and r.advice == from_path.advice
    grey = ultrasound_like()[..., 0]
    assert screener.screen(grey).lesion == screener.screen(np.repeat(grey[..., None], 3, -1)).lesion


def test_bad_inputs_and_options_are_clear_errors(screener, models, tmp_path):
    with pytest.raises(ImageReadError, match="uint8"):
        screener.screen(np.zeros((64, 64), np.float32))
    with pytest.raises(ImageReadError, match="shape"):
        screener.screen(np.zeros((64, 64, 4), np.uint8))
    with pytest.raises(ImageReadError, match="upload.jpg"):
        screener.screen(b"\xff\xd8\xff\xe0 not really a jpeg", source="upload.jpg")
    with pytest.raises(ConfigError, match="Did you mean 'fundus'"):
        screener.screen(fundus_like(), "fundas")
    with pytest.raises(ConfigError, match="backend"):
        Screener("tensorflow")
    with pytest.raises(ConfigError, match="model task"):
        Screener(models={"glaucomaa": models["glaucoma"]})
    with pytest.raises(ModelError, match="not 'disc'"):
        Screener(models={**models, "disc": models["glaucoma"]}).screen(fundus_like())
    with pytest.raises(ModelError, match="nope.onnx"):
        Screener(models={**models, "glaucoma": tmp_path / "nope.onnx"}).screen(fundus_like())


def test_torch_backend_without_weights_names_the_file_and_the_fix(models, fundus):
    pytest.importorskip("torch")
    with pytest.raises(ModelError, match=r"disc\.pt not found.*medscreen export torch-weights"):
        Screener("torch", models=models).screen(fundus)


def test_one_screener_serves_threads_with_identical_results(screener, fundus, ultrasound):
    images = [fundus, ultrasound] * 4
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(screener.screen, images))
    for r in results:
        ref = results[0] if r.modality == "fundus" else results[1]
        assert r.model_dump(exclude={"timings_ms"}) == ref.model_dump(exclude={"timings_ms"})


def test_read_inputs_keeps_order_and_reports_each_bad_file(tmp_path, fundus):
    good = tmp_path / "a.png"
    Image.fromarray(fundus).save(good)
    bad = tmp_path / "b.png"
    bad.write_bytes(good.read_bytes()[:300])
    items = [(str(p), str(p)) for p in (good, bad, tmp_path / "missing.png", good)]
    got = []
    for name, future in read_inputs(items, workers=2):
        try:
            got.append((Path(name).name, future.result().image.shape))
        except ImageReadError as exc:
            got.append((Path(name).name, str(exc).split(":")[0]))
    assert got == [("a.png", fundus.shape), ("b.png", "b.png"), ("missing.png", str(tmp_path / "missing.png")),
                   ("a.png", fundus.shape)]


def test_disc_geometry_inside_the_window_equals_the_full_mask_geometry(models, fundus):
    model = OnnxModel(models["disc"])
    seg = segment_disc(fundus, model, model.spec)
    assert seg.window is not None
    assert astuple(seg.geometry()) == pytest.approx(astuple(mask_geometry(seg.mask)), rel=1e-12)


def test_result_json_round_trips(screener, fundus):
    r = screener.screen(fundus)
    assert ScreeningResult.model_validate_json(r.model_dump_json()) == r
    assert json.loads(r.model_dump_json())["glaucoma"]["probability"] == pytest.approx(0.5)


# --------------------------------------------------------------------------- bundled models


def test_scikit_image_retina_with_the_bundled_models():
    _bundled_or_skip()
    image = skimage.data.retina()
    r = screen(image)
    assert get_screener() is get_screener("onnxruntime")  # one Screener (and one set of sessions) per process
    assert r.modality == "fundus" and r.gradable and r.disc.found
    h, w = image.shape[:2]
    assert 0.08 * w < r.disc.centre_x < 0.25 * w and 0.35 * h < r.disc.centre_y < 0.6 * h
    assert 0.0 <= r.glaucoma.probability <= 1.0 and r.advice in ("refer", "review", "routine")
    assert (r.progression is not None) == r.glaucoma.positive
    # the bundled glaucoma card fuses the disc's pallor: the result gives the pallor of the crop it scored
    from medscreen.transforms.classification import disc_pallor

    fusion = load_card(WEIGHTS / "glaucoma.json").params.pallor_fusion
    x0, y0, x1, y1 = (int(v) for v in r.disc.crop_box)
    if fusion is None:
        assert r.glaucoma.disc_pallor is None
    else:
        assert 0 <= x0 and 0 <= y0  # the retina's crop lies inside the photo, so it can be cut here the same way
        crop = np.ascontiguousarray(image[y0:y1, x0:x1, :3])
        assert r.glaucoma.disc_pallor == pytest.approx(disc_pallor(crop, fusion.radius, fusion.scale), abs=1e-3)
    for task, version in r.models.items():
        card = json.loads((WEIGHTS / f"{task}.json").read_text())
        assert version.sha256 == card["sha256"] == file_sha256(WEIGHTS / version.file)


def test_bundled_models_reject_a_photo_that_is_not_a_retina():
    _bundled_or_skip()
    r = screen(skimage.data.astronaut(), "fundus")
    assert r.advice == "rescreen" and r.glaucoma is None and r.disc is None


def _ultrasound_sample() -> np.ndarray:
    from medscreen.config import default_data_dir

    busi = sorted((default_data_dir() / "busi").glob("*/malignant/malignant (1*).png"))
    return np.asarray(Image.open(busi[0]).convert("L")) if busi else ultrasound_like()


@pytest.mark.slow
def test_torch_and_onnxruntime_backends_agree():
    _bundled_or_skip()
    _bundled_or_skip(".pt")
    pytest.importorskip("torch")
    ort, pt = Screener("onnxruntime"), Screener("torch")
    buf = io.BytesIO()
    Image.fromarray(skimage.data.retina()).resize((706, 706)).save(buf, format="JPEG", quality=95)
    for image in (buf.getvalue(), _ultrasound_sample()):
        a, b = ort.screen(image), pt.screen(image)
        assert (a.modality, a.gradable, a.advice) == (b.modality, b.gradable, b.advice) and a.gradable
        assert b.backend == "torch" and all(v.file.endswith(".pt") for v in b.models.values())
        if a.modality == "fundus":
            assert abs(a.glaucoma.probability - b.glaucoma.probability) < 0.02
            assert abs(a.disc.diameter_px - b.disc.diameter_px) < 0.02 * a.disc.diameter_px
            if a.progression and b.progression:
                assert abs(a.progression.probability - b.progression.probability) < 0.02
        else:
            assert a.breast_class.label == b.breast_class.label
            for k, p in a.breast_class.probabilities.items():
                assert abs(p - b.breast_class.probabilities[k]) < 0.02
            assert abs(a.lesion.area_px - b.lesion.area_px) <= 0.02 * max(a.lesion.area_px, 1.0)


def test_advice_reasons_in_english_and_french():
    """Reasons are messages: English exactly as the result schema has always held them, French for French readers."""
    from medscreen.i18n import translator
    from medscreen.pipelines.schema import BreastClassFinding, GlaucomaFinding, LesionFinding, ProgressionFinding
    from medscreen.pipelines.screening import glaucoma_reasons

    fr = translator("fr")
    refer = glaucoma_reasons(GlaucomaFinding(probability=0.8123, threshold=0.44, positive=True),
                             ProgressionFinding(probability=0.6, threshold=0.35, progressing=True))
    assert [str(m) for m in refer] == [
        "glaucoma probability 0.81 is at or above the referral threshold 0.44: refer to an eye specialist for a "
        "glaucoma assessment", "signs of progression (probability 0.60 ≥ 0.35): earlier review"]
    assert [fr.render(m) for m in refer] == [
        "probabilité de glaucome 0,81, égale ou supérieure au seuil de référence 0,44\u00a0: référer à un "
        "ophtalmologiste pour un bilan de glaucome", "signes de progression (probabilité 0,60 ≥ 0,35)\u00a0: "
        "contrôle plus précoce"]
    experimental = ProgressionFinding(probability=0.6, threshold=0.35, progressing=True, experimental=True)
    assert len(glaucoma_reasons(GlaucomaFinding(probability=0.8, threshold=0.44, positive=True), experimental)) == 1
    review = glaucoma_reasons(GlaucomaFinding(probability=0.41, threshold=0.44, positive=False,
                                              review_band=[0.34, 0.55]))
    assert str(review[0]).startswith("uncertain: glaucoma probability 0.41 is just below the referral threshold 0.44")
    assert fr.render(review[0]).startswith("résultat incertain\u00a0: probabilité de glaucome 0,41")
    routine = glaucoma_reasons(GlaucomaFinding(probability=0.2, threshold=0.44, positive=False))
    assert "dépistage à l'intervalle habituel" in fr.render(routine[0])
    below = BreastClassFinding(probabilities={"normal": 0.05, "benign": 0.75, "malignant": 0.2}, label="benign",
                               malignancy_threshold=0.15, urgent=True)
    advice, reasons = breast_advice(below, LesionFinding(found=True, area_px=10, area_fraction=0.01, bbox=[0, 0, 5, 5]))
    assert advice == "refer"
    assert fr.render(reasons[0]) == (
        "la probabilité de malignité 0,20 atteint le seuil de malignité 0,15 (fixé pour que 9 images malignes sur 10 "
        "l'atteignent), bien que «\u00a0bénin\u00a0» soit plus probable (0,75)\u00a0: référer en urgence à un "
        "spécialiste du sein pour bilan et biopsie")
    disagree = breast_advice(BreastClassFinding(probabilities={"normal": 0.8, "benign": 0.15, "malignant": 0.05},
                                                label="normal"),
                             LesionFinding(found=True, area_px=10, area_fraction=0.0123, bbox=[0, 0, 5, 5]))[1][0]
    assert "(1.2 % of the image)" in str(disagree) and "(1,2\u00a0% de l'image)" in fr.render(disagree)


def test_analyse_keeps_the_reasons_as_messages(tmp_path):
    """What the clinic app stores beside the result: the same reasons, translatable (the JSON stays English)."""
    from skimage.data import retina

    output = get_screener().analyse(retina())
    assert [str(m) for m in output.reason_messages] == output.result.reasons
    assert [str(m) for m in output.quality_messages] == output.result.quality_reasons
