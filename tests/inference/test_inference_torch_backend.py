"""The torch backend: float16 weights saved beside a model's card, rebuilt from the card, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from medscreen.errors import ModelError  # noqa: E402
from medscreen.inference.torch_backend import (  # noqa: E402
    load_torch_model,
    torch_weights_path,
)
from medscreen.models.registry import create_model  # noqa: E402
from medscreen.models.weights import save_weights  # noqa: E402

SIZE = 32


def _card(path: Path, card: dict) -> Path:
    path.with_suffix(".json").write_text(json.dumps(card))
    return path


@pytest.fixture
def classifier(tmp_path) -> tuple[torch.nn.Module, Path]:
    torch.manual_seed(0)
    net = create_model("breast-class", "compact", in_channels=3, input_size=SIZE).eval()
    onnx = _card(tmp_path / "breast-class.onnx", {
        "task": "breast-class", "input_size": SIZE, "in_channels": 3, "threshold": 0.5,
        "params": {"labels": ["normal", "benign", "malignant"], "inputs": "image"},
        "training_config": {"task": "breast-class", "arch": "compact", "inputs": "image"}})
    return net, onnx


@pytest.mark.slow
def test_classifier_weights_round_trip_in_float16(classifier):
    net, onnx = classifier
    pt = save_weights(net, torch_weights_path(onnx), task="breast-class", source="test")
    assert pt == onnx.with_suffix(".pt")
    saved = torch.load(pt, weights_only=True)
    assert saved["task"] == "breast-class" and saved["source"] == "test"
    assert all(v.dtype in (torch.float16, torch.int64) for v in saved["state_dict"].values())
    model = load_torch_model(onnx)
    x = np.random.default_rng(0).standard_normal((2, 3, SIZE, SIZE), dtype=np.float32)
    with torch.no_grad():
        ref = net(torch.as_tensor(x)).numpy()
    got = model.run({"image": x})
    assert got.shape == (2, 3) and np.abs(got - ref).max() < 0.05
    assert model.spec.task == "breast-class" and len(model.sha256) == 64


def test_segmentation_weights_round_trip(tmp_path):
    torch.manual_seed(0)
    net = create_model("lesion", "compact").eval()
    onnx = _card(tmp_path / "lesion.onnx", {"task": "lesion", "input_size": 64, "in_channels": 1,
                                            "training_config": {"task": "lesion", "arch": "compact", "norm": "batch"}})
    save_weights(net, onnx.with_suffix(".pt"), task="lesion")
    x = np.random.default_rng(1).random((1, 1, 64, 64), dtype=np.float32)
    with torch.no_grad():
        ref = net(torch.as_tensor(x)).numpy()
    assert np.abs(load_torch_model(onnx)(x) - ref).max() < 0.05


def test_missing_foreign_or_mismatched_weights_are_clear_errors(classifier, tmp_path):
    net, onnx = classifier
    with pytest.raises(ModelError, match=r"breast-class\.pt not found.*medscreen export torch-weights"):
        load_torch_model(onnx)
    save_weights(net, onnx.with_suffix(".pt"), task="glaucoma")
    with pytest.raises(ModelError, match="holds 'glaucoma' weights"):
        load_torch_model(onnx)
    torch.save({"weights": 1}, onnx.with_suffix(".pt"))
    with pytest.raises(ModelError, match="not a medscreen weights file"):
        load_torch_model(onnx)
    save_weights(create_model("glaucoma", "compact", input_size=SIZE), onnx.with_suffix(".pt"), task="breast-class")
    with pytest.raises(ModelError, match="do not fit"):
        load_torch_model(onnx)
    (tmp_path / "bare").mkdir()
    bare = _card(tmp_path / "bare" / "glaucoma.onnx", {"task": "glaucoma", "input_size": SIZE, "in_channels": 3})
    save_weights(net, bare.with_suffix(".pt"), task="glaucoma")
    with pytest.raises(ModelError, match="no training_config"):
        load_torch_model(bare)
