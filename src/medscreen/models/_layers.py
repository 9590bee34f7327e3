"""Building blocks shared by the classifier families: conv+BN+ReLU, the pooled head, input checks, init."""

from __future__ import annotations

import torch
from torch import nn

from medscreen.errors import ModelError

__all__ = ["Kernel", "check_input", "conv_bn", "gap_head", "init_weights", "same_padding"]

Kernel = int | tuple[int, int]


def conv_bn(
    cin: int, cout: int, kernel: Kernel, stride: int = 1, padding: Kernel = 0, groups: int = 1
) -> nn.Sequential:
    """conv (no bias) → BatchNorm (eps 0.001, as Inception v3) → ReLU."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, padding, groups=groups, bias=False),
        nn.BatchNorm2d(cout, eps=0.001),
        nn.ReLU(inplace=True),
    )


def gap_head(cin: int, num_outputs: int, dropout: float) -> nn.Sequential:
    """Global average pooling → dropout → linear."""
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(cin, num_outputs))


def same_padding(kernel: Kernel) -> Kernel:
    """The padding that keeps a stride-1 convolution's output size (odd kernels)."""
    return (kernel[0] // 2, kernel[1] // 2) if isinstance(kernel, tuple) else kernel // 2


def check_input(x: torch.Tensor, channels: int, min_size: int, name: str) -> None:
    """Raise :class:`ModelError` unless ``x`` is ``N×channels×H×W`` with ``H, W ≥ min_size`` (skipped when tracing)."""
    if torch.jit.is_tracing() or torch.jit.is_scripting():
        return
    if x.ndim != 4 or x.shape[1] != channels or min(x.shape[-2:]) < min_size:
        raise ModelError(
            f"{name} expects N×{channels}×H×W images with H, W ≥ {min_size}, got {tuple(x.shape)}; "
            f"resize the input or build the model with in_channels={x.shape[1] if x.ndim == 4 else '?'}"
        )


def init_weights(module: nn.Module) -> None:
    """He-normal convs, unit BatchNorm, small linear layers: from-scratch training."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.01)
            nn.init.zeros_(m.bias)

