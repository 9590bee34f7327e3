"""Training losses that MONAI does not offer in the shape medscreen's classifiers need."""

from __future__ import annotations

import torch
from torch import nn

from medscreen.errors import ConfigError, ModelError

__all__ = ["FocalLoss"]


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
