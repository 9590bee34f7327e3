"""Run bundled or user models: ONNX Runtime by default, never importing torch.

A model is a ``.onnx`` file with a ``.json`` card beside it (same stem) that
says how to feed it: task, input size, channels, threshold and the
preprocessing the model was trained with.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from medscreen.errors import ModelError
from medscreen.inference.card import CardParams, ModelCard, load_card
from medscreen.io.images import file_sha256

__all__ = ["ModelSpec", "OnnxModel", "Runner", "bundled_model_path", "load_onnx_model"]

#: maps an ``N×C×H×W`` float32 batch to model outputs (``N×1×H×W`` logits for segmentation)
Runner = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class ModelSpec:
    """What the card says about feeding a model (``params`` given as a mapping is validated into :class:`CardParams`)."""

    task: str
    input_size: int
    in_channels: int
    threshold: float = 0.5
    params: CardParams = field(default_factory=CardParams)

    def __post_init__(self) -> None:
        if isinstance(self.params, Mapping):
            object.__setattr__(self, "params", CardParams.model_validate(self.params))

    @classmethod
    def from_card(cls, card: ModelCard) -> ModelSpec:
        """The feeding instructions of a (validated) card."""
        return cls(card.task, card.input_size, card.in_channels, card.threshold, card.params)


def bundled_model_path(task: str) -> Path:
    """Path of the ONNX model shipped in ``medscreen/weights`` for ``task``."""
    path = Path(str(resources.files("medscreen") / "weights" / f"{task}.onnx"))
    if not path.is_file():
        raise ModelError(f"no bundled model for {task!r} at {path}; reinstall medscreen or pass --model PATH")
    return path


class OnnxModel:
    """An ONNX Runtime session plus its card; callable on a float32 batch."""

    def __init__(self, path: Path, *, threads: int | None = None, spinning: bool = True):
        """Open ``path`` (its card beside it).

        ``threads``: intra-op threads (None: ONNX Runtime's default, one per physical core).
        ``spinning``: let idle worker threads spin; turn it off where other processes
        share the cores (spinning threads then steal time from the busy one: on this
        project's 2-core machine with training running, a disc pass took 63 ms with
        spinning and 32 ms without).
        """
        import onnxruntime as ort

        self.path = Path(path)
        card_path = self.path.with_suffix(".json")
        if not self.path.is_file():
            raise ModelError(f"model file {self.path} not found; pass an existing .onnx (with its .json card)")
        if not card_path.is_file():
            raise ModelError(f"{self.path.name}: card {card_path.name} missing beside it; export writes both")
        self.card: ModelCard = load_card(card_path)
        self.spec = ModelSpec.from_card(self.card)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        if not spinning:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors on corrupt files
            raise ModelError(f"{self.path}: not a loadable ONNX model ({exc}); re-export or reinstall it") from None
        self.input_name = self.session.get_inputs()[0].name
        self.sha256 = file_sha256(self.path)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: np.ascontiguousarray(batch, dtype=np.float32)})[0]


@lru_cache(maxsize=16)
def load_onnx_model(path: str) -> OnnxModel:
    """Load a model once per process (cached by path)."""
    return OnnxModel(Path(path))
