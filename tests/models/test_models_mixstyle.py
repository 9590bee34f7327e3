"""MixStyle: mixes statistics only in training, keeps content, leaves the network's state untouched."""

from __future__ import annotations

import pytest
import torch

from medscreen.errors import ConfigError
from medscreen.models.mixstyle import MixStyle, attach_mixstyle, style_layers
from medscreen.models.registry import create_model


def _styled(n: int = 4) -> torch.Tensor:
    """Feature maps whose images differ only in per-channel offset and scale (their "style")."""
    torch.manual_seed(0)
    content = torch.randn(1, 3, 8, 8).repeat(n, 1, 1, 1)
    scale = torch.linspace(0.5, 3.0, n).view(n, 1, 1, 1)
    shift = torch.linspace(-2.0, 2.0, n).view(n, 1, 1, 1)
    return content * scale + shift


def test_mixstyle_mixes_statistics_and_keeps_content_in_training() -> None:
    x = _styled()
    torch.manual_seed(1)
    y = MixStyle(p=1.0, alpha=0.5).train()(x)
    assert not torch.allclose(y, x)
    mean_x, mean_y = x.mean(dim=(2, 3)), y.mean(dim=(2, 3))
    # each new mean is a convex mix of the batch's means
    assert (mean_y >= mean_x.min() - 1e-4).all() and (mean_y <= mean_x.max() + 1e-4).all()
    # content (the standardised map) is unchanged
    def standardised(t: torch.Tensor) -> torch.Tensor:
        return (t - t.mean(dim=(2, 3), keepdim=True)) / t.std(dim=(2, 3), keepdim=True)
    assert torch.allclose(standardised(y), standardised(x), atol=1e-4)


def test_mixstyle_is_identity_in_eval_or_when_off() -> None:
    x = _styled()
    assert torch.equal(MixStyle(p=1.0).eval()(x), x)
    assert torch.equal(MixStyle(p=0.0).train()(x), x)
    assert torch.equal(MixStyle(p=1.0).train()(x[:1]), x[:1])  # one image: nothing to mix with


def test_mixstyle_refuses_bad_settings() -> None:
    with pytest.raises(ConfigError, match="0 ≤ p ≤ 1"):
        MixStyle(p=1.5)


def test_attached_mixstyle_changes_training_outputs_not_eval_or_state() -> None:
    net = create_model("glaucoma", "compact", input_size=64)
    keys = set(net.state_dict())
    x = torch.rand(4, 3, 64, 64)
    net.eval()
    reference = net(x)
    handles = attach_mixstyle(style_layers(net), MixStyle(p=1.0, alpha=0.5))
    assert len(handles) == 2
    assert torch.equal(net(x), reference)  # eval mode: unchanged
    net.train()
    for m in net.modules():  # dropout off, so only MixStyle can make the outputs differ
        if isinstance(m, torch.nn.Dropout):
            m.eval()
    torch.manual_seed(0)
    mixed = net(x)
    for h in handles:
        h.remove()
    torch.manual_seed(0)
    plain = net(x)
    assert not torch.allclose(mixed, plain)
    assert set(net.state_dict()) == keys  # nothing added to what is saved and exported


def test_style_layers_needs_the_compact_classifier() -> None:
    with pytest.raises(ConfigError, match="--mixstyle"):
        style_layers(create_model("glaucoma", "efficientnet-b0"))
