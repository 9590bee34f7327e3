"""ScreeningClassifier: image-only, clinical-only and fused (summed logits) networks."""

from __future__ import annotations

import pytest
import torch

from medscreen.errors import ConfigError, ModelError
from medscreen.models.fusion import ScreeningClassifier
from medscreen.models.registry import create_model

F = 13
MEAN = [60.0, 0.5, 18.0, 540.0, 0.2, 90.0, 110.0, 70.0, 115.0, 65.0, 25.0, 6.0, 0.1]
STD = [10.0, 0.5, 4.0, 30.0, 0.4, 12.0, 15.0, 12.0, 15.0, 10.0, 4.0, 2.0, 0.1]


def _clinical_net(outputs: int = 1, std=STD) -> ScreeningClassifier:
    torch.manual_seed(0)
    net = create_model("progression", None, num_outputs=outputs, clinical_mean=MEAN, clinical_std=std).eval()
    with torch.no_grad():  # zero-initialised: give it weights so features matter
        net.clinical.weight.normal_()
        net.clinical.bias.normal_()
    return net


def test_image_only_gives_one_row_of_logits_per_image():
    torch.manual_seed(0)
    net = create_model("glaucoma", "compact").eval()
    assert net.clinical is None and net.image_net is not None
    assert net(torch.rand(4, 3, 32, 32)).shape == (4, 1)
    three = create_model("breast-class", "compact", in_channels=2).eval()
    assert three(torch.rand(2, 2, 32, 32)).shape == (2, 3)
    with pytest.raises(ModelError, match="image"):
        net(None, torch.rand(4, F))


def test_clinical_only_is_a_logistic_regression_on_standardised_features():
    net = _clinical_net()
    assert net.image_net is None
    x = torch.randn(5, F) * torch.tensor(STD) + torch.tensor(MEAN)
    out = net(clinical=x)
    assert out.shape == (5, 1)
    expected = ((x - torch.tensor(MEAN)) / torch.tensor(STD)) @ net.clinical.weight.T + net.clinical.bias
    assert torch.allclose(out, expected, atol=1e-5)
    with pytest.raises(ModelError, match="clinical"):
        net(torch.rand(5, 3, 32, 32), None)


def test_untrained_clinical_part_starts_at_zero():
    net = create_model("progression", None, clinical_mean=MEAN, clinical_std=STD)
    assert torch.equal(net(clinical=torch.randn(3, F)), torch.zeros(3, 1))


def test_missing_clinical_values_count_as_the_training_mean():
    net = _clinical_net()
    x = torch.randn(4, F) * torch.tensor(STD) + torch.tensor(MEAN)
    with_nan, with_mean = x.clone(), x.clone()
    for row, col in [(0, 0), (1, 2), (1, 5), (2, 12), (3, 7)]:
        with_nan[row, col] = float("nan")
        with_mean[row, col] = MEAN[col]
    out = net(clinical=with_nan)
    assert torch.isfinite(out).all()
    assert torch.allclose(out, net(clinical=with_mean), atol=1e-6)
    assert not torch.allclose(out, net(clinical=x), atol=1e-3)  # the replaced values did matter
    all_nan = torch.full((1, F), float("nan"))
    assert torch.allclose(net(clinical=all_nan), net.clinical.bias[None])


def test_zero_std_counts_as_one():
    std = list(STD)
    std[4] = 0.0
    net = _clinical_net(std=std)
    assert net.clinical_std[4] == 1.0 and net.clinical_std[0] == STD[0]
    assert torch.isfinite(net(clinical=torch.randn(2, F))).all()


def test_fused_logits_are_the_sum_of_both_parts():
    torch.manual_seed(0)
    net = create_model("glaucoma", "compact", num_outputs=3, clinical_mean=MEAN, clinical_std=STD).eval()
    with torch.no_grad():
        net.clinical.weight.normal_()
    image, clinical = torch.rand(2, 3, 32, 32), torch.randn(2, F) + torch.tensor(MEAN)
    out = net(image, clinical)
    assert out.shape == (2, 3)
    z = (clinical - net.clinical_mean) / net.clinical_std
    assert torch.allclose(out, net.image_net(image) + net.clinical(z), atol=1e-5)
    # buffers travel with the state dict (and so with the checkpoint / ONNX file)
    state = net.state_dict()
    assert torch.equal(state["clinical_mean"], torch.tensor(MEAN))
    with pytest.raises(ModelError):
        net(image, None)
    with pytest.raises(ModelError):
        net(None, clinical)


def test_neither_image_nor_clinical_is_refused():
    with pytest.raises(ConfigError, match="image architecture, clinical features, or both"):
        create_model("glaucoma", None)
    with pytest.raises(ConfigError, match="image architecture, clinical features, or both"):
        ScreeningClassifier(None, 1)


def test_create_model_refuses_unknown_architectures_and_parameters():
    assert create_model("breast-class", "compact", num_outputs=2).eval()(torch.rand(1, 1, 32, 32)).shape == (1, 2)
    with pytest.raises(ConfigError, match="Did you mean 'compact'"):
        create_model("glaucoma", "compakt")
    with pytest.raises(ConfigError, match="Did you mean 'input_size'"):
        create_model("glaucoma", "compact", input_sise=32)
    with pytest.raises(ConfigError, match="unknown architecture 'glaucoscreen-cnn'; choose one of compact, effnet-b4, unet"):
        create_model("disc", "glaucoscreen-cnn")
