"""``MeanLogits``: several networks of one task run as one network (a seed or fold ensemble).

An ensemble of small networks trained on the same data with different seeds
varies less from one camera to the next than any one of them (the members'
mistakes on an unseen source are partly independent), and it still exports as
a single ONNX graph with the members' inputs and output shape. Written by hand
because it is three lines of PyTorch; MONAI has no classifier ensemble module
(its ``EnsembleEvaluator`` runs separate models through an engine).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from medscreen.errors import ModelError

__all__ = ["MeanLogits"]


class MeanLogits(nn.Module):
    """The mean of its members' logits; each member takes the same inputs.

    Classifiers take ``(image, clinical)`` and give ``N×1`` or ``N×K``; segmentation networks take
    an image and give ``N×1×H×W``.
    """

    def __init__(self, members: Sequence[nn.Module]):
        super().__init__()
        if len(members) < 2:
            raise ModelError(f"an ensemble needs at least 2 members, got {len(members)}")
        self.members = nn.ModuleList(members)

    def forward(self, image: torch.Tensor | None = None, clinical: torch.Tensor | None = None) -> torch.Tensor:
        inputs = (image,) if clinical is None else (image, clinical)  # a segmentation network takes the image only
        return torch.stack([member(*inputs) for member in self.members]).mean(0)
