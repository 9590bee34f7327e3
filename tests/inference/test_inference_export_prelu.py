"""Rewrites of exported models: PRelu → LeakyRelu (same outputs; per-channel slopes kept), node annotations dropped,
weights stored in float16."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from medscreen.errors import ModelError  # noqa: E402
from medscreen.inference.export import prelu_to_leaky_relu, store_weights_float16, strip_node_metadata  # noqa: E402


def _model(path: Path) -> Path:
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w"),
             numpy_helper.from_array(np.array([0.25], np.float32), "one_slope"),
             numpy_helper.from_array(rng.random((4, 1, 1)).astype(np.float32), "per_channel")]
    nodes = [helper.make_node("Conv", ["image", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("PRelu", ["c", "one_slope"], ["a"]),
             helper.make_node("Neg", ["a"], ["n"]),
             helper.make_node("PRelu", ["n", "per_channel"], ["logits"])]
    return _save(path, nodes, inits, channels=4)


def _save(path: Path, nodes: list, inits: list, *, channels: int) -> Path:
    """A one-input (N×3×8×8 ``image``), one-output (N×channels×8×8 ``logits``) model."""
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, 8, 8])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", channels, 8, 8])],
                              inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _run(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"image": x})[0]


def test_single_slope_prelu_becomes_leaky_relu_with_the_same_output(tmp_path):
    path = _model(tmp_path / "m.onnx")
    x = np.random.default_rng(1).standard_normal((2, 3, 8, 8)).astype(np.float32)
    before = _run(path, x)
    assert prelu_to_leaky_relu(path) == 1
    ops = [n.op_type for n in onnx.load(str(path)).graph.node]
    assert ops == ["Conv", "LeakyRelu", "Neg", "PRelu"]
    assert {i.name for i in onnx.load(str(path)).graph.initializer} == {"w", "per_channel"}
    np.testing.assert_allclose(_run(path, x), before, rtol=0, atol=1e-6)
    assert prelu_to_leaky_relu(path) == 0  # idempotent


def test_node_annotations_are_dropped_and_the_output_kept(tmp_path):
    path = _model(tmp_path / "m.onnx")
    model = onnx.load(str(path))
    for node in model.graph.node:
        node.metadata_props.add(key="pkg.torch.onnx.stack_trace", value="File x.py, line 1\n" * 50)
        node.doc_string = "from the exporter"
    onnx.save(model, str(path))
    x = np.random.default_rng(1).standard_normal((2, 3, 8, 8)).astype(np.float32)
    before = _run(path, x)
    assert strip_node_metadata(path) > 4 * 900
    assert not any(n.metadata_props or n.doc_string for n in onnx.load(str(path)).graph.node)
    np.testing.assert_array_equal(_run(path, x), before)
    assert strip_node_metadata(path) == 0



def _conv_model(path: Path) -> Path:
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((16, 3, 5, 5)).astype(np.float32) * 0.2, "w"),
             numpy_helper.from_array(rng.standard_normal(16).astype(np.float32), "b")]
    nodes = [helper.make_node("Conv", ["image", "w", "b"], ["logits"], pads=[2, 2, 2, 2])]
    return _save(path, nodes, inits, channels=16)


def test_weights_stored_in_float16_are_computed_in_float32_with_the_change_measured(tmp_path):
    path = _conv_model(tmp_path / "m.onnx")
    x = np.random.default_rng(1).standard_normal((2, 3, 8, 8)).astype(np.float32)
    before, size = _run(path, x), path.stat().st_size
    diff = store_weights_float16(path)
    stored = {i.name: i.data_type for i in onnx.load(str(path)).graph.initializer}
    assert stored == {"w__float16": TensorProto.FLOAT16, "b": TensorProto.FLOAT}  # 16 biases: too few to halve
    assert path.stat().st_size < 0.6 * size
    got = _run(path, x)
    assert got.dtype == np.float32 and 0 < np.abs(got - before).max() < 0.05
    assert 0 < diff < 0.05  # measured on its own random input
    with pytest.raises(ModelError, match="float16 already"):
        store_weights_float16(path)


def test_float16_weights_that_change_the_output_too_much_leave_the_file_as_it_was(tmp_path):
    path = _conv_model(tmp_path / "m.onnx")
    data = path.read_bytes()
    with pytest.raises(ModelError, match=r"change its logits by .* export it with float32 weights"):
        store_weights_float16(path, atol=1e-9)
    assert path.read_bytes() == data
