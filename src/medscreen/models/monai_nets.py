"""Image classifiers taken from MONAI unchanged (from scratch: ``pretrained=False``).

Every builder takes ``(in_channels, num_outputs)`` and returns a module mapping
``N×C×H×W`` images to ``N×num_outputs`` logits.
"""

from __future__ import annotations

from torch import nn

__all__ = ["densenet121", "efficientnet_b0"]


def efficientnet_b0(in_channels: int, num_outputs: int) -> nn.Module:
    """MONAI EfficientNet-B0 (Tan & Le, ICML 2019; 4.0 M parameters)."""
    from monai.networks.nets import EfficientNetBN

    return EfficientNetBN(
        "efficientnet-b0", pretrained=False, spatial_dims=2, in_channels=in_channels, num_classes=num_outputs
    )


def densenet121(in_channels: int, num_outputs: int) -> nn.Module:
    """MONAI DenseNet-121 (Huang et al., CVPR 2017; 7.0 M parameters)."""
    from monai.networks.nets import DenseNet121

    return DenseNet121(spatial_dims=2, in_channels=in_channels, out_channels=num_outputs)
