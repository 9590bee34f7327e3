"""``create_model(task, arch, **params)``: every network medscreen trains, from one explicit registry.

The registry is plain data: per task kind, architecture name → builder +
description (:data:`ARCHS`). Unknown task, architecture and parameter names
list the choices with a "did you mean". Everything trains from scratch: no
pretrained weights exist offline, and none are ever downloaded.

The families live one per module: :mod:`~medscreen.models.compact`,
:mod:`~medscreen.models.glaucoscreen`, :mod:`~medscreen.models.inception`,
:mod:`~medscreen.models.monai_nets` (classifiers), :mod:`~medscreen.models.unet`
(segmentation), with the clinical fusion wrapper in :mod:`~medscreen.models.fusion`
and the losses in :mod:`~medscreen.models.losses`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from medscreen.errors import choose
from medscreen.models.compact import CompactClassifier
from medscreen.models.fusion import ScreeningClassifier
from medscreen.models.glaucoscreen import GlaucoScreenCNN
from medscreen.models.inception import InceptionV3
from medscreen.models.monai_nets import densenet121, efficientnet_b0
from medscreen.models.unet import UNetEncoderClassifier, compact_unet, effnet_b4_unet, ronneberger_unet
from medscreen.tasks import TASKS, get_task, task_names

__all__ = [
    "ARCHS",
    "ArchSpec",
    "CLASSIFICATION_ARCHS",
    "CLASSIFICATION_TASKS",
    "NORMS",
    "SEGMENTATION_ARCHS",
    "SEGMENTATION_TASKS",
    "create_model",
    "lookup",
    "task_kind",
]


@dataclass(frozen=True)
class ArchSpec:
    """How to build one architecture and what it is.

    ``build`` takes ``(in_channels, out_channels, norm)`` for a segmentation
    architecture and ``(in_channels, num_outputs, input_size)`` for an image
    classifier (``input_size`` matters only to GlaucoScreen's CNN).
    """

    build: Callable[..., nn.Module]
    description: str


SEGMENTATION_ARCHS: dict[str, ArchSpec] = {
    "compact": ArchSpec(
        compact_unet,
        "MONAI residual U-Net, 16→256 channels, strided convs (1.6 M parameters; fastest on CPU, see benchmarks/segmentation.py)",
    ),
    "unet": ArchSpec(ronneberger_unet, "Ronneberger U-Net, 64→1024 channels (31 M parameters), the breast seed's model"),
    "effnet-b4": ArchSpec(effnet_b4_unet, "U-Net with an EfficientNet-B4 encoder (MONAI FlexibleUNet), GlaucoScreen's model"),
}

CLASSIFICATION_ARCHS: dict[str, ArchSpec] = {
    "compact": ArchSpec(
        lambda c, k, s: CompactClassifier(c, k),
        "residual CNN with separable blocks at low resolution (0.79 M parameters; "
        "~6 ms ONNX Runtime, 10–16 ms PyTorch at 224² on one CPU thread)",
    ),
    "glaucoscreen-cnn": ArchSpec(
        lambda c, k, s: GlaucoScreenCNN(c, s, num_outputs=k),
        "GlaucoScreen's custom CNN, 3 unpadded convs + dense 512 (59.2 M parameters at 256²)",
    ),
    "inception-v3": ArchSpec(
        lambda c, k, s: InceptionV3(k, c),
        "Inception v3 without the auxiliary head (21.8 M parameters), GlaucoScreen's progression model",
    ),
    "efficientnet-b0": ArchSpec(lambda c, k, s: efficientnet_b0(c, k), "MONAI EfficientNet-B0 (4.0 M parameters)"),
    "unet-encoder": ArchSpec(
        lambda c, k, s: UNetEncoderClassifier(c, k),
        "the compact segmentation U-Net's encoder (instance norm) under a pooled linear head (1.3 M parameters); "
        "--init starts it from a disc model's encoder",
    ),
    "densenet121": ArchSpec(lambda c, k, s: densenet121(c, k), "MONAI DenseNet-121 (7.0 M parameters)"),
}

#: the architectures of each task kind
ARCHS: dict[str, dict[str, ArchSpec]] = {"segmentation": SEGMENTATION_ARCHS, "classification": CLASSIFICATION_ARCHS}

#: input channels per segmentation task (from the task table): fundus photos are RGB, ultrasound grey.
SEGMENTATION_TASKS: dict[str, int] = {name: TASKS[name].in_channels for name in task_names("segmentation")}

#: (input channels, logits out) per classification task (from the task table): one logit for two classes, K for K > 2.
CLASSIFICATION_TASKS: dict[str, tuple[int, int]] = {
    name: (TASKS[name].in_channels, 1 if TASKS[name].binary else len(TASKS[name].classes))
    for name in task_names("classification")
}

NORMS = {"batch": "batch", "instance": "instance"}

#: the parameters ``create_model`` accepts per task kind, with their defaults (None: from the task)
_PARAMS: dict[str, dict[str, Any]] = {
    "segmentation": {"norm": "batch", "in_channels": None},
    "classification": {"in_channels": None, "num_outputs": None, "input_size": 224,
                       "clinical_mean": None, "clinical_std": None},
}


def lookup(name: str, choices: dict[str, object], what: str) -> str:
    """Return ``name`` if it is a key of ``choices``, else raise with the choices and a suggestion."""
    return choose(name, sorted(choices), what)


def task_kind(task: str) -> str:
    """``"segmentation"`` or ``"classification"``.

    Raises:
        ConfigError: unknown task (with the choices and a suggestion).
    """
    return get_task(task).kind


def create_model(task: str, arch: str | None = "compact", **params: Any) -> nn.Module:
    """Build the untrained network that ``task`` trains, with architecture ``arch``.

    Segmentation tasks (``disc``, ``lesion``) take ``norm`` (``batch`` or
    ``instance``: instance norm does not depend on batch statistics, which
    matters when training batches mix very different framings) and return a
    module mapping ``N×C×H×W`` float32 images in [0, 1] to ``N×1×H×W`` logits.

    Classification tasks (``glaucoma``, ``progression``, ``breast-class``)
    return a :class:`~medscreen.models.fusion.ScreeningClassifier` whose
    ``forward(image, clinical)`` gives ``N×num_outputs`` logits. They take
    ``input_size`` (image side, default 224; only GlaucoScreen's CNN depends on
    it), ``in_channels`` (breast-class with the lesion mask: 2), ``num_outputs``
    and, for a clinical or fused model, ``clinical_mean`` / ``clinical_std``;
    ``arch=None`` builds a clinical-only model.

    Args:
        task: a task name.
        arch: an architecture of the task's kind (see :data:`ARCHS`).
        **params: the kind's parameters above; ``in_channels`` and ``num_outputs`` default to the task's.

    Raises:
        ConfigError: unknown task, architecture or parameter, or a classifier with neither image nor clinical input.
    """
    kind = task_kind(task)
    for name in params:
        lookup(name, _PARAMS[kind], f"parameter of a {kind} network")
    p = {**_PARAMS[kind], **params}
    if kind == "segmentation":
        spec = SEGMENTATION_ARCHS[lookup(str(arch), SEGMENTATION_ARCHS, "architecture")]
        norm = NORMS[lookup(p["norm"], NORMS, "normalisation")]
        return spec.build(p["in_channels"] or SEGMENTATION_TASKS[task], 1, norm)
    channels, outputs = CLASSIFICATION_TASKS[task]
    channels, outputs = p["in_channels"] or channels, p["num_outputs"] or outputs
    image_net = None
    if arch is not None:
        spec = CLASSIFICATION_ARCHS[lookup(arch, CLASSIFICATION_ARCHS, "architecture")]
        image_net = spec.build(channels, outputs, int(p["input_size"]))
    return ScreeningClassifier(image_net, outputs, _floats(p["clinical_mean"]), _floats(p["clinical_std"]))


def _floats(values: Sequence[float] | None) -> list[float] | None:
    return None if values is None else [float(v) for v in values]
