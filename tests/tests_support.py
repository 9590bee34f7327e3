"""Fixture builders shared by several test modules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from medscreen.datasets.records import Record


def make_blob_records(root: Path, n: int = 8, size: int = 64, rgb: bool = False) -> list[Record]:
    """Images with one bright disc each and its mask; one patient per image."""
    rng = np.random.default_rng(0)
    records = []
    for i in range(n):
        yy, xx = np.mgrid[:size, :size]
        cy, cx, r = rng.integers(16, size - 16, 2).tolist() + [int(rng.integers(6, 12))]
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 < r**2
        img = (rng.normal(60, 10, (size, size)) + 150 * mask).clip(0, 255).astype(np.uint8)
        if rgb:
            img = np.stack([img, (img * 0.6).astype(np.uint8), (img * 0.3).astype(np.uint8)], -1)
        Image.fromarray(img).save(root / f"im{i}.png")
        Image.fromarray(mask.astype(np.uint8) * 255).save(root / f"im{i}_mask.png")
        records.append(Record(root / f"im{i}.png", (root / f"im{i}_mask.png",), "benign", f"p{i}", "fixture", f"im{i}"))
    return records


def make_class_records(
    root: Path,
    n_patients: int = 8,
    per_patient: int = 2,
    size: int = 32,
    labels: tuple[str, str] = ("normal", "glaucoma"),
    dataset: str = "fixture",
) -> list[Record]:
    """RGB PNG 'crops', dark for ``labels[0]`` and bright for ``labels[1]``; patients alternate between them."""
    rng = np.random.default_rng(1)
    records = []
    for p in range(n_patients):
        label = labels[p % 2]
        for j in range(per_patient):
            level = 70 if label == labels[0] else 180
            img = rng.normal(level, 25, (size, size, 3)).clip(0, 255).astype(np.uint8)
            path = root / f"p{p}_{j}.png"
            Image.fromarray(img).save(path)
            records.append(Record(path, (), label, f"p{p}", dataset, f"p{p}_{j}"))
    return records


def fundus_like(h: int = 480, w: int = 640, disc_dy: float = 0.0) -> np.ndarray:
    """A round red-orange field in a black surround, vignetted, with a bright disc and dark vessels.

    ``disc_dy``: the disc's (and its vessels') shift below the field's middle, in field radii.
    """
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    cy, cx, r = h / 2, w / 2, 0.46 * h
    d2 = ((yy - cy) ** 2 + (xx - cx) ** 2) / r**2
    shade = 1.0 - 0.35 * d2
    dy = disc_dy * r
    disc = np.exp(-((yy - cy - dy) ** 2 + (xx - cx - 0.45 * r) ** 2) / (2 * (0.07 * h) ** 2))
    vessels = np.zeros((h, w), bool)
    t = np.linspace(0, r, 400)
    for k in range(6):
        a = k * np.pi / 3 + 0.3
        ys = (cy + dy + t * np.sin(a) + 15 * np.sin(t / 40)).astype(int)
        xs = (cx + 0.45 * r + t * np.cos(a)).astype(int)
        ok = (ys >= 0) & (ys < h) & (xs >= 0) & (xs < w)
        vessels[ys[ok], xs[ok]] = True
    vessels = ndimage.gaussian_filter(ndimage.binary_dilation(vessels, iterations=2).astype(np.float32), 1.0)
    rgb = np.stack([170 * shade + 80 * disc, 75 * shade + 150 * disc, 25 * shade + 90 * disc], axis=-1)
    rgb = rgb * (1 - 0.45 * vessels)[..., None] + rng.normal(0, 2, rgb.shape)
    rgb[d2 >= 1] = 0
    return np.clip(rgb, 0, 255).astype(np.uint8)


def ultrasound_like(h: int = 400, w: int = 500) -> np.ndarray:
    """Log-compressed speckle elongated sideways, sideways tissue layers, a dark lesion, black margins."""
    rng = np.random.default_rng(0)
    z = ndimage.gaussian_filter(rng.normal(size=(h, w)), (1.5, 5)) + 1j * ndimage.gaussian_filter(
        rng.normal(size=(h, w)), (1.5, 5)
    )
    envelope = np.abs(z)
    yy, xx = np.mgrid[:h, :w]
    tissue = 0.6 + 0.4 * np.sin(yy / 18.0 + 0.3 * np.sin(xx / 60.0))
    tissue[((yy - 0.55 * h) / (0.12 * h)) ** 2 + ((xx - 0.5 * w) / (0.2 * w)) ** 2 < 1] = 0.12
    grey = 255 * np.log1p(8 * envelope * tissue / envelope.mean()) / np.log1p(24)
    grey[:, : w // 12] = 0
    grey[:, -w // 12 :] = 0
    return np.repeat(np.clip(grey, 0, 255).astype(np.uint8)[..., None], 3, axis=-1)


# --------------------------------------------------------------------------- tiny screening models


def _onnx_model(path: Path, nodes: list, inputs: list, output_shape: list, initialisers: list) -> Path:
    """Save a one-input (``image``), one-output (``logits``) ONNX graph with a dynamic batch axis."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        nodes, path.stem, [helper.make_tensor_value_info("image", TensorProto.FLOAT, inputs)],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, output_shape)], initialisers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def _const(name: str, values) -> object:
    from onnx import numpy_helper

    return numpy_helper.from_array(np.asarray(values, dtype=np.float32), name)


def _card(path: Path, card: dict) -> None:
    import json

    path.with_suffix(".json").write_text(json.dumps(card))


def _classifier_card(task: str, labels: list[str], size: int, channels: int, threshold: float,
                     use_mask: bool = False) -> dict:
    params = {"labels": labels, "inputs": "image", "preprocess": "none", "clinical_features": [],
              "framing": "diameter", "crop_k": 2.2, "use_mask": use_mask}
    return {"task": task, "input_size": size, "in_channels": channels, "threshold": threshold, "params": params}


def make_screening_models(folder: Path, *, glaucoma_threshold: float = 0.4, disc_bias: float = -10.0,
                          breast_logits: tuple[float, float, float] = (0.0, 0.0, 2.0),
                          disc_params: dict | None = None,
                          glaucoma_band: tuple[float, float] | None = None,
                          malignancy_threshold: float | None = None,
                          glaucoma_params: dict | None = None) -> dict[str, Path]:
    """Tiny hand-made ONNX models with cards, one per screening task (milliseconds to build, no torch).

    ``disc``: bright green = disc (finds :func:`fundus_like`'s disc). ``lesion``: dark but not black
    after a 9×9 mean = lesion (finds :func:`ultrasound_like`'s lesion). The classifiers output constant
    logits: glaucoma/progression probability 0.5 (positive when the card's threshold ≤ 0.5), breast
    class ``breast_logits`` (normal, benign, malignant) through a 2-channel (``use_mask``) input.
    ``disc_bias`` -1000 makes a disc model that never finds a disc; ``disc_params`` are added to its card;
    ``glaucoma_band`` is the glaucoma card's ``review_band``, ``malignancy_threshold`` the breast-class card's;
    ``glaucoma_params`` are added to the glaucoma card's ``params``.
    """
    from onnx import helper

    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    size = 64
    disc = _onnx_model(folder / "disc.onnx", [helper.make_node("Conv", ["image", "w", "b"], ["logits"])],
                       ["N", 3, size, size], ["N", 1, size, size],
                       [_const("w", np.array([0.0, 20.0, 0.0]).reshape(1, 3, 1, 1)), _const("b", [disc_bias])])
    _card(disc, {"task": "disc", "input_size": size, "in_channels": 3, "threshold": 0.5,
                 "params": {"refine_k": 3.0, "min_refine": 0.35, **(disc_params or {})}})
    paths["disc"] = disc
    nodes = [
        helper.make_node("AveragePool", ["image"], ["h"], kernel_shape=[9, 9], pads=[4, 4, 4, 4],
                         count_include_pad=0),
        helper.make_node("Sub", ["t_dark", "h"], ["dark"]),
        helper.make_node("Mul", ["dark", "k_dark"], ["score"]),
        helper.make_node("Sub", ["t_black", "h"], ["b0"]),
        helper.make_node("Relu", ["b0"], ["b1"]),
        helper.make_node("Mul", ["b1", "k_black"], ["black"]),
        helper.make_node("Sub", ["score", "black"], ["logits"]),
    ]
    lesion = _onnx_model(folder / "lesion.onnx", nodes, ["N", 1, 128, 128], ["N", 1, 128, 128],
                         [_const("t_dark", 0.26), _const("k_dark", 30.0), _const("t_black", 0.1),
                          _const("k_black", 200.0)])
    _card(lesion, {"task": "lesion", "input_size": 128, "in_channels": 1, "threshold": 0.5,
                   "params": {"min_area_fraction": 0.002}})
    paths["lesion"] = lesion
    for task, labels, channels, logits, threshold, use_mask in [
        ("glaucoma", ["normal", "glaucoma"], 3, [0.0], glaucoma_threshold, False),
        ("progression", ["stable", "progressing"], 3, [0.0], 0.5, False),
        ("breast-class", ["normal", "benign", "malignant"], 2, list(breast_logits), 0.5, True),
    ]:
        k = len(logits)
        nodes = [helper.make_node("ReduceMean", ["image"], ["m"], axes=[2, 3], keepdims=0),
                 helper.make_node("Gemm", ["m", "w", "b"], ["logits"])]
        path = _onnx_model(folder / f"{task}.onnx", nodes, ["N", channels, 32, 32], ["N", k],
                           [_const("w", np.zeros((channels, k))), _const("b", logits)])
        card = _classifier_card(task, labels, 32, channels, threshold, use_mask)
        if task == "glaucoma" and glaucoma_band is not None:
            card["params"]["review_band"] = list(glaucoma_band)
        if task == "glaucoma":
            card["params"].update(glaucoma_params or {})
        if task == "breast-class" and malignancy_threshold is not None:
            card["params"]["malignancy_threshold"] = malignancy_threshold
        _card(path, card)
        paths[task] = path
    return paths


def invoke_cli(args: list[str], input: str | None = None):
    """Run the medscreen CLI in-process (Typer's CliRunner), keeping the root logger's handlers.

    The app's callback binds a log handler to each invocation's stderr, which
    is closed afterwards; left in place it prints 'Logging error' tracebacks
    into later invocations' output.
    """
    import logging

    from typer.testing import CliRunner

    from medscreen.cli.main import app

    root = logging.getLogger()
    saved = root.handlers[:]
    try:
        return CliRunner().invoke(app, args, input=input)
    finally:
        root.handlers = saved
