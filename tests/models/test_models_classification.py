"""Classifiers: shapes and backward for every registered architecture, published parameter counts, focal loss."""

from __future__ import annotations

import math

import pytest
import torch

from medscreen.errors import ConfigError, ModelError
from medscreen.models.compact import CompactClassifier
from medscreen.models.glaucoscreen import GlaucoScreenCNN
from medscreen.models.inception import InceptionV3
from medscreen.models.losses import FocalLoss
from medscreen.models.registry import CLASSIFICATION_ARCHS


def _n_params(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def test_registry_names():
    assert set(CLASSIFICATION_ARCHS) == {"compact", "glaucoscreen-cnn", "inception-v3", "efficientnet-b0", "densenet121",
                                         "unet-encoder"}


@pytest.mark.parametrize("arch", sorted(CLASSIFICATION_ARCHS))
@pytest.mark.parametrize("channels,outputs", [(3, 1), (1, 3)])
def test_forward_backward_gives_one_row_of_logits_per_image(arch, channels, outputs):
    torch.manual_seed(0)
    net = CLASSIFICATION_ARCHS[arch].build(channels, outputs, 96)
    y = net(torch.rand(2, channels, 96, 96))
    assert y.shape == (2, outputs)
    y.sum().backward()
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)


def test_glaucoscreen_cnn_has_the_papers_parameter_count():
    net = GlaucoScreenCNN(in_channels=3, input_size=256)
    assert _n_params(net) == 59_206_657  # 30·30·128 = 115,200 features into dense 512
    assert net.head[1].in_features == 115_200


def test_glaucoscreen_cnn_refuses_other_sizes_with_the_fix():
    net = GlaucoScreenCNN(input_size=64)
    with pytest.raises(ModelError, match="input_size=96"):
        net(torch.rand(1, 3, 96, 96))
    with pytest.raises(ConfigError, match="≥ 22"):
        GlaucoScreenCNN(input_size=20)


def test_inception_v3_matches_torchvisions_parameter_counts():
    assert _n_params(InceptionV3(1000, aux_logits=True)) == 27_161_264
    assert _n_params(InceptionV3(1000)) == 23_834_568


@torch.no_grad()
@pytest.mark.parametrize("size", [299, 224, 160])
@pytest.mark.slow
def test_inception_v3_classifies_common_input_sizes(size):
    net = InceptionV3(3, aux_logits=True).eval()
    assert net(torch.rand(1, 3, size, size)).shape == (1, 3)


@pytest.mark.slow
def test_inception_v3_auxiliary_head_in_training_only():
    net = InceptionV3(2, in_channels=1, aux_logits=True).train()
    logits, aux = net(torch.rand(2, 1, 160, 160))
    assert logits.shape == aux.shape == (2, 2)
    (logits.sum() + 0.4 * aux.sum()).backward()
    assert net.aux.fc.weight.grad is not None


def test_inception_v3_refuses_tiny_inputs():
    with pytest.raises(ModelError, match="≥ 75"):
        InceptionV3(1).eval()(torch.rand(1, 3, 64, 64))


def test_compact_classifier_is_small_and_size_agnostic():
    net = CompactClassifier(3, 1).eval()
    assert 0.5e6 < _n_params(net) < 2e6
    with torch.no_grad():
        assert net(torch.rand(1, 3, 37, 53)).shape == (1, 1)


def test_focal_loss_matches_its_formula_and_bce_at_gamma_zero():
    logits = torch.tensor([0.0, 2.0, -1.0])
    target = torch.tensor([1, 0, 0])
    p = torch.sigmoid(logits)
    p_t = torch.where(target == 1, p, 1 - p)
    expected = (-((1 - p_t) ** 2) * torch.log(p_t)).mean()
    assert FocalLoss()(logits, target).item() == pytest.approx(expected.item(), rel=1e-5)
    assert FocalLoss()(logits[:1, None], target[:1]).item() == pytest.approx(0.25 * math.log(2), rel=1e-5)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, target.float())
    assert FocalLoss(gamma=0)(logits, target).item() == pytest.approx(bce.item(), rel=1e-5)
    weighted = FocalLoss(alpha=0.25, reduction="none")(logits, target)
    assert weighted.shape == (3, 1)
    assert weighted[0].item() == pytest.approx(0.25 * 0.25 * math.log(2), rel=1e-5)


def test_focal_loss_refuses_bad_settings_and_multiclass_logits():
    with pytest.raises(ConfigError):
        FocalLoss(gamma=-1)
    with pytest.raises(ConfigError):
        FocalLoss(alpha=1.5)
    with pytest.raises(ModelError, match="cross-entropy"):
        FocalLoss()(torch.zeros(4, 3), torch.zeros(4))


def test_focal_loss_falls_on_an_easy_batch():
    torch.manual_seed(0)
    x = torch.rand(8, 3, 16, 16) * 0.3
    target = torch.tensor([0, 1] * 4)
    x[target == 1] += 0.6  # positives are bright
    net = CompactClassifier(3, 1, widths=(8, 8, 16, 16), depths=(1, 1, 1, 1), dropout=0.0)
    loss_fn = FocalLoss(gamma=2.0, alpha=0.5)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(8):
        opt.zero_grad()
        loss = loss_fn(net(x), target)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
