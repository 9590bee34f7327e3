"""GlaucoScreen's custom glaucoma CNN (three unpadded convolutions and a dense layer)."""

from __future__ import annotations

import torch
from torch import nn

from medscreen.errors import ConfigError, ModelError

__all__ = ["GlaucoScreenCNN"]


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
