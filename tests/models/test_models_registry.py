"""Every registered architecture: forward/backward shapes, unknown names, parameter counts."""

from __future__ import annotations

import pytest
import torch

from medscreen.errors import ConfigError
from medscreen.models.registry import SEGMENTATION_ARCHS, create_model


@pytest.mark.parametrize("arch", sorted(SEGMENTATION_ARCHS))
@pytest.mark.parametrize("task,channels", [("disc", 3), ("lesion", 1)])
def test_forward_backward_keeps_spatial_size(arch, task, channels):
    net = create_model(task, arch)
    x = torch.rand(2, channels, 64, 64, requires_grad=False)
    y = net(x)
    assert y.shape == (2, 1, 64, 64)
    y.mean().backward()
    assert any(p.grad is not None for p in net.parameters())


def test_ronneberger_unet_has_the_published_width():
    net = create_model("lesion", "unet")
    n = sum(p.numel() for p in net.parameters())
    assert 30e6 < n < 32e6  # 64→1024 channels, ~31 M parameters


def test_unknown_names_list_choices_and_suggest():
    with pytest.raises(ConfigError, match="Did you mean 'compact'") as exc:
        create_model("disc", "compakt")
    assert "effnet-b4" in str(exc.value)
    with pytest.raises(ConfigError, match="unknown task"):
        create_model("retina", "compact")
