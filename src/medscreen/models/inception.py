"""Inception v3 (Szegedy et al. 2016), written from its published layer table: GlaucoScreen's progression model."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from medscreen.models._layers import Kernel, check_input, conv_bn, gap_head, init_weights, same_padding

__all__ = ["InceptionV3"]

# A branch is (pool, convs, split): an optional 3×3 pool ("avg": stride 1, "max":
# stride 2), convs given as (out_channels, kernel[, stride]) — stride-1 convs are
# "same"-padded, stride-2 convs unpadded — and an optional pair of parallel
# convs whose outputs are concatenated (Inception-E's 1×3 / 3×1 split).
_Conv = tuple[int, Kernel] | tuple[int, Kernel, int]
_BranchSpec = tuple[str | None, list[_Conv], list[_Conv] | None]


class _Branch(nn.Module):
    def __init__(self, cin: int, pool: str | None, convs: list[_Conv], split: list[_Conv] | None) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        if pool == "avg":
            layers.append(nn.AvgPool2d(3, stride=1, padding=1))
        elif pool == "max":
            layers.append(nn.MaxPool2d(3, stride=2))
        for cout, kernel, *stride in convs:
            s = stride[0] if stride else 1
            layers.append(conv_bn(cin, cout, kernel, s, same_padding(kernel) if s == 1 else 0))
            cin = cout
        self.body = nn.Sequential(*layers)
        self.split = nn.ModuleList(conv_bn(cin, c, k, 1, same_padding(k)) for c, k, *_ in split or [])
        self.out_channels = sum(c for c, *_ in split) if split else cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.body(x)
        return torch.cat([conv(x) for conv in self.split], 1) if len(self.split) else x


class _Mixed(nn.Module):
    """Parallel branches concatenated along channels: one Inception module."""

    def __init__(self, cin: int, branches: Sequence[_BranchSpec]) -> None:
        super().__init__()
        self.branches = nn.ModuleList(_Branch(cin, *spec) for spec in branches)
        self.out_channels = sum(b.out_channels for b in self.branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([b(x) for b in self.branches], 1)


def _inception_a(pool_features: int) -> list[_BranchSpec]:
    return [
        (None, [(64, 1)], None),
        (None, [(48, 1), (64, 5)], None),
        (None, [(64, 1), (96, 3), (96, 3)], None),
        ("avg", [(pool_features, 1)], None),
    ]


def _inception_c(c7: int) -> list[_BranchSpec]:
    return [
        (None, [(192, 1)], None),
        (None, [(c7, 1), (c7, (1, 7)), (192, (7, 1))], None),
        (None, [(c7, 1), (c7, (7, 1)), (c7, (1, 7)), (c7, (7, 1)), (192, (1, 7))], None),
        ("avg", [(192, 1)], None),
    ]


_INCEPTION_B: list[_BranchSpec] = [
    (None, [(384, 3, 2)], None),
    (None, [(64, 1), (96, 3), (96, 3, 2)], None),
    ("max", [], None),
]
_INCEPTION_D: list[_BranchSpec] = [
    (None, [(192, 1), (320, 3, 2)], None),
    (None, [(192, 1), (192, (1, 7)), (192, (7, 1)), (192, 3, 2)], None),
    ("max", [], None),
]
_INCEPTION_E: list[_BranchSpec] = [
    (None, [(320, 1)], None),
    (None, [(384, 1)], [(384, (1, 3)), (384, (3, 1))]),
    (None, [(448, 1), (384, 3)], [(384, (1, 3)), (384, (3, 1))]),
    ("avg", [(192, 1)], None),
]


class _AuxHead(nn.Module):
    """Auxiliary classifier on the 17×17 grid: avg-pool 5/3, 1×1 128, 5×5 768, fc."""

    def __init__(self, cin: int, num_classes: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(conv_bn(cin, 128, 1), conv_bn(128, 768, 5))
        self.fc = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.avg_pool2d(x, 5, 3) if min(x.shape[-2:]) >= 17 else nn.functional.adaptive_avg_pool2d(x, 5)
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(self.conv(x), 1), 1))


class InceptionV3(nn.Module):
    """Inception v3 (Szegedy et al., "Rethinking the Inception Architecture for Computer Vision", CVPR 2016).

    Stem, 3× Inception-A (pool features 32, 64, 64), grid reduction B, 4×
    Inception-C (7×7 factorised, widths 128, 160, 160, 192), reduction D, 2×
    Inception-E, global average pooling, dropout, fc; every conv is
    conv(no bias) + BatchNorm(eps 0.001) + ReLU. GlaucoScreen's progression
    model. With 1000 classes it has 27,161,264 parameters with the auxiliary
    head and 23,834,568 without (torchvision's counts). Inputs ≥ 75×75; the
    paper uses 299×299.

    Args:
        num_classes: logits out (1 for a binary task).
        in_channels: image channels.
        aux_logits: add the auxiliary classifier after the last Inception-C; in
            training mode ``forward`` then returns ``(logits, aux_logits)``
            (the paper weights the auxiliary loss 0.3–0.4). On grids under
            17×17 (inputs < 299) it pools adaptively to 5×5, where the
            published 5×5/3 pooling would leave too little for its 5×5 conv.
        dropout: dropout before the final fc.

    Weights are He-initialised for from-scratch training.
    """

    def __init__(self, num_classes: int, in_channels: int = 3, aux_logits: bool = False, dropout: float = 0.5) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.stem = nn.Sequential(
            conv_bn(in_channels, 32, 3, 2),
            conv_bn(32, 32, 3),
            conv_bn(32, 64, 3, padding=1),
            nn.MaxPool2d(3, 2),
            conv_bn(64, 80, 1),
            conv_bn(80, 192, 3),
            nn.MaxPool2d(3, 2),
        )
        specs = [_inception_a(p) for p in (32, 64, 64)] + [_INCEPTION_B]
        specs += [_inception_c(c) for c in (128, 160, 160, 192)]
        self.mixed_5_6, cin = self._stack(192, specs)
        self.aux = _AuxHead(cin, num_classes) if aux_logits else None
        self.mixed_7, cin = self._stack(cin, [_INCEPTION_D, _INCEPTION_E, _INCEPTION_E])
        self.head = gap_head(cin, num_classes, dropout)
        init_weights(self)

    @staticmethod
    def _stack(cin: int, specs: list[list[_BranchSpec]]) -> tuple[nn.Sequential, int]:
        blocks = []
        for spec in specs:
            blocks.append(_Mixed(cin, spec))
            cin = blocks[-1].out_channels
        return nn.Sequential(*blocks), cin

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        check_input(x, self.in_channels, 75, "InceptionV3")
        x = self.mixed_5_6(self.stem(x))
        aux = self.aux(x) if self.aux is not None and self.training else None
        logits = self.head(self.mixed_7(x))
        return (logits, aux) if aux is not None else logits
