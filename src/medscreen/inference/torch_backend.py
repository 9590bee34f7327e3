"""The PyTorch backend: the bundled networks rebuilt from their cards, with weights from ``<task>.pt``.

The shipped models are ONNX files; research and the backend comparison of
``benchmarks/screening.py`` also need them in PyTorch. An ONNX file cannot be
turned back into a module, so beside ``<task>.onnx`` lies ``<task>.pt``: the
network's ``state_dict`` in float16 (half the size; cast back to float32 on
load, which moves probabilities by ~1e-3) and the task it belongs to. The
network itself is rebuilt from the card's ``training_config``
(:func:`medscreen.models.registry.create_model`),
so the ``.pt`` holds no code and is loaded with ``weights_only=True``.

Imports torch: only the research backend and the export command use this
module, never the ONNX Runtime path.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from medscreen.errors import ModelError
from medscreen.inference.card import ModelCard, load_card
from medscreen.inference.runtime import ModelSpec
from medscreen.tasks import task_names

if TYPE_CHECKING:
    import torch

__all__ = [
    "TorchModel",
    "build_network",
    "check_one_task",
    "compare_with_onnx",
    "load_training_module",
    "load_torch_model",
    "torch_weights_from_checkpoint",
    "torch_weights_path",
]

_SEGMENTATION_TASKS = task_names("segmentation")


def torch_weights_path(onnx_path: Path) -> Path:
    """Where the PyTorch weights of an ONNX model live: ``<stem>.pt`` beside it."""
    return Path(onnx_path).with_suffix(".pt")


def _how_to_make(pt: Path, task: str) -> str:
    return (f"make it with `medscreen export torch-weights runs/<run>/checkpoints/<ckpt> --out {pt}` from the "
            f"training checkpoint that made {pt.with_suffix('.onnx').name} (its card's `commands`), "
            f"or use --backend onnxruntime")


def load_training_module(checkpoint: Path) -> Any:
    """The trained module of a segmentation or classification checkpoint (CPU, eval mode); ``.net`` is the network.

    Raises:
        ModelError: the checkpoint is missing or not a medscreen training checkpoint.
    """
    import torch

    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise ModelError(f"checkpoint {checkpoint} not found; give a run's checkpoints/best.ckpt (or final.ckpt)")
    try:
        hparams = torch.load(checkpoint, map_location="cpu", weights_only=False).get("hyper_parameters", {})
    except Exception as exc:  # torch raises many untyped errors on foreign or corrupt files
        raise ModelError(f"{checkpoint}: not a readable checkpoint ({type(exc).__name__}); "
                         "give a .ckpt written by `medscreen train`") from None
    task = str(hparams.get("config", {}).get("task", ""))
    if task in _SEGMENTATION_TASKS:
        from medscreen.training.segmentation import load_module

        return load_module(checkpoint)
    from medscreen.training.classification import load_classifier_module

    return load_classifier_module(checkpoint)


def check_one_task(modules: Sequence[Any], checkpoints: Sequence[Path]) -> None:
    """Refuse ensemble members (training modules of ``checkpoints``) whose task differs from the first's.

    Raises:
        ModelError: naming the member, its task and the first's (an ensemble's members are runs of one task).
    """
    first = modules[0].config.task
    for module, checkpoint in zip(modules[1:], checkpoints[1:]):
        if module.config.task != first:
            raise ModelError(f"{checkpoint}: a {module.config.task} checkpoint, but {checkpoints[0]} is {first}; "
                             "the members of an ensemble are runs of one task")


def torch_weights_from_checkpoint(checkpoint: Path | Sequence[Path], out: Path) -> Path:
    """Write the ``.pt`` of a training checkpoint, or of an ensemble's checkpoints.

    The format is :func:`medscreen.models.weights.save_weights`'s.

    Raises:
        ModelError: a checkpoint is missing or not a medscreen training checkpoint, or members of different tasks.
    """
    from medscreen.models.weights import save_weights

    checkpoints = [Path(c) for c in ([checkpoint] if isinstance(checkpoint, (str, Path)) else checkpoint)]
    modules = [load_training_module(c) for c in checkpoints]
    check_one_task(modules, checkpoints)
    if len(modules) == 1:
        return save_weights(modules[0].net, out, task=modules[0].config.task, source=str(checkpoints[0]))
    from medscreen.models.ensemble import MeanLogits

    return save_weights(MeanLogits([m.net for m in modules]), out, task=modules[0].config.task,
                        source=", ".join(map(str, checkpoints)))


def build_network(card: ModelCard, source: str) -> torch.nn.Module:
    """An untrained network of the architecture the card describes (:func:`~medscreen.models.registry.create_model`).

    Raises:
        ModelError: the card has no ``training_config`` (or an unusable one).
    """
    from medscreen.errors import ConfigError
    from medscreen.models.registry import create_model

    if card.training_config is None or "arch" not in card.training_config:
        raise ModelError(f"{source}: card has no training_config to rebuild the network from; "
                         "re-export the model with `medscreen export`")
    arch = str(card.training_config["arch"])
    try:
        if card.task in _SEGMENTATION_TASKS:
            if card.ensemble is None:
                return create_model(card.task, arch, norm=card.norm)
            from medscreen.models.ensemble import MeanLogits

            return MeanLogits([create_model(card.task, arch, norm=card.norm) for _ in range(card.ensemble.members)])
        from medscreen.datasets.clinical import CLINICAL_FEATURES

        labels = card.params.labels
        clinical = [0.0] * len(CLINICAL_FEATURES) if card.params.inputs in ("clinical", "fused") else None

        def member() -> torch.nn.Module:
            return create_model(card.task, arch if card.params.inputs != "clinical" else None,
                                in_channels=card.in_channels, num_outputs=1 if len(labels) == 2 else len(labels),
                                input_size=card.input_size, clinical_mean=clinical, clinical_std=clinical)

        if card.ensemble is None:
            return member()
        from medscreen.models.ensemble import MeanLogits

        return MeanLogits([member() for _ in range(card.ensemble.members)])
    except ConfigError as exc:
        raise ModelError(f"{source}: {exc}; re-export the model with `medscreen export`") from None


class TorchModel:
    """A bundled (or user) model run by PyTorch: card, spec, network and the ``.pt``'s hash.

    Callable like :class:`~medscreen.inference.runtime.OnnxModel` on an
    ``N×C×H×W`` float32 batch; :meth:`run` takes named classifier inputs.
    """

    def __init__(self, onnx_path: Path):
        from medscreen.io.images import file_sha256
        from medscreen.models.weights import read_weights

        onnx_path = Path(onnx_path)
        card_path, self.path = onnx_path.with_suffix(".json"), torch_weights_path(onnx_path)
        if not card_path.is_file():
            raise ModelError(f"{onnx_path.name}: card {card_path.name} missing beside it; export writes both")
        self.card: ModelCard = load_card(card_path)
        self.spec = ModelSpec.from_card(self.card)
        task, state = read_weights(self.path, hint=_how_to_make(self.path, self.spec.task))
        if task != self.spec.task:
            raise ModelError(f"{self.path} holds {task!r} weights but {card_path.name} is a "
                             f"{self.spec.task!r} model; {_how_to_make(self.path, self.spec.task)}")
        self.net = build_network(self.card, card_path.name)
        try:
            self.net.load_state_dict(state)
        except RuntimeError as exc:
            raise ModelError(f"{self.path}: weights do not fit the network of {card_path.name} "
                             f"({str(exc).splitlines()[0]}); {_how_to_make(self.path, self.spec.task)}") from None
        self.net.eval()
        self.sha256 = file_sha256(self.path)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return self.net(torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))).numpy()

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """Classifier logits from named inputs ``image`` (``N×C×S×S``) and/or ``clinical`` (``N×F``)."""
        import torch

        with torch.inference_mode():
            tensors = {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in feeds.items()}
            return self.net(tensors.get("image"), tensors.get("clinical")).numpy()


def load_torch_model(onnx_path: Path) -> TorchModel:
    """The PyTorch twin of the ONNX model at ``onnx_path`` (its card + ``<stem>.pt``).

    Raises:
        ModelError: the card or the ``.pt`` is missing, unreadable, or for another task or network.
    """
    return TorchModel(Path(onnx_path))


def compare_with_onnx(onnx_path: Path, *, atol: float = 0.25, seed: int = 0) -> float:
    """Largest logit difference between the ``.pt`` beside ``onnx_path`` and the ONNX model, on random inputs.

    Raises:
        ModelError: the difference exceeds ``atol`` (weights of another run or task), or a file is unusable.
    """
    from medscreen.datasets.clinical import CLINICAL_FEATURES
    from medscreen.inference.runtime import OnnxModel

    onnx, twin = OnnxModel(Path(onnx_path)), load_torch_model(Path(onnx_path))
    rng = np.random.default_rng(seed)
    s, c = onnx.spec.input_size, onnx.spec.in_channels
    names = {i.name for i in onnx.session.get_inputs()}
    if onnx.spec.task in _SEGMENTATION_TASKS:
        batch = rng.random((2, c, s, s), dtype=np.float32)
        diff = float(np.abs(onnx(batch) - twin(batch)).max())
    else:
        feeds = {}
        if "image" in names:
            feeds["image"] = rng.standard_normal((2, c, s, s), dtype=np.float32)
        if "clinical" in names:
            feeds["clinical"] = rng.standard_normal((2, len(CLINICAL_FEATURES))).astype(np.float32)
        diff = float(np.abs(onnx.session.run(None, feeds)[0] - twin.run(feeds)).max())
    if not diff <= atol:
        raise ModelError(f"{twin.path}: PyTorch logits differ from {Path(onnx_path).name} by {diff:.3g} (> {atol}); "
                         f"these are not the weights of that model: {_how_to_make(twin.path, twin.spec.task)}")
    return diff
