"""Late fusion of an image network and a clinical linear model: the network every classification task trains."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from medscreen.errors import ConfigError, ModelError

__all__ = ["ScreeningClassifier"]


class ScreeningClassifier(nn.Module):
    """An image network, a clinical linear model, or both with their logits added.

    Late fusion by summed logits keeps the clinical part a logistic
    regression on standardised features (readable coefficients) and lets the
    image part add what the photo shows. Clinical inputs are standardised
    with the training split's mean and standard deviation (kept as buffers, so
    they travel inside the ONNX file) and a missing value (NaN) counts as the
    training mean. Build it with :func:`medscreen.models.registry.create_model`,
    which picks the image network from the registry.

    Args:
        image_net: maps ``N×C×H×W`` images to ``N×num_outputs`` logits, or None for clinical-only.
        num_outputs: logits out (1 for a binary task, ``K`` for ``K`` classes).
        clinical_mean: per-feature training means, or None for image-only.
        clinical_std: per-feature training standard deviations (zeros are treated as 1).

    Raises:
        ConfigError: neither an image network nor clinical features.
    """

    def __init__(
        self,
        image_net: nn.Module | None,
        num_outputs: int,
        clinical_mean: Sequence[float] | None = None,
        clinical_std: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        if image_net is None and clinical_mean is None:
            raise ConfigError("a classifier needs an image architecture, clinical features, or both")
        self.image_net = image_net
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
