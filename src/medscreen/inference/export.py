"""Export a trained PyTorch network to ONNX and prove ONNX Runtime gives the same output."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import torch

from medscreen.errors import ModelError

__all__ = ["export_onnx", "export_classifier_onnx", "check_parity", "check_classifier_parity"]

log = logging.getLogger(__name__)


def export_onnx(net: torch.nn.Module, path: Path, *, in_channels: int, input_size: int) -> Path:
    """Write ``net`` as a single-file ONNX model with a dynamic batch axis.

    Input ``image``: ``N×C×S×S`` float32 in [0, 1]; output ``logits``: ``N×1×S×S``
    (segmentation) or ``N×K`` (classification).
    """
    net = net.eval().cpu()
    example = torch.rand(1, in_channels, input_size, input_size)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net,
            (example,),
            str(path),
            dynamo=True,
            input_names=["image"],
            output_names=["logits"],
            dynamic_shapes={"x": {0: torch.export.Dim("batch", min=1, max=256)}},
            external_data=False,
            optimize=True,
        )
    log.info("exported %s (%.1f MB)", path, path.stat().st_size / 1e6)
    return path


def check_parity(net: torch.nn.Module, onnx_path: Path, images: np.ndarray, *, atol: float = 1e-4) -> float:
    """Largest absolute difference of logits between PyTorch and ONNX Runtime on ``images``.

    Raises:
        ModelError: the difference exceeds ``atol``.
    """
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        ref = net.eval()(torch.as_tensor(images, dtype=torch.float32)).numpy()
    got = session.run(None, {session.get_inputs()[0].name: images.astype(np.float32)})[0]
    diff = float(np.abs(ref - got).max())
    if not diff <= atol:
        raise ModelError(f"{onnx_path}: ONNX Runtime output differs from PyTorch by {diff:.2e} (> {atol:.0e})")
    return diff


class _Inputs(torch.nn.Module):
    """Fixes which of a ScreeningClassifier's inputs the exported graph takes (ONNX has no optional inputs)."""

    def __init__(self, net: torch.nn.Module, image: bool, clinical: bool):
        super().__init__()
        self.net, self.image, self.clinical = net, image, clinical

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        it = iter(inputs)
        image = next(it) if self.image else None
        clinical = next(it) if self.clinical else None
        return self.net(image, clinical)


def export_classifier_onnx(
    net: torch.nn.Module, path: Path, *, image: bool, clinical: int | None, in_channels: int, input_size: int
) -> Path:
    """Write a classifier as single-file ONNX with inputs ``image`` (``N×C×S×S``) and/or ``clinical`` (``N×F``).

    Output ``logits``: ``N×1`` (binary) or ``N×K``. Dynamic batch axis.
    """
    wrapper = _Inputs(net.eval().cpu(), image, clinical is not None).eval()
    batch = torch.export.Dim("batch", min=1, max=256)
    examples, names, shapes = [], [], []
    if image:
        examples.append(torch.rand(2, in_channels, input_size, input_size))
        names.append("image")
        shapes.append({0: batch})
    if clinical is not None:
        examples.append(torch.rand(2, clinical))
        names.append("clinical")
        shapes.append({0: batch})
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper, tuple(examples), str(path), dynamo=True, input_names=names, output_names=["logits"],
            dynamic_shapes=(tuple(shapes),), external_data=False, optimize=True,
        )
    log.info("exported %s (%.1f MB)", path, path.stat().st_size / 1e6)
    return path


def check_classifier_parity(net: torch.nn.Module, onnx_path: Path, feeds: dict[str, np.ndarray], *,
                            atol: float = 1e-4) -> float:
    """Largest absolute logit difference between PyTorch and ONNX Runtime on named ``feeds``.

    Raises:
        ModelError: the difference exceeds ``atol``.
    """
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        ref = net.eval()(*(torch.as_tensor(feeds[k]) if k in feeds else None for k in ("image", "clinical"))).numpy()
    got = session.run(None, {k: v.astype(np.float32) for k, v in feeds.items()})[0]
    diff = float(np.abs(ref - got).max())
    if not diff <= atol:
        raise ModelError(f"{onnx_path}: ONNX Runtime output differs from PyTorch by {diff:.2e} (> {atol:.0e})")
    return diff
