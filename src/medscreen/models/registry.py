"""``create_model(task, arch)``: every network medscreen trains, from one explicit registry.

The registry is plain data (name → builder + description); unknown names list
the choices with a "did you mean". Everything trains from scratch: no
pretrained weights exist offline, and none are ever downloaded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from medscreen.errors import choose
from medscreen.tasks import TASKS, task_names

__all__ = ["ArchSpec", "SEGMENTATION_ARCHS", "SEGMENTATION_TASKS", "create_model", "lookup"]


@dataclass(frozen=True)
class ArchSpec:
    """How to build one architecture and what it is."""

    build: Callable[..., nn.Module]
    description: str


def _compact_unet(in_channels: int, out_channels: int, norm: str = "batch") -> nn.Module:
    from monai.networks.nets import UNet

    return UNet(
        spatial_dims=2,
        in_channels=in_channels,
        out_channels=out_channels,
        channels=(16, 32, 64, 128, 256),
        strides=(2, 2, 2, 2),
        num_res_units=2,
        norm=norm,
    )


def _ronneberger_unet(in_channels: int, out_channels: int, norm: str = "batch") -> nn.Module:
    from monai.networks.nets import BasicUNet

    # Ronneberger et al. 2015: two 3×3 convs per level, 64→1024 channels, 2×2
    # max-pool, up-convolutions, skip connections; padded convs (as the breast
    # seed) so the output has the input's size. Batch norm added for stable
    # from-scratch training.
    return BasicUNet(
        spatial_dims=2,
        in_channels=in_channels,
        out_channels=out_channels,
        features=(64, 128, 256, 512, 1024, 64),
        act="relu",
        norm=norm,
        dropout=0.0,
        upsample="deconv",
    )


def _effnet_b4_unet(in_channels: int, out_channels: int, norm: str = "batch") -> nn.Module:
    from monai.networks.nets import FlexibleUNet

    return FlexibleUNet(
        in_channels=in_channels,
        out_channels=out_channels,
        backbone="efficientnet-b4",
        pretrained=False,
        spatial_dims=2,
        norm=norm,
    )


SEGMENTATION_ARCHS: dict[str, ArchSpec] = {
    "compact": ArchSpec(
        _compact_unet,
        "MONAI residual U-Net, 16→256 channels, strided convs (1.6 M parameters; fastest on CPU, see benchmarks/segmentation.py)",
    ),
    "unet": ArchSpec(_ronneberger_unet, "Ronneberger U-Net, 64→1024 channels (31 M parameters), the breast seed's model"),
    "effnet-b4": ArchSpec(_effnet_b4_unet, "U-Net with an EfficientNet-B4 encoder (MONAI FlexibleUNet), GlaucoScreen's model"),
}

#: input channels per segmentation task (from the task table): fundus photos are RGB, ultrasound grey.
SEGMENTATION_TASKS: dict[str, int] = {name: TASKS[name].in_channels for name in task_names("segmentation")}


def lookup(name: str, choices: dict[str, object], what: str) -> str:
    """Return ``name`` if it is a key of ``choices``, else raise with the choices and a suggestion."""
    return choose(name, sorted(choices), what)


NORMS = {"batch": "batch", "instance": "instance"}


def create_model(task: str, arch: str = "compact", norm: str = "batch") -> nn.Module:
    """Build an untrained network for ``task`` (``disc``, ``lesion``) with architecture ``arch``.

    ``norm`` is ``batch`` or ``instance``: instance norm does not depend on
    batch statistics, which matters when training batches mix very different
    framings (whole fundus fields with black surround, tight disc crops).

    Returns:
        A module mapping ``N×C×H×W`` float32 images in [0, 1] to ``N×1×H×W`` logits.

    Raises:
        ConfigError: unknown task or architecture.
    """
    lookup(task, SEGMENTATION_TASKS, "task")
    lookup(arch, SEGMENTATION_ARCHS, "architecture")
    lookup(norm, NORMS, "normalisation")
    return SEGMENTATION_ARCHS[arch].build(SEGMENTATION_TASKS[task], 1, NORMS[norm])
