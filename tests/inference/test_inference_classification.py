"""Classifier inference: probabilities, ONNX export and parity, the card-driven Classifier, evaluation."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from medscreen.datasets.clinical import CLINICAL_FEATURES
from medscreen.datasets.records import Record
from medscreen.errors import ConfigError, ModelError
from medscreen.inference.card import write_card
from medscreen.inference.classification import (
    Classifier,
    breast_input,
    evaluate_classifier,
    fundus_crop,
    load_classifier,
    onnx_classifier,
    probabilities,
    spec_params,
)
from medscreen.inference.export import check_classifier_parity, export_classifier_onnx
from medscreen.inference.runtime import ModelSpec, OnnxModel
from medscreen.models.fusion import ScreeningClassifier
from medscreen.models.registry import create_model
from medscreen.training.config import ClassificationConfig
from medscreen.transforms.classification import glaucoma_crop, to_model_input

SIZE = 32
F = len(CLINICAL_FEATURES)
MEAN = np.linspace(10, 70, F).round(1).tolist()
STD = np.linspace(1, 5, F).round(1).tolist()


def test_probabilities_sigmoid_and_softmax():
    p = probabilities(np.array([[0.0], [np.log(3.0)], [-1000.0]]))
    assert p.shape == (3,) and np.allclose(p, [0.5, 0.75, 0.0])
    logits = np.array([[1.0, 2.0, 3.0], [1000.0, 0.0, -1000.0], [0.0, 0.0, 0.0]])
    q = probabilities(logits)
    assert q.shape == (3, 3) and np.all(np.isfinite(q))
    assert np.allclose(q.sum(axis=1), 1.0)
    assert np.allclose(q[0], np.exp([1, 2, 3]) / np.exp([1, 2, 3]).sum())
    assert np.allclose(q[1], [1, 0, 0]) and np.allclose(q[2], 1 / 3)


def _net(inputs: str, outputs: int = 1) -> ScreeningClassifier:
    """The image-only net is the real compact CNN; the fused one gets a tiny image part instead
    (exporting is architecture-agnostic, and each compact export costs ~5 s on one thread)."""
    torch.manual_seed(0)
    clinical = inputs in ("clinical", "fused")
    net = create_model("glaucoma", "compact" if inputs != "clinical" else None, num_outputs=outputs, input_size=SIZE,
                       clinical_mean=MEAN if clinical else None, clinical_std=STD if clinical else None)
    if inputs == "fused":
        net.image_net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                                            torch.nn.Flatten(), torch.nn.Linear(4, outputs))
    if clinical:
        with torch.no_grad():
            net.clinical.weight.normal_(0, 0.5)
    return net.eval()


def _card(path: Path, task: str, inputs: str, labels, threshold: float = 0.5) -> None:
    config = ClassificationConfig(task=task, inputs=inputs, input_size=SIZE, preprocess="standardise").model_dump()
    write_card({"task": task, "input_size": SIZE, "in_channels": 3, "threshold": threshold,
                "params": spec_params(config, labels)}, path)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Image-only glaucoma and fused progression nets exported to ONNX, each with its card."""
    folder = tmp_path_factory.mktemp("onnx")
    out = {}
    for name, task, inputs, labels in [("glaucoma", "glaucoma", "image", ("normal", "glaucoma")),
                                       ("fused", "progression", "fused", ("stable", "progressing"))]:
        net = _net(inputs)
        path = export_classifier_onnx(net, folder / f"{name}.onnx", image=True,
                                      clinical=F if inputs == "fused" else None, in_channels=3, input_size=SIZE)
        _card(path, task, inputs, labels, threshold=0.4)
        out[name] = (net, path)
    return out


@pytest.mark.slow
def test_image_only_export_matches_pytorch(exported):
    net, path = exported["glaucoma"]
    model = OnnxModel(path)
    assert [i.name for i in model.session.get_inputs()] == ["image"]
    assert [o.name for o in model.session.get_outputs()] == ["logits"]
    images = np.random.default_rng(0).standard_normal((3, 3, SIZE, SIZE), dtype=np.float32)  # batch 3: dynamic
    assert check_classifier_parity(net, path, {"image": images}) < 1e-4


@pytest.mark.slow
def test_fused_export_matches_pytorch_with_missing_clinical_values(exported):
    net, path = exported["fused"]
    model = OnnxModel(path)
    assert sorted(i.name for i in model.session.get_inputs()) == ["clinical", "image"]
    rng = np.random.default_rng(1)
    clinical = (np.asarray(MEAN) + rng.standard_normal((4, F)) * np.asarray(STD)).astype(np.float32)
    clinical[0, 2] = clinical[3, 7] = np.nan  # NaN = training mean, inside the ONNX graph too
    feeds = {"image": rng.standard_normal((4, 3, SIZE, SIZE), dtype=np.float32), "clinical": clinical}
    assert check_classifier_parity(net, path, feeds) < 1e-4
    got = model.session.run(None, feeds)[0]
    assert np.all(np.isfinite(got)) and got.shape == (4, 1)


@pytest.mark.slow
def test_parity_failure_is_reported(exported):
    _, path = exported["glaucoma"]
    torch.manual_seed(5)
    other = create_model("glaucoma", "compact", input_size=SIZE).eval()
    with torch.no_grad():
        other.image_net.head[-1].bias.fill_(3.0)
    images = np.random.default_rng(0).standard_normal((2, 3, SIZE, SIZE), dtype=np.float32)
    with pytest.raises(ModelError, match="differs from PyTorch"):
        check_classifier_parity(other, path, {"image": images}, atol=1e-6)


def _images(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (40, 40, 3), dtype=np.uint8) for _ in range(n)]


@pytest.mark.slow
def test_onnx_classifier_predicts_like_pytorch(exported):
    net, path = exported["glaucoma"]
    classifier = onnx_classifier(OnnxModel(path))
    assert classifier.labels == ["normal", "glaucoma"] and classifier.inputs == "image"
    assert classifier.spec.threshold == 0.4 and str(path) in classifier.description
    images = _images(3)
    batch = np.stack([to_model_input(im, SIZE, "standardise") for im in images])
    with torch.no_grad():
        ref = torch.sigmoid(net(torch.as_tensor(batch))[:, 0]).numpy()
    got = classifier.predict(images)
    assert got.shape == (3,) and np.allclose(got, ref, atol=1e-5)
    with pytest.raises(ModelError, match="needs images"):
        classifier.predict(None)


@pytest.mark.slow
def test_fused_onnx_classifier_needs_clinical_data_and_uses_it(exported):
    net, path = exported["fused"]
    classifier = onnx_classifier(OnnxModel(path))
    assert classifier.labels == ["stable", "progressing"] and classifier.inputs == "fused"
    assert classifier.spec.params.clinical_features == list(CLINICAL_FEATURES)
    images = _images(2, seed=3)
    clinical = np.array([MEAN, [m + 3 * s for m, s in zip(MEAN, STD)]], dtype=np.float32)
    batch = np.stack([to_model_input(im, SIZE, "standardise") for im in images])
    with torch.no_grad():
        ref = torch.sigmoid(net(torch.as_tensor(batch), torch.as_tensor(clinical))[:, 0]).numpy()
    assert np.allclose(classifier.predict(images, clinical), ref, atol=1e-5)
    with pytest.raises(ModelError, match="clinical data"):
        classifier.predict(images, None)
    with pytest.raises(ModelError, match="needs inputs"):
        classifier.run({"image": batch})


def test_spec_params_follow_the_config():
    image = spec_params(ClassificationConfig(task="glaucoma", framing="box+50").model_dump(), ("normal", "glaucoma"))
    assert image == {"labels": ["normal", "glaucoma"], "inputs": "image", "preprocess": "standardise",
                     "clinical_features": [], "framing": "box+50", "crop_k": 2.2, "use_mask": False,
                     "recrop_above_k": 3.5}  # the task's own card parameter
    clinical = spec_params(ClassificationConfig(task="progression", inputs="clinical").model_dump(), ("a", "b"))
    assert clinical["clinical_features"] == list(CLINICAL_FEATURES) and clinical["inputs"] == "clinical"
    assert "recrop_above_k" not in clinical
    with pytest.raises(ConfigError, match="unknown classification task .disc."):
        spec_params({"task": "disc"}, ("a", "b"))


def test_flip_tta_averages_the_logits_of_the_image_and_its_mirror():
    from medscreen.inference.classification import Classifier

    def left_minus_right(feeds):  # an asymmetric "model": brighter left half → positive logit
        x = feeds["image"]
        half = x.shape[-1] // 2
        return (x[:, :1, :, :half].mean(axis=(1, 2, 3)) - x[:, :1, :, half:].mean(axis=(1, 2, 3)))[:, None] * 4.0

    image = np.zeros((32, 32, 3), np.uint8)
    image[:, :16] = 200  # bright on the left
    params = {"labels": ["normal", "glaucoma"], "inputs": "image", "preprocess": "none"}
    plain = Classifier(ModelSpec("glaucoma", 32, 3, 0.5, params), left_minus_right)
    flip = Classifier(ModelSpec("glaucoma", 32, 3, 0.5, {**params, "tta": "flip"}), left_minus_right)
    assert plain.predict([image])[0] > 0.9  # the mirror alone would say the opposite
    assert flip.predict([image])[0] == pytest.approx(0.5, abs=1e-6)  # mean of +l and -l
    with pytest.raises(ValueError, match="tta"):
        ModelSpec("glaucoma", 32, 3, 0.5, {**params, "tta": "rotate"})


def test_fundus_crop_squares_crops_and_crops_full_photos_around_the_disc():
    rgb = np.full((40, 48, 3), 100, np.uint8)
    squared = fundus_crop(rgb, is_crop=True)
    assert squared.shape == (48, 48, 3)
    assert (squared[4:44] == 100).all() and (squared[:4] == 0).all() and (squared[44:] == 0).all()
    same = np.full((30, 30, 3), 7, np.uint8)
    assert np.array_equal(fundus_crop(same, is_crop=True), same)
    photo = np.zeros((120, 160, 3), np.uint8)
    yy, xx = np.mgrid[:120, :160]
    disc = (yy - 50) ** 2 + (xx - 90) ** 2 < 12**2
    photo[disc] = 255
    crop = fundus_crop(photo, is_crop=False, disc=lambda im: im[..., 0] > 127)
    assert np.array_equal(crop, glaucoma_crop(photo, disc))
    assert fundus_crop(photo, is_crop=False, disc=lambda im: np.zeros(im.shape[:2], bool)) is None
    wide = np.zeros((160, 160, 3), np.uint8)  # a "crop" 6.7 disc diameters wide: re-framed with a card limit
    wy, wx = np.mgrid[:160, :160]
    wide[(wy - 80) ** 2 + (wx - 80) ** 2 < 12**2] = 255
    bright = lambda im: im[..., 0] > 127  # noqa: E731
    assert fundus_crop(wide, is_crop=True, disc=bright).shape == (160, 160, 3)
    reframed = fundus_crop(wide, is_crop=True, disc=bright, recrop_above_k=3.5)
    assert reframed.shape[0] == reframed.shape[1] == pytest.approx(2.2 * 24, abs=2)
    assert fundus_crop(wide, is_crop=True, disc=bright, recrop_above_k=8.0).shape == (160, 160, 3)


class _BrightLesion:
    """Stands in for the lesion ONNX model: high logits on bright pixels."""

    spec = ModelSpec("lesion", 32, 1)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return np.where(batch[:, :1] > 0.5, 10.0, -10.0).astype(np.float32)


def test_breast_input_adds_the_lesion_map_as_a_second_channel():
    grey = np.full((64, 64), 20, np.uint8)
    grey[16:48, 16:48] = 230
    assert breast_input(grey, use_mask=False).shape == (64, 64, 1)
    two = breast_input(grey, use_mask=True, lesion=_BrightLesion())
    assert two.shape == (64, 64, 2) and two.dtype == np.uint8
    assert np.array_equal(two[..., 0], grey)
    assert two[32, 32, 1] == 255 and two[2, 2, 1] == 0


def _crops(root: Path, n: int = 8) -> list[Record]:
    """Disc 'crops' (non-square, to be squared): glaucoma ones bright, normal ones dark."""
    rng = np.random.default_rng(2)
    records = []
    for i in range(n):
        label = "glaucoma" if i % 2 else "normal"
        level = 60 + 20 * i
        Image.fromarray(rng.normal(level, 5, (36, 40, 3)).clip(0, 255).astype(np.uint8)).save(root / f"c{i}.png")
        records.append(Record(root / f"c{i}.png", (), label, f"p{i}", "fixture", f"c{i}"))
    return records


def _brightness_classifier(threshold: float = 0.5) -> Classifier:
    """Logit = mean raw brightness of the image minus a cut: a 'model' whose answers are known."""

    spec = ModelSpec("glaucoma", SIZE, 3, threshold, {"labels": ["normal", "glaucoma"], "inputs": "image",
                                                      "preprocess": "none"})
    return Classifier(spec, lambda feeds: (feeds["image"].mean(axis=(1, 2, 3)) * 10 - 4.5)[:, None], "oracle")


def test_evaluate_classifier_reports_and_writes_per_case_and_plots(tmp_path):
    records = _crops(tmp_path)
    out = tmp_path / "eval"
    seen = []
    report = evaluate_classifier(records, "glaucoma", _brightness_classifier(), is_crop=True, out_dir=out,
                                 on_progress=seen.append, batch_size=3)
    assert seen == list(range(1, 9))
    assert report["n"] == 8 and report["n_no_disc"] == 0 and report["task"] == "glaucoma"
    assert report["model"] == "oracle" and report["input"] == "disc crops"
    # levels 60..200 step 20; squaring pads 4 zero rows (mean × 36/40); the cut 0.45 × 255 / 0.9 = 127.5
    # falls between levels 120 and 140, so images 4..7 are called positive
    padded_means = np.array([60 + 20 * i for i in range(8)]) * 36 / 40 / 255
    expected_pos = padded_means * 10 - 4.5 >= 0
    assert expected_pos.tolist() == [False] * 4 + [True] * 4
    truth = np.array([i % 2 for i in range(8)])
    tp = int((expected_pos & (truth == 1)).sum())
    fp = int((expected_pos & (truth == 0)).sum())
    assert report["tp"] == tp and report["fp"] == fp
    assert np.asarray(report["confusion_matrix"]).sum() == 8
    assert 0.5 < report["auc"] < 1.0  # brightness rises with the index, labels alternate
    with (out / "per_case.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [Path(r["image"]).name for r in rows] == [f"c{i}.png" for i in range(8)]
    assert [r["label"] for r in rows] == ["normal", "glaucoma"] * 4
    assert [r["patient_id"] for r in rows] == [f"p{i}" for i in range(8)]
    probs = np.array([float(r["p_glaucoma"]) for r in rows])
    assert np.all(np.diff(probs) > 0)
    for png in ("roc.png", "confusion.png", "calibration.png"):
        assert (out / png).stat().st_size > 1000, png
    json.dumps(report)  # JSON-able for --json


def test_evaluate_classifier_reports_training_images_apart(tmp_path):
    from medscreen.inference.card import TrainingImages
    from medscreen.io.images import file_sha256

    records = _crops(tmp_path)
    classifier = _brightness_classifier()
    classifier.training_images = TrainingImages(train=[file_sha256(r.image) for r in records[:4]],
                                                val=[file_sha256(records[4].image)])
    report = evaluate_classifier(records, "glaucoma", classifier, is_crop=True, out_dir=tmp_path / "eval")
    seen = report["seen"]
    assert seen["counts"] == {"train": 4, "val": 1, "unseen": 3} and report["n"] == 8
    assert seen["train"]["n"] == 4 and seen["unseen"]["n"] == 3 and seen["unseen"]["tp"] + seen["unseen"]["fn"] == 2
    assert report["warning"].startswith("4 of 8 images were in this model's training data")
    with (tmp_path / "eval" / "per_case.csv").open() as f:
        assert [r["seen"] for r in csv.DictReader(f)] == ["train"] * 4 + ["val"] + ["unseen"] * 3
    only = evaluate_classifier(records, "glaucoma", classifier, is_crop=True, unseen_only=True)
    assert only["n"] == 3 and only["seen"]["left_out"] == {"train": 4, "val": 1} and "warning" not in only


@pytest.mark.slow
def test_evaluate_classifier_with_the_onnx_model(exported, tmp_path):
    net, path = exported["glaucoma"]
    records = _crops(tmp_path, n=6)
    classifier = load_classifier("glaucoma", path)
    report = evaluate_classifier(records, "glaucoma", classifier, is_crop=True)
    images = [np.asarray(Image.open(r.image)) for r in records]
    limit = classifier.spec.params.recrop_above_k  # the card's (the glaucoma task's default, 3.5)
    assert limit == 3.5
    expected = classifier.predict([fundus_crop(im, is_crop=True, recrop_above_k=limit) for im in images])
    truth = np.array([i % 2 for i in range(6)])
    from medscreen.evaluation.classification import compute_auc

    assert report["n"] == 6 and report["auc"] == pytest.approx(compute_auc(truth, expected))
    assert report["threshold"] == 0.4


@pytest.mark.slow
def test_a_model_of_another_task_is_refused(exported, tmp_path):
    _, path = exported["glaucoma"]
    with pytest.raises(ConfigError, match="'glaucoma' model, not 'progression'"):
        load_classifier("progression", path)
    with pytest.raises(ModelError, match="not found"):
        load_classifier("glaucoma", tmp_path / "missing.onnx")
    with pytest.raises(ModelError, match="not found"):
        load_classifier("glaucoma", tmp_path / "missing.ckpt")


def _pale_disc(level: int, size: int = 64) -> np.ndarray:
    """A crop whose central disc (radius size/4.4) has green ``level``; the retina is 80 and 100 in halves."""
    image = np.full((size, size, 3), 80, np.uint8)
    image[: size // 2] = 100
    yy, xx = np.ogrid[:size, :size]
    image[np.hypot(yy - (size - 1) / 2, xx - (size - 1) / 2) < size / 4.4, 1] = level
    return image


def test_pallor_fusion_adds_the_discs_pallor_to_the_network_logit():
    fusion = {"logit_weight": 2.0, "pallor_weight": 1.5, "bias": -1.0, "radius": 1 / 4.4, "weight": 0.5}
    params = {"labels": ["normal", "glaucoma"], "inputs": "image", "preprocess": "none"}
    constant = Classifier(ModelSpec("glaucoma", 32, 3, 0.5, {**params, "pallor_fusion": fusion}),
                          lambda feeds: np.full((len(feeds["image"]), 1), 0.25))
    pale, dull = _pale_disc(200), _pale_disc(120)
    from medscreen.transforms.classification import disc_pallor

    expected = [2.0 * 0.25 + 1.5 * disc_pallor(im, 1 / 4.4) - 1.0 for im in (pale, dull)]
    got = constant.predict([pale, dull])
    assert got == pytest.approx(1 / (1 + np.exp(-np.array(expected))), abs=1e-9)
    assert got[0] > got[1]  # same network logit: the paler disc scores higher
    measured = np.array([disc_pallor(im, 1 / 4.4) for im in (pale, dull)])
    assert constant.predict([pale, dull], pallor=measured) == pytest.approx(got)  # measured once by the caller
    assert constant.network_logits([pale])[0, 0] == 0.25  # what a fusion is fitted on: the network alone
    with pytest.raises(ValueError, match="logit_weight"):
        ModelSpec("glaucoma", 32, 3, 0.5, {**params, "pallor_fusion": {**fusion, "logit_weight": -1.0}})
    with pytest.raises(ValueError, match="radius"):
        ModelSpec("glaucoma", 32, 3, 0.5, {**params, "pallor_fusion": {**fusion, "radius": 0.9}})


def test_pallor_fusion_of_a_multiclass_model_is_a_clear_error():
    from medscreen.inference.card import PallorFusion
    from medscreen.inference.classification import fused_logits

    fusion = PallorFusion(logit_weight=1.0, pallor_weight=1.0, bias=0.0, radius=0.2, weight=0.5)
    with pytest.raises(ModelError, match="remove params.pallor_fusion"):
        fused_logits(np.zeros((1, 3)), [_pale_disc(200)], fusion)


def test_evaluating_a_fused_model_reports_the_network_and_the_pallor_apart(tmp_path):
    """The report's ``fusion_parts`` and the per-case columns give what each part of the fused score ranks."""
    rng = np.random.default_rng(3)
    records = []
    for i in range(12):
        glaucoma = i % 2 == 1
        image = rng.integers(70, 110, (44, 44, 3)).astype(np.uint8)
        yy, xx = np.ogrid[:44, :44]
        image[np.hypot(yy - 21.5, xx - 21.5) < 8, 1] = 170 + 5 * i if glaucoma else 100 + 2 * i  # paler when glaucoma
        Image.fromarray(image).save(tmp_path / f"f{i}.png")
        records.append(Record(tmp_path / f"f{i}.png", (), "glaucoma" if glaucoma else "normal", f"p{i}",
                              "a" if i < 6 else "b", f"f{i}"))
    fusion = {"logit_weight": 1.0, "pallor_weight": 2.0, "bias": -1.0, "radius": 1 / 4.4, "weight": 0.5}
    spec = ModelSpec("glaucoma", SIZE, 3, 0.5, {"labels": ["normal", "glaucoma"], "inputs": "image",
                                                "preprocess": "none", "pallor_fusion": fusion})
    constant = Classifier(spec, lambda feeds: np.zeros((len(feeds["image"]), 1)), "blind network")
    out = tmp_path / "eval"
    report = evaluate_classifier(records, "glaucoma", constant, is_crop=True, out_dir=out, batch_size=5)
    parts = report["fusion_parts"]
    assert parts["network"]["auc"] == 0.5 and parts["pallor"]["auc"] == report["auc"] == 1.0
    assert set(parts["pallor"]["by_source"]) == {"a", "b"}
    rows = list(csv.DictReader((out / "per_case.csv").open()))
    assert {"p_network", "pallor"} <= set(rows[0]) and {float(r["p_network"]) for r in rows} == {0.5}
    assert report["auc"] == 1.0 and "fusion_parts" not in evaluate_classifier(records, "glaucoma",
                                                                                _brightness_classifier(), is_crop=True)
