"""Segmentation networks: U-Nets built from MONAI's, each mapping ``N×C×H×W`` to ``N×out×H×W`` logits.

Every builder takes ``(in_channels, out_channels, norm)``; ``norm`` is
``"batch"`` or ``"instance"``. Nothing is pretrained.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from medscreen.errors import ConfigError
from medscreen.models._layers import gap_head

__all__ = ["UNetEncoderClassifier", "compact_unet", "effnet_b4_unet", "ronneberger_unet", "unet_encoder"]


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


def unet_encoder(unet: nn.Module) -> list[nn.Module]:
    """The contracting path of a MONAI ``UNet`` (as :func:`compact_unet` builds it), shallowest level first.

    MONAI nests each level as ``Sequential(down, SkipConnection(deeper), up)``
    with the bottom layer innermost; this walks that nesting and returns the
    ``down`` blocks and the bottom layer (the same modules, not copies).
    """
    from monai.networks.layers.simplelayers import SkipConnection

    levels, block = [], unet.model
    while isinstance(block, nn.Sequential) and len(block) == 3 and isinstance(block[1], SkipConnection):
        levels.append(block[0])
        block = block[1].submodule
    return [*levels, block]


class UNetEncoderClassifier(nn.Module):
    """The encoder of :func:`compact_unet` (instance norm) under a pooled linear head: 1.3 M parameters.

    Why: a classifier whose layers can start from a segmentation model. No
    pretrained fundus weights can be downloaded here, but the disc model was
    trained on photos of three cameras (IDRiD's masks, GRAPE's and HYGD's
    outlines); its encoder is the only fundus feature extractor available that
    has seen more than one camera. :meth:`load_encoder` copies it in (``medscreen
    train glaucoma --arch unet-encoder --init src/medscreen/weights/disc.onnx``).
    Instance norm, as the disc model's, also takes out each image's contrast.

    Measured for glaucoma (not shipped; the glaucoma card has the figures): it
    ranks a left-out camera better than the compact classifier (HYGD-trained on
    ACRIMA: AUC 0.883 from the disc encoder, 0.808 from scratch, 0.63–0.76
    compact), but trained on both sources it ranked GRAPE against IDRiD at
    chance (0.41 and 0.50 over two seeds; 0.78 with local-contrast input; 0.81 from
    scratch with local contrast, flagging 65 % of IDRiD).

    Args:
        in_channels: image channels.
        num_outputs: logits out.
        dropout: dropout before the linear layer.
    """

    def __init__(self, in_channels: int = 3, num_outputs: int = 1, dropout: float = 0.2) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.features = nn.Sequential(*unet_encoder(compact_unet(in_channels, 1, norm="instance")))
        self.head = gap_head(256, num_outputs, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def load_encoder(self, unet_state: Mapping[str, torch.Tensor], source: str) -> None:
        """Copy the encoder of a compact instance-norm U-Net's ``state_dict`` (e.g. the disc model's).

        Raises:
            ConfigError: ``unet_state`` is not such a network's (``source`` names it in the message).
        """
        unet = compact_unet(self.in_channels, 1, norm="instance")
        try:
            unet.load_state_dict(unet_state)
        except RuntimeError as exc:
            detail = " ".join(str(exc).split())[:200]
            raise ConfigError(f"--init {source}: not a compact U-Net with instance norm and {self.in_channels} "
                              f"input channels ({detail}); give a disc model trained with --arch compact "
                              "--norm instance, e.g. src/medscreen/weights/disc.onnx") from None
        self.features.load_state_dict(nn.Sequential(*unet_encoder(unet)).state_dict())
