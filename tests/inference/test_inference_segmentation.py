"""Export → ONNX parity → evaluation with the ONNX model, on generated fixtures."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from medscreen.cli.main import app
from medscreen.errors import ModelError
from medscreen.inference.export import check_parity, export_onnx
from medscreen.inference.runtime import ModelSpec, OnnxModel
from medscreen.inference.segmentation import segment_disc, segment_lesion
from medscreen.models.registry import create_model
from medscreen.training.config import SegmentationConfig
from medscreen.training.segmentation import train_segmentation

runner = CliRunner()


@pytest.fixture(scope="module")
def onnx_disc(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "disc.onnx"
    torch.manual_seed(0)
    net = create_model("disc", "compact").eval()
    export_onnx(net, path, in_channels=3, input_size=64)
    path.with_suffix(".json").write_text(json.dumps({"task": "disc", "input_size": 64, "in_channels": 3}))
    return net, path


@pytest.mark.slow
def test_onnx_matches_pytorch(onnx_disc):
    net, path = onnx_disc
    images = np.random.default_rng(0).random((3, 3, 64, 64), dtype=np.float32)
    assert check_parity(net, path, images, atol=1e-4) < 1e-4
    model = OnnxModel(path)
    with torch.no_grad():
        ref = net(torch.as_tensor(images)).numpy()
    assert np.allclose(model(images), ref, atol=1e-4)
    assert len(model.sha256) == 64


@pytest.mark.slow
def test_parity_failure_is_reported(onnx_disc):
    _, path = onnx_disc
    other = create_model("disc", "compact").eval()
    with pytest.raises(ModelError, match="differs from PyTorch"):
        check_parity(other, path, np.random.default_rng(1).random((1, 3, 64, 64), dtype=np.float32), atol=1e-6)


def test_missing_or_corrupt_model_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        OnnxModel(tmp_path / "nope.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    bad.with_suffix(".json").write_text(json.dumps({"task": "disc", "input_size": 64, "in_channels": 3}))
    with pytest.raises(ModelError, match="not a loadable ONNX"):
        OnnxModel(bad)
    (tmp_path / "nocard.onnx").write_bytes(b"x")
    with pytest.raises(ModelError, match="card"):
        OnnxModel(tmp_path / "nocard.onnx")


def _oracle(size: int):
    """A 'model' that returns high logits on bright pixels: lets us test the geometry exactly."""

    def run(batch: np.ndarray) -> np.ndarray:
        return np.where(batch[:, :1] > 0.5, 10.0, -10.0).astype(np.float32)

    return run


def test_disc_coarse_to_fine_maps_back_to_image_coordinates():
    img = np.zeros((300, 400, 3), np.uint8)
    yy, xx = np.mgrid[:300, :400]
    img[(yy - 150) ** 2 + (xx - 200) ** 2 < 140**2] = (90, 40, 20)  # field of view, dark
    disc = (yy - 120) ** 2 + (xx - 260) ** 2 < 20**2
    img[disc] = (250, 200, 150)
    out = segment_disc(img, _oracle(64), ModelSpec("disc", 64, 3, 0.5, {"refine_k": 3.0}))
    assert out.mask.shape == (300, 400) and len(out.boxes) == 2
    inter, union = (out.mask & disc).sum(), (out.mask | disc).sum()
    assert inter / union > 0.85


def test_full_photo_disc_is_looked_for_only_near_the_horizontal_meridian():
    """A large bright flash at the top rim outscores the disc as a blob; with the card's max_vertical_offset the
    disc on the meridian is found instead, and without one (or on a crop) the flash still wins."""
    img = np.zeros((400, 400, 3), np.uint8)
    yy, xx = np.mgrid[:400, :400]
    img[(yy - 200) ** 2 + (xx - 200) ** 2 < 195**2] = (90, 40, 20)
    flash = (yy - 45) ** 2 + (xx - 200) ** 2 < 30**2  # 0.78 half-sides above the middle
    disc = (yy - 210) ** 2 + (xx - 300) ** 2 < 16**2
    img[flash | disc] = (250, 200, 150)
    params = {"refine_k": 3.0, "refine_scales": [1.0]}
    banded = segment_disc(img, _oracle(64), ModelSpec("disc", 64, 3, 0.5, {**params, "max_vertical_offset": 0.5}),
                          is_crop=False)
    assert (banded.mask & disc).sum() / (banded.mask | disc).sum() > 0.8 and not (banded.mask & flash).any()
    anywhere = segment_disc(img, _oracle(64), ModelSpec("disc", 64, 3, 0.5, params), is_crop=False)
    assert (anywhere.mask & flash).any() and not (anywhere.mask & disc).any()


def test_disc_scale_tta_maps_back_and_runs_one_window_per_scale():
    img = np.zeros((300, 400, 3), np.uint8)
    yy, xx = np.mgrid[:300, :400]
    img[(yy - 150) ** 2 + (xx - 200) ** 2 < 140**2] = (90, 40, 20)
    disc = (yy - 120) ** 2 + (xx - 260) ** 2 < 20**2
    img[disc] = (250, 200, 150)
    calls = []
    oracle = _oracle(64)

    def counted(batch: np.ndarray) -> np.ndarray:
        calls.append(batch.shape[0])
        return oracle(batch)

    out = segment_disc(img, counted, ModelSpec("disc", 64, 3, 0.5, {"refine_scales": [0.7, 1.0, 1.4]}))
    assert calls == [1, 1, 1, 1]  # pass 1, then one window per scale
    assert (out.mask & disc).sum() / (out.mask | disc).sum() > 0.85


def test_scale_tta_averages_the_windows_where_they_overlap():
    """Three windows answer 0.2, 0.6 and 0.7 everywhere: the middle (all three) is their mean, the box's corner
    (outside the 0.7 window) the mean of the other two; one scale is the plain window."""
    from medscreen.inference.segmentation import _predict_window_scales

    image = np.zeros((200, 200, 3), np.uint8)
    box = (50, 50, 150, 150)
    answers = iter(np.log(p / (1 - p)) for p in (0.2, 0.6, 0.7))

    def run(batch: np.ndarray) -> np.ndarray:
        return np.full((batch.shape[0], 1, 32, 32), next(answers), np.float32)

    prob, window = _predict_window_scales(image, box, run, ModelSpec("disc", 32, 3, 0.5, {}), (0.7, 1.0, 1.4))
    assert window == box and prob.shape == (100, 100)
    assert prob[50, 50] == pytest.approx(0.5, abs=1e-4) and prob[2, 2] == pytest.approx(0.65, abs=1e-4)
    answers = iter([np.log(0.6 / 0.4)])
    prob, _ = _predict_window_scales(image, box, run, ModelSpec("disc", 32, 3, 0.5, {}), (1.0,))
    assert np.allclose(prob, 0.6, atol=1e-4)


@pytest.mark.parametrize("scales", [[], [0.0, 1.0], [1.0, 9.0]])
def test_implausible_refine_scales_are_refused(scales):
    from pydantic import ValidationError

    from medscreen.inference.card import CardParams

    with pytest.raises(ValidationError, match=r"refine_scales .* between 0.25 and 4"):
        CardParams(refine_scales=scales)


def test_lesion_min_area_drops_speckle():
    img = np.zeros((128, 128), np.uint8)
    img[30:80, 30:80] = 255
    img[100:102, 100:102] = 255
    spec = ModelSpec("lesion", 128, 1, 0.5, {"min_area_fraction": 0.01})
    mask = segment_lesion(img, _oracle(128), spec).mask
    assert mask[50, 50] and not mask[100, 100]


def test_lesion_min_mean_probability_drops_what_the_model_is_unsure_of():
    """A component painted at probability ~0.7 is dropped; a sure one (~1.0) stays; 0 keeps both."""
    img = np.zeros((128, 128), np.uint8)
    img[20:60, 20:60] = 255  # sure
    img[80:120, 80:120] = 160  # unsure: logit 0.85, probability 0.70

    def run(batch: np.ndarray) -> np.ndarray:
        x = batch[:, :1]
        return np.where(x > 0.9, 10.0, np.where(x > 0.5, 0.85, -10.0)).astype(np.float32)

    sure_only = segment_lesion(img, run, ModelSpec("lesion", 128, 1, 0.5, {"min_mean_probability": 0.8})).mask
    assert sure_only[40, 40] and not sure_only[100, 100]
    both = segment_lesion(img, run, ModelSpec("lesion", 128, 1, 0.5, {})).mask
    assert both[40, 40] and both[100, 100]


@pytest.mark.slow
def test_train_export_evaluate_through_the_cli(tmp_path):
    from tests_support import make_blob_records

    data = tmp_path / "data"
    data.mkdir()
    records = make_blob_records(data, n=6)
    rows = ["image,mask,label,patient_id"] + [f"{r.image.name},{r.masks[0].name},benign,{r.patient_id}" for r in records]
    (data / "m.csv").write_text("\n".join(rows) + "\n")
    run = tmp_path / "run"
    train_segmentation(records, SegmentationConfig(task="lesion", input_size=64, epochs=1, batch_size=4,
                                                   val_fraction=0.34), run, progress=False)
    onnx = tmp_path / "lesion.onnx"
    export = ["export", "segmentation", str(run / "checkpoints" / "best.ckpt"), "--out", str(onnx)]
    result = runner.invoke(app, export)  # the fixture data's licence is unknown: refused before anything is written
    assert result.exit_code == 2 and "'fixture'" in result.output and "training_data" in result.output
    assert not onnx.exists()
    source = tmp_path / "card.json"
    source.write_text(json.dumps({"training_data": [{"name": "blobs", "licence": "CC0", "citation": "this test"}]}))
    result = runner.invoke(app, [*export, "--card", str(source)])
    assert result.exit_code == 0, result.output
    card = json.loads(onnx.with_suffix(".json").read_text())
    assert card["task"] == "lesion" and card["onnx_parity_max_abs_diff"] <= 1e-4
    assert card["card_version"] == 3 and card["licences"] == ["blobs: CC0 — this test"]
    # the run's 4 training and 2 validation images, by their files' SHA-256
    assert (len(card["training_images"]["train"]), len(card["training_images"]["val"])) == (4, 2)
    assert onnx.with_suffix(".md").exists()
    half = tmp_path / "half" / "lesion.onnx"
    result = runner.invoke(app, [*export[:-1], str(half), "--card", str(source), "--weights", "float16"])
    assert result.exit_code == 0 and "weights stored in float16: max |Δlogit|" in " ".join(result.output.split())
    assert json.loads(half.with_suffix(".json").read_text())["weights_dtype"] == "float16"
    assert half.stat().st_size < 0.6 * onnx.stat().st_size
    out_json = tmp_path / "eval.json"
    result = runner.invoke(app, ["evaluate", "lesion", "--manifest", str(data / "m.csv"), "--model", str(onnx),
                                 "--json", str(out_json), "--out", str(tmp_path / "eval")])
    assert result.exit_code == 0, result.output
    report = json.loads(out_json.read_text())
    assert report["n"] == 6 and 0.0 <= report["dice"] <= 1.0 and 0.0 <= report["iou"] <= 1.0
    assert report["seen"]["counts"] == {"train": 4, "val": 2, "unseen": 0} and "training data" in report["warning"]
    assert "warning: 4 of 6 images were in this model's training data" in " ".join(result.output.split())
    assert (tmp_path / "eval" / "per_image.csv").exists() and list((tmp_path / "eval" / "worst").glob("*.png"))
    result = runner.invoke(app, ["export", "add-metrics", str(onnx), "--name", "validation", "--json", str(out_json),
                                 "--command", "medscreen evaluate lesion ..."])
    assert result.exit_code == 0, result.output
    card = json.loads(onnx.with_suffix(".json").read_text())
    assert card["metrics"]["validation"]["n"] == 6 and card["commands"] == ["medscreen evaluate lesion ..."]
    assert "## Validation: validation" in onnx.with_suffix(".md").read_text()
    result = runner.invoke(app, ["export", "add-metrics", str(onnx), "--name", "x", "--json", str(tmp_path / "no.json")])
    assert result.exit_code == 2 and "not found; give the OUT.json" in result.output
    bad_card = tmp_path / "bad_card.json"
    bad_card.write_text(json.dumps({"training_data": []}))  # version 2 needs its datasets
    refused = tmp_path / "refused.onnx"
    result = runner.invoke(app, ["export", "segmentation", str(run / "checkpoints" / "best.ckpt"), "--out", str(refused),
                                 "--card", str(bad_card)])
    assert result.exit_code == 2 and not refused.exists()  # no model is left without its card
    # the same evaluation with the PyTorch checkpoint gives the same masks
    out_ckpt = tmp_path / "eval_ckpt.json"
    result = runner.invoke(app, ["evaluate", "lesion", "--manifest", str(data / "m.csv"), "--model",
                                 str(run / "checkpoints" / "best.ckpt"), "--json", str(out_ckpt)])
    assert result.exit_code == 0, result.output
    assert json.loads(out_ckpt.read_text())["dice"] == pytest.approx(report["dice"], abs=1e-3)
    assert json.loads(out_ckpt.read_text())["seen"]["counts"] == report["seen"]["counts"]  # from the run's split.csv


@pytest.mark.slow
def test_evaluate_rejects_a_model_of_another_task(onnx_disc, tmp_path):
    _, path = onnx_disc
    m = tmp_path / "m.csv"
    m.write_text("image,mask\nx.png,\n")
    result = runner.invoke(app, ["evaluate", "lesion", "--manifest", str(m), "--model", str(path), "--json",
                                 str(tmp_path / "o.json")])
    assert result.exit_code == 2
    assert "not 'lesion'" in result.output


def test_missing_or_foreign_checkpoint_is_a_one_line_error(tmp_path):
    bad = tmp_path / "bad.ckpt"
    bad.write_text("not a checkpoint")
    for model, expected in ((bad, "not a readable"), (tmp_path / "missing.ckpt", "not found")):
        result = runner.invoke(app, ["export", "segmentation", str(model), "--out", str(tmp_path / "x.onnx")])
        assert result.exit_code == 2 and expected in result.output and "Traceback" not in result.output


@pytest.mark.slow
def test_segmentation_ensemble_exports_as_one_mean_logit_graph(tmp_path):
    from medscreen.inference.torch_backend import load_torch_model, torch_weights_from_checkpoint
    from medscreen.training.segmentation import load_module
    from tests_support import make_blob_records

    data = tmp_path / "data"
    data.mkdir()
    records = make_blob_records(data, n=6)
    runs = {}
    for name, seed, size in (("a", 42, 64), ("b", 1, 64), ("c", 7, 32)):
        runs[name] = train_segmentation(records, SegmentationConfig(task="lesion", input_size=size, epochs=1,
                                        batch_size=4, val_fraction=0.34, seed=seed), tmp_path / name,
                                        progress=False) / "checkpoints" / "best.ckpt"
    source = tmp_path / "card.json"
    source.write_text(json.dumps({"training_data": [{"name": "blobs", "licence": "CC0", "citation": "this test"}]}))
    onnx = tmp_path / "lesion.onnx"
    result = runner.invoke(app, ["export", "segmentation", str(runs["a"]), str(runs["b"]), "--out", str(onnx),
                                 "--card", str(source), "--min-area", "0.002"])
    assert result.exit_code == 0, result.output
    card = json.loads(onnx.with_suffix(".json").read_text())
    assert card["ensemble"]["members"] == 2 and card["ensemble"]["seeds"] == [42, 1]
    assert card["params"]["min_area_fraction"] == 0.002
    nets = [load_module(runs[k]).net.eval() for k in ("a", "b")]
    assert card["parameters"] == sum(p.numel() for n in nets for p in n.parameters())
    x = np.random.default_rng(0).random((2, 1, 64, 64), dtype=np.float32)
    with torch.no_grad():
        mean = torch.stack([n(torch.as_tensor(x)) for n in nets]).mean(0).numpy()
    assert np.abs(OnnxModel(onnx)(x) - mean).max() < 1e-3
    # the torch backend rebuilds both members from the card
    torch_weights_from_checkpoint([runs["a"], runs["b"]], onnx.with_suffix(".pt"))
    assert np.abs(load_torch_model(onnx)(x) - mean).max() < 0.05
    # members fed a different input size cannot be averaged: refused, nothing written
    refused = tmp_path / "refused.onnx"
    result = runner.invoke(app, ["export", "segmentation", str(runs["a"]), str(runs["c"]), "--out", str(refused),
                                 "--card", str(source)])
    assert result.exit_code == 2 and "differs from" in result.output and "input_size" in result.output
    assert not refused.exists()
    # a member of another task (here a glaucoma classifier) is refused in one line, for the .onnx and the .pt
    from medscreen.training.classification import train_classifier
    from medscreen.training.config import ClassificationConfig
    from tests_support import make_class_records

    (tmp_path / "g").mkdir()
    glaucoma = train_classifier(make_class_records(tmp_path / "g", n_patients=4, per_patient=2, size=32),
                                ClassificationConfig(task="glaucoma", input_size=32, epochs=1, batch_size=4,
                                                     val_fraction=0.34, accelerator="cpu"),
                                tmp_path / "g-run", progress=False) / "checkpoints" / "best.ckpt"
    result = runner.invoke(app, ["export", "segmentation", str(runs["a"]), str(glaucoma), "--out", str(refused),
                                 "--card", str(source)])
    assert result.exit_code == 2 and "Traceback" not in result.output and not refused.exists()
    assert "a glaucoma checkpoint" in " ".join(result.output.split()) and "runs of one task" in " ".join(
        result.output.split())
    with pytest.raises(ModelError, match="a glaucoma checkpoint, but .* is lesion"):
        torch_weights_from_checkpoint([runs["a"], glaucoma], tmp_path / "mixed.pt")
    assert not (tmp_path / "mixed.pt").exists()


@pytest.mark.slow
def test_disc_export_records_its_refine_scales(tmp_path):
    from tests_support import make_blob_records

    records = make_blob_records(tmp_path, n=6, rgb=True)
    run = train_segmentation(records, SegmentationConfig(task="disc", input_size=64, cache_side=64, epochs=1,
                                                         batch_size=4, val_fraction=0.34), tmp_path / "run",
                             progress=False)
    source = tmp_path / "card.json"
    source.write_text(json.dumps({"training_data": [{"name": "blobs", "licence": "CC0", "citation": "this test"}]}))
    export = ["export", "segmentation", str(run / "checkpoints" / "best.ckpt"), "--card", str(source)]
    result = runner.invoke(app, [*export, "--out", str(tmp_path / "one.onnx")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "one.json").read_text())["params"]["refine_scales"] == [1.0]
    result = runner.invoke(app, [*export, "--out", str(tmp_path / "tta.onnx"), "--refine-scale", "0.7",
                                 "--refine-scale", "1.0", "--refine-scale", "1.4"])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "tta.json").read_text())["params"]["refine_scales"] == [0.7, 1.0, 1.4]
    assert OnnxModel(tmp_path / "tta.onnx").spec.params.refine_scales == (0.7, 1.0, 1.4)
    result = runner.invoke(app, [*export, "--out", str(tmp_path / "bad.onnx"), "--refine-scale", "0"])
    assert result.exit_code == 2 and "between 0.25 and 4" in " ".join(result.output.split())
    assert "Traceback" not in result.output and not (tmp_path / "bad.onnx").exists()
