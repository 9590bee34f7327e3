"""Segmentation networks: U-Nets built from MONAI's, each mapping ``N×C×H×W`` to ``N×out×H×W`` logits.

Every builder takes ``(in_channels, out_channels, norm)``; ``norm`` is
``"batch"`` or ``"instance"``. Nothing is pretrained.
"""

from __future__ import annotations

from torch import nn

__all__ = ["compact_unet", "effnet_b4_unet", "ronneberger_unet"]


def compact_unet(in_channels: int, out_channels: int, norm: str = "batch") -> nn.Module:
    """MONAI's residual U-Net, 16→256 channels, four stride-2 levels (1.6 M parameters; H, W multiples of 16)."""
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


def ronneberger_unet(in_channels: int, out_channels: int, norm: str = "batch") -> nn.Module:
    """Ronneberger et al., "U-Net", MICCAI 2015: two 3×3 convs per level, 64→1024 channels (31 M parameters).

    2×2 max-pool, up-convolutions and skip connections; padded convs (as the
    breast seed) so the output has the input's size, and batch norm added for
    stable from-scratch training (MONAI ``BasicUNet``).
    """
    from monai.networks.nets import BasicUNet

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


def effnet_b4_unet(in_channels: int, out_channels: int, norm: str = "batch") -> nn.Module:
    """A U-Net with an EfficientNet-B4 encoder (MONAI ``FlexibleUNet``), GlaucoScreen's disc model; H, W multiples of 32."""
    from monai.networks.nets import FlexibleUNet

    return FlexibleUNet(
        in_channels=in_channels,
        out_channels=out_channels,
        backbone="efficientnet-b4",
        pretrained=False,
        spatial_dims=2,
        norm=norm,
    )
