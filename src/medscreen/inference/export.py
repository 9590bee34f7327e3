"""Export a trained PyTorch network to ONNX and prove ONNX Runtime gives the same output."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import torch

from medscreen.errors import ModelError

__all__ = ["export_onnx", "check_parity"]

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
