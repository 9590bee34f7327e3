"""Image classifiers (glaucoma, progression, breast class) and their registry.

Every builder takes ``(in_channels, num_outputs, input_size)`` and returns an
untrained module mapping ``N×C×H×W`` float32 images in [0, 1] to ``N×num_outputs``
logits: one logit for a binary task (the sigmoid belongs to the loss or the
predictor), ``K`` logits for ``K`` classes (normal/benign/malignant: 3).
Nothing is pretrained: no weights exist offline and none are downloaded.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from medscreen.errors import ConfigError, ModelError
from medscreen.models.registry import ArchSpec

__all__ = [
    "CLASSIFICATION_ARCHS",
    "CompactClassifier",
    "FocalLoss",
    "GlaucoScreenCNN",
    "InceptionV3",
    "ScreeningClassifier",
    "create_classifier",
]

_Kernel = int | tuple[int, int]


def _conv_bn(
    cin: int, cout: int, kernel: _Kernel, stride: int = 1, padding: _Kernel = 0, groups: int = 1
) -> nn.Sequential:
    """conv (no bias) → BatchNorm (eps 0.001, as Inception v3) → ReLU."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, padding, groups=groups, bias=False),
        nn.BatchNorm2d(cout, eps=0.001),
        nn.ReLU(inplace=True),
    )


def _gap_head(cin: int, num_outputs: int, dropout: float) -> nn.Sequential:
    """Global average pooling → dropout → linear."""
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(cin, num_outputs))


def _same(kernel: _Kernel) -> _Kernel:
    return (kernel[0] // 2, kernel[1] // 2) if isinstance(kernel, tuple) else kernel // 2


def _check_input(x: torch.Tensor, channels: int, min_size: int, name: str) -> None:
    if torch.jit.is_tracing() or torch.jit.is_scripting():
        return
    if x.ndim != 4 or x.shape[1] != channels or min(x.shape[-2:]) < min_size:
        raise ModelError(
            f"{name} expects N×{channels}×H×W images with H, W ≥ {min_size}, got {tuple(x.shape)}; "
            f"resize the input or build the model with in_channels={x.shape[1] if x.ndim == 4 else '?'}"
        )


# --------------------------------------------------------------------------- GlaucoScreen


class GlaucoScreenCNN(nn.Module):
    """GlaucoScreen's custom glaucoma/normal CNN (Milkuri, IJSSER 2024, "Glaucoma Detection Model").

    Three unpadded 3×3 convolutions (64, 128, 128 filters, ReLU), each followed
    by 2×2 max-pooling, flatten, dense 512 (ReLU), dropout, dense 1. At
    256×256×3 the paper's 59,206,657 parameters follow exactly
    (30·30·128 = 115,200 features feed the dense layer), which pins this layout.

    Args:
        in_channels: image channels.
        input_size: side of the square input; fixes the dense layer's width.
        dropout: dropout before the last layer (the paper's 0.5).
        num_outputs: logits out; 1 for the paper's binary task.

    Raises:
        ConfigError: ``input_size`` too small for three conv+pool stages (< 22).
    """

    def __init__(self, in_channels: int = 3, input_size: int = 256, dropout: float = 0.5, num_outputs: int = 1) -> None:
        super().__init__()
        side = input_size
        for _ in range(3):
            side = (side - 2) // 2
        if side < 1:
            raise ConfigError(f"GlaucoScreenCNN needs input_size ≥ 22, got {input_size}; the paper uses 256")
        self.input_size = input_size
        self.in_channels = in_channels
        layers: list[nn.Module] = []
        for cin, cout in ((in_channels, 64), (64, 128), (128, 128)):
            layers += [nn.Conv2d(cin, cout, 3), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(128 * side * side, 512),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(512, num_outputs),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (torch.jit.is_tracing() or torch.jit.is_scripting()) and tuple(x.shape[-2:]) != (self.input_size,) * 2:
            raise ModelError(
                f"GlaucoScreenCNN was built for {self.input_size}×{self.input_size} inputs, got {tuple(x.shape)}; "
                f"resize to {self.input_size} or build it with input_size={x.shape[-1]}"
            )
        return self.head(self.features(x))


# --------------------------------------------------------------------------- Inception v3
# A branch is (pool, convs, split): an optional 3×3 pool ("avg": stride 1, "max":
# stride 2), convs given as (out_channels, kernel[, stride]) — stride-1 convs are
# "same"-padded, stride-2 convs unpadded — and an optional pair of parallel
# convs whose outputs are concatenated (Inception-E's 1×3 / 3×1 split).
_Conv = tuple[int, _Kernel] | tuple[int, _Kernel, int]
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
            layers.append(_conv_bn(cin, cout, kernel, s, _same(kernel) if s == 1 else 0))
            cin = cout
        self.body = nn.Sequential(*layers)
        self.split = nn.ModuleList(_conv_bn(cin, c, k, 1, _same(k)) for c, k, *_ in split or [])
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
        self.conv = nn.Sequential(_conv_bn(cin, 128, 1), _conv_bn(128, 768, 5))
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
            _conv_bn(in_channels, 32, 3, 2),
            _conv_bn(32, 32, 3),
            _conv_bn(32, 64, 3, padding=1),
            nn.MaxPool2d(3, 2),
            _conv_bn(64, 80, 1),
            _conv_bn(80, 192, 3),
            nn.MaxPool2d(3, 2),
        )
        specs = [_inception_a(p) for p in (32, 64, 64)] + [_INCEPTION_B]
        specs += [_inception_c(c) for c in (128, 160, 160, 192)]
        self.mixed_5_6, cin = self._stack(192, specs)
        self.aux = _AuxHead(cin, num_classes) if aux_logits else None
        self.mixed_7, cin = self._stack(cin, [_INCEPTION_D, _INCEPTION_E, _INCEPTION_E])
        self.head = _gap_head(cin, num_classes, dropout)
        _init_weights(self)

    @staticmethod
    def _stack(cin: int, specs: list[list[_BranchSpec]]) -> tuple[nn.Sequential, int]:
        blocks = []
        for spec in specs:
            blocks.append(_Mixed(cin, spec))
            cin = blocks[-1].out_channels
        return nn.Sequential(*blocks), cin

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        _check_input(x, self.in_channels, 75, "InceptionV3")
        x = self.mixed_5_6(self.stem(x))
        aux = self.aux(x) if self.aux is not None and self.training else None
        logits = self.head(self.mixed_7(x))
        return (logits, aux) if aux is not None else logits


# --------------------------------------------------------------------------- compact default


class _SeparableResidual(nn.Module):
    """Depthwise 3×3 → BN → ReLU → pointwise 1×1 → BN, plus a (projected) shortcut, ReLU."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv_bn(cin, cin, 3, stride, 1, groups=cin),
            nn.Conv2d(cin, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            pool = nn.AvgPool2d(stride, ceil_mode=True) if stride != 1 else nn.Identity()
            self.shortcut = nn.Sequential(pool, nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


class _BasicResidual(nn.Module):
    """Two full 3×3 convs with BN and a (projected) shortcut (He et al. 2016)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv_bn(cin, cout, 3, stride, 1), nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


class CompactClassifier(nn.Module):
    """medscreen's default classifier: a small residual CNN for CPU screening at ~224×224.

    Why this shape (accuracy per CPU millisecond, trained from scratch on a few
    thousand images): a stride-4 stem of two 3×3 convs (24, 32 channels) puts
    the features at 56×56 cheaply; full 3×3 residual blocks where channels are
    few (32 at 56², 64 at 28²), because depthwise convs save little there and
    are memory-bound on CPU; depthwise-separable residual blocks where channels
    are many (3× 256 at 14², 2× 512 at 7²), where pointwise convs dominate and
    separability cuts parameters and FLOPs about 8×; BatchNorm and shortcuts
    everywhere for stable from-scratch training; global average pooling so any
    input size works; dropout before one linear layer. 0.79 M parameters.

    Measured at batch 1, 1×3×224×224, eval mode, one thread, on a 2-core CPU
    that was busy training (so upper bounds): PyTorch 2.13 best 10.5–16 ms
    over repeated runs (median 12–25 ms); exported to ONNX, ONNX Runtime with
    one intra-op thread best 6 ms (median 10 ms). Measured alongside: a plain
    4-stage ResNet (32→256, 1.2 M) 11.7 ms, an all-separable net (48→384,
    0.5 M) 11.1 ms, GlaucoScreen's CNN at 224² 119 ms.

    Args:
        in_channels: image channels.
        num_outputs: logits out.
        widths: channels of the four stages.
        depths: blocks per stage; stages 1–2 are full 3×3, stages 3–4 separable.
        dropout: dropout before the linear layer.
    """

    def __init__(
        self,
        in_channels: int = 3,
        num_outputs: int = 1,
        widths: Sequence[int] = (32, 64, 256, 512),
        depths: Sequence[int] = (1, 1, 3, 2),
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        if len(widths) != 4 or len(depths) != 4 or min(depths) < 1:
            raise ConfigError(f"CompactClassifier needs 4 widths and 4 depths ≥ 1, got {widths} and {depths}")
        layers: list[nn.Module] = [_conv_bn(in_channels, 24, 3, 2, 1), _conv_bn(24, 32, 3, 2, 1)]
        cin = 32
        for stage, (width, depth) in enumerate(zip(widths, depths)):
            block = _BasicResidual if stage < 2 else _SeparableResidual
            for i in range(depth):
                layers.append(block(cin, width, 2 if stage > 0 and i == 0 else 1))
                cin = width
        self.features = nn.Sequential(*layers)
        self.head = _gap_head(cin, num_outputs, dropout)
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _init_weights(module: nn.Module) -> None:
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


# --------------------------------------------------------------------------- loss


class FocalLoss(nn.Module):
    """Binary focal loss on logits (Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017).

    ``FL = -α_t (1 - p_t)^γ log p_t`` with ``p = sigmoid(logit)``: GlaucoScreen's
    loss for its glaucoma model. A thin wrapper of ``monai.losses.FocalLoss``
    (``use_softmax=False``) that accepts ``N`` or ``N×1`` logits and targets
    of any numeric/bool dtype; γ = 0 and no α give binary cross-entropy.

    Args:
        gamma: focusing exponent ≥ 0.
        alpha: weight of the positive class in [0, 1] (negatives get ``1 - alpha``); None for no weighting.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Raises:
        ConfigError: gamma < 0 or alpha outside [0, 1].
    """

    def __init__(self, gamma: float = 2.0, alpha: float | None = None, reduction: str = "mean") -> None:
        super().__init__()
        from monai.losses import FocalLoss as _MonaiFocalLoss

        if gamma < 0:
            raise ConfigError(f"focal loss gamma must be ≥ 0, got {gamma}")
        if alpha is not None and not 0.0 <= alpha <= 1.0:
            raise ConfigError(f"focal loss alpha must be in [0, 1] or None, got {alpha}")
        self.loss = _MonaiFocalLoss(gamma=gamma, alpha=alpha, use_softmax=False, reduction=reduction)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if logits.ndim == 1:
            logits = logits[:, None]
        if logits.ndim != 2 or logits.shape[1] != 1 or target.numel() != logits.shape[0]:
            raise ModelError(
                f"FocalLoss takes one binary logit per case (N or N×1) and N targets, got logits "
                f"{tuple(logits.shape)} and targets {tuple(target.shape)}; for K classes use cross-entropy"
            )
        return self.loss(logits, target.reshape(-1, 1).to(logits.dtype))


# --------------------------------------------------------------------------- registry


def _compact(in_channels: int, num_outputs: int, input_size: int) -> nn.Module:
    return CompactClassifier(in_channels, num_outputs)


def _glaucoscreen(in_channels: int, num_outputs: int, input_size: int) -> nn.Module:
    return GlaucoScreenCNN(in_channels, input_size, num_outputs=num_outputs)


def _inception(in_channels: int, num_outputs: int, input_size: int) -> nn.Module:
    return InceptionV3(num_outputs, in_channels)


def _efficientnet_b0(in_channels: int, num_outputs: int, input_size: int) -> nn.Module:
    from monai.networks.nets import EfficientNetBN

    return EfficientNetBN(
        "efficientnet-b0", pretrained=False, spatial_dims=2, in_channels=in_channels, num_classes=num_outputs
    )


def _densenet121(in_channels: int, num_outputs: int, input_size: int) -> nn.Module:
    from monai.networks.nets import DenseNet121

    return DenseNet121(spatial_dims=2, in_channels=in_channels, out_channels=num_outputs)


#: builders take ``(in_channels, num_outputs, input_size)``; ``input_size`` matters only to GlaucoScreen's CNN.
CLASSIFICATION_ARCHS: dict[str, ArchSpec] = {
    "compact": ArchSpec(
        _compact,
        "residual CNN with separable blocks at low resolution (0.79 M parameters; "
        "~6 ms ONNX Runtime, 10–16 ms PyTorch at 224² on one CPU thread)",
    ),
    "glaucoscreen-cnn": ArchSpec(
        _glaucoscreen, "GlaucoScreen's custom CNN, 3 unpadded convs + dense 512 (59.2 M parameters at 256²)"
    ),
    "inception-v3": ArchSpec(
        _inception, "Inception v3 without the auxiliary head (21.8 M parameters), GlaucoScreen's progression model"
    ),
    "efficientnet-b0": ArchSpec(_efficientnet_b0, "MONAI EfficientNet-B0 (4.0 M parameters)"),
    "densenet121": ArchSpec(_densenet121, "MONAI DenseNet-121 (7.0 M parameters)"),
}


def create_classifier(arch: str, in_channels: int, num_outputs: int, input_size: int) -> nn.Module:
    """Build an untrained image classifier from :data:`CLASSIFICATION_ARCHS`.

    Raises:
        ConfigError: unknown architecture (with the choices and a suggestion).
    """
    from medscreen.models.registry import lookup

    return CLASSIFICATION_ARCHS[lookup(arch, CLASSIFICATION_ARCHS, "architecture")].build(
        in_channels, num_outputs, input_size
    )


class ScreeningClassifier(nn.Module):
    """An image network, a clinical linear model, or both with their logits added.

    Late fusion by summed logits keeps the clinical part a logistic
    regression on standardised features (readable coefficients) and lets the
    image part add what the photo shows. Clinical inputs are standardised
    with the training split's mean and standard deviation (kept as buffers, so
    they travel inside the ONNX file) and a missing value (NaN) counts as the
    training mean.

    Args:
        arch: image architecture (see :data:`CLASSIFICATION_ARCHS`), or None for clinical-only.
        in_channels: image channels.
        num_outputs: logits out.
        input_size: image side.
        clinical_mean: per-feature training means, or None for image-only.
        clinical_std: per-feature training standard deviations (zeros are treated as 1).

    Raises:
        ConfigError: neither an image architecture nor clinical features.
    """

    def __init__(
        self,
        arch: str | None,
        in_channels: int,
        num_outputs: int,
        input_size: int,
        clinical_mean: Sequence[float] | None = None,
        clinical_std: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        if arch is None and clinical_mean is None:
            raise ConfigError("a classifier needs an image architecture, clinical features, or both")
        self.image_net = create_classifier(arch, in_channels, num_outputs, input_size) if arch else None
        self.clinical: nn.Linear | None = None
        if clinical_mean is not None:
            mean = torch.as_tensor(list(clinical_mean), dtype=torch.float32)
            std = torch.as_tensor(list(clinical_std if clinical_std is not None else [1.0] * len(mean)),
                                  dtype=torch.float32)
            self.register_buffer("clinical_mean", mean)
            self.register_buffer("clinical_std", torch.where(std > 0, std, torch.ones_like(std)))
            self.clinical = nn.Linear(len(mean), num_outputs)
            nn.init.zeros_(self.clinical.weight)
            nn.init.zeros_(self.clinical.bias)

    def forward(self, image: torch.Tensor | None = None, clinical: torch.Tensor | None = None) -> torch.Tensor:
        out = None
        if self.image_net is not None:
            if image is None:
                raise ModelError("this classifier needs an image")
            out = self.image_net(image)
        if self.clinical is not None:
            if clinical is None:
                raise ModelError("this classifier needs the clinical features")
            z = (clinical - self.clinical_mean) / self.clinical_std
            z = torch.where(torch.isnan(z), torch.zeros_like(z), z)
            out = self.clinical(z) if out is None else out + self.clinical(z)
        return out  # type: ignore[return-value]
