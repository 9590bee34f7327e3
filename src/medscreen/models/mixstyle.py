"""MixStyle: mix the feature statistics of two training images, so a camera's "style" cannot carry the label.

Zhou et al., "Domain Generalization with MixStyle", ICLR 2021. In a CNN's early
layers the per-image, per-channel mean and standard deviation of a feature map
carry the image's style (colour, contrast, texture of the camera) more than its
content. During training, with probability ``p`` per batch, MixStyle replaces
each image's statistics with a random convex mix of its own and another
image's in the batch (weight ~ Beta(α, α)), so the network sees new styles made
of the training cameras'. It has no parameters and is the identity in eval
mode: exported models and their state dicts do not change.

Measured on glaucoma (``--mixstyle 0.5``, the shipped recipe otherwise, two seeds each):
leave-one-source-out ensembles AUC 0.785 / 0.731 (held-out HYGD / ACRIMA) against 0.772 /
0.722 without it — within noise — and the model trained on both sources ranked the unseen
cameras of ``benchmarks/glaucoma_transfer.py`` worse, seed for seed (GRAPE vs IDRiD AUC 0.684 and
0.431 with seeds 42 and 1, against 0.870 and 0.633 without it), so the shipped glaucoma model does
not use it.

Written here because neither MONAI nor PyTorch provides it; it is attached with
forward hooks (:func:`attach_mixstyle`) so the architectures stay untouched.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from medscreen.errors import ConfigError

__all__ = ["MixStyle", "attach_mixstyle", "style_layers"]


class MixStyle(nn.Module):
    """Mix per-image channel statistics between the images of a training batch (identity in eval mode).

    Args:
        p: probability of mixing a batch.
        alpha: the Beta(α, α) parameter of the mixing weight (0.1: mostly near one image's own style).
        eps: added to the variance before the square root.

    Draws from torch's global random state, which training seeds.
    """

    def __init__(self, p: float = 0.5, alpha: float = 0.1, eps: float = 1e-6) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0 or alpha <= 0:
            raise ConfigError(f"MixStyle needs 0 ≤ p ≤ 1 and alpha > 0, got p={p}, alpha={alpha}")
        self.p, self.alpha, self.eps = p, alpha, eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        if not self.training or self.p == 0.0 or n < 2:
            return x
        if torch.rand(1).item() >= self.p:
            return x
        mu = x.mean(dim=(2, 3), keepdim=True).detach()
        sigma = (x.var(dim=(2, 3), keepdim=True) + self.eps).sqrt().detach()
        beta = torch.distributions.Beta(torch.tensor(self.alpha), torch.tensor(self.alpha))  # made here: the network
        lam = beta.sample((n, 1, 1, 1)).to(x.device, x.dtype)  # may be built on the meta device
        perm = torch.randperm(n).to(x.device)
        mu_mix = lam * mu + (1 - lam) * mu[perm]
        sigma_mix = lam * sigma + (1 - lam) * sigma[perm]
        return (x - mu) / sigma * sigma_mix + mu_mix


def style_layers(net: nn.Module) -> list[nn.Module]:
    """The layers after which MixStyle mixes: the compact classifier's first two stages (56² and 28² features).

    The paper mixes after the early residual stages, where features hold style;
    later ones hold the label's content.

    Raises:
        ConfigError: ``net`` is not (or does not wrap) the compact classifier.
    """
    from medscreen.models.compact import CompactClassifier

    image_net = getattr(net, "image_net", net)
    if not isinstance(image_net, CompactClassifier):
        raise ConfigError(f"--mixstyle is implemented for the compact classifier, not {type(image_net).__name__}; "
                          "use --arch compact or --mixstyle 0")
    return [image_net.features[i] for i in image_net.stage_ends[:2]]


def attach_mixstyle(layers: Sequence[nn.Module], mixer: MixStyle) -> list[RemovableHandle]:
    """Run ``mixer`` on the output of each of ``layers`` (a forward hook); returns the handles to remove them."""

    def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
        mixer.train(module.training)
        return mixer(output)

    return [layer.register_forward_hook(hook) for layer in layers]
