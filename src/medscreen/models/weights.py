"""The ``.pt`` weights file beside each bundled ONNX model: written by export, read to rebuild the network.

One format for both readers: the PyTorch backend (:mod:`medscreen.inference.torch_backend`)
and fine-tuning from a bundled model (``medscreen train … --init model.onnx``).
The file holds the network's ``state_dict`` in float16 (integer buffers kept),
the task it belongs to and where it came from; no code, so it is loaded with
``weights_only=True``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from medscreen.errors import ModelError

if TYPE_CHECKING:
    import torch

__all__ = ["WEIGHTS_FORMAT", "read_weights", "save_weights"]

#: tag stored in every ``.pt`` written by :func:`save_weights`
WEIGHTS_FORMAT = "medscreen-torch-weights/1"


def save_weights(net: torch.nn.Module, path: Path, *, task: str, source: str = "") -> Path:
    """Write ``net``'s ``state_dict`` in float16 (integer buffers kept) with its task; return ``path``.

    Args:
        net: the network alone (``module.net`` of a training module), not a LightningModule.
        path: the ``.pt`` file to write; normally beside the model's ``.onnx``.
        task: the model's task (``disc``, ``lesion``, ``glaucoma``, ``progression``, ``breast-class``).
        source: where the weights came from (the checkpoint), recorded in the file.
    """
    import torch

    state = {k: (v.detach().to(torch.float16) if v.is_floating_point() else v.detach()).cpu().contiguous()
             for k, v in net.state_dict().items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": WEIGHTS_FORMAT, "task": task, "source": source, "state_dict": state}, path)
    return path


def read_weights(path: Path, *, hint: str) -> tuple[str, dict[str, torch.Tensor]]:
    """The task and the float32 ``state_dict`` of a file written by :func:`save_weights`.

    Raises:
        ModelError: the file is missing, unreadable or not a medscreen weights file; the message ends with ``hint``
            (how to make or find the right file).
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"PyTorch weights {path} not found; {hint}")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001  torch raises many untyped errors on foreign or corrupt files
        raise ModelError(f"{path}: not readable PyTorch weights ({type(exc).__name__}); {hint}") from None
    ours = isinstance(saved, dict) and saved.get("format") == WEIGHTS_FORMAT
    if not ours or not isinstance(saved.get("state_dict"), dict):
        raise ModelError(f"{path}: not a medscreen weights file ({WEIGHTS_FORMAT}); {hint}")
    state = {k: v.float() if v.is_floating_point() else v for k, v in saved["state_dict"].items()}
    return str(saved.get("task")), state
