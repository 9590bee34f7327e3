"""The shared model tester: the same checks for every architecture of every task.

In the manner of segmentation_models_pytorch's ``tests/models/base.py``: one
:class:`ModelCase` per ``(task, arch)`` taken from the registry itself, so a
new architecture or task is tested as soon as it is registered. Each case
says the small input it runs on, an odd size it accepts (or None when the
architecture needs a fixed or aligned size, which it must then refuse with a
:class:`~medscreen.errors.ModelError` or give a wrong-sized output) and
whether its checks are slow (over ~2 s on the 2-core CI machine).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from medscreen.inference.export import check_classifier_parity, check_parity, export_classifier_onnx, export_onnx
from medscreen.models.registry import ARCHS, CLASSIFICATION_TASKS, SEGMENTATION_TASKS, create_model, task_kind

#: parameters an architecture holds but never uses (MONAI's FlexibleUNet keeps the EfficientNet classifier head)
_UNUSED_PARAMETERS: dict[str, tuple[str, ...]] = {
    "effnet-b4": ("encoder._conv_head.", "encoder._bn1.", "encoder._fc."),
}

#: per architecture: (side of the test input, an odd (H, W) it accepts or None, slow)
_ARCH_SIZES: dict[tuple[str, str], tuple[int, tuple[int, int] | None, bool]] = {
    ("segmentation", "compact"): (32, None, False),  # four stride-2 levels: H, W multiples of 16
    ("segmentation", "unet"): (32, (37, 45), True),  # 31 M parameters; pads odd sizes itself
    ("segmentation", "effnet-b4"): (32, None, True),  # H, W multiples of 32
    ("classification", "compact"): (32, (37, 45), False),
    ("classification", "glaucoscreen-cnn"): (32, None, False),  # built for one input size
    ("classification", "inception-v3"): (75, (79, 83), True),  # inputs ≥ 75
    ("classification", "efficientnet-b0"): (32, (37, 45), True),
    ("classification", "densenet121"): (32, (37, 45), True),
    ("classification", "unet-encoder"): (32, (37, 45), False),  # strided convs pad odd sizes
}


@dataclass(frozen=True)
class ModelCase:
    """One architecture of one task, and how to feed it."""

    task: str
    arch: str
    size: int
    odd_size: tuple[int, int] | None
    slow: bool

    @property
    def kind(self) -> str:
        return task_kind(self.task)

    @property
    def channels(self) -> int:
        return SEGMENTATION_TASKS[self.task] if self.kind == "segmentation" else CLASSIFICATION_TASKS[self.task][0]

    @property
    def outputs(self) -> int:
        return 1 if self.kind == "segmentation" else CLASSIFICATION_TASKS[self.task][1]

    def build(self, seed: int = 0) -> torch.nn.Module:
        torch.manual_seed(seed)
        params = {"input_size": self.size} if self.kind == "classification" else {}
        return create_model(self.task, self.arch, **params)

    def images(self, n: int = 2, size: tuple[int, int] | None = None) -> torch.Tensor:
        h, w = size or (self.size, self.size)
        return torch.rand(n, self.channels, h, w, generator=torch.Generator().manual_seed(1))

    def expected_shape(self, n: int, size: tuple[int, int] | None = None) -> tuple[int, ...]:
        h, w = size or (self.size, self.size)
        return (n, 1, h, w) if self.kind == "segmentation" else (n, self.outputs)

    def param(self) -> object:
        return pytest.param(self, id=f"{self.task}-{self.arch}", marks=[pytest.mark.slow] if self.slow else [])


def model_cases() -> list[ModelCase]:
    """Every registered architecture of every task."""
    tasks = list(SEGMENTATION_TASKS) + list(CLASSIFICATION_TASKS)
    return [ModelCase(task, arch, *_ARCH_SIZES[(task_kind(task), arch)])
            for task in tasks for arch in ARCHS[task_kind(task)]]


class ModelTester:
    """The checks; a test module parametrises ``case`` over :func:`model_cases`."""

    def test_forward_gives_the_documented_shape(self, case: ModelCase) -> None:
        net = case.build().eval()
        with torch.no_grad():
            out = net(case.images(2))
        assert out.shape == case.expected_shape(2) and torch.isfinite(out).all()

    def test_backward_reaches_every_parameter(self, case: ModelCase) -> None:
        net = case.build().train()
        net(case.images(2)).float().square().mean().backward()
        unused = _UNUSED_PARAMETERS.get(case.arch, ()) if case.kind == "segmentation" else ()
        missing = [name for name, p in net.named_parameters()
                   if p.requires_grad and p.grad is None and not name.startswith(unused)]
        assert not missing, missing[:5]

    def test_odd_input_sizes(self, case: ModelCase) -> None:
        net = case.build().eval()
        if case.odd_size is None:  # a fixed or aligned size: refused clearly, or at least never silently right-sized
            odd = (case.size + 5, case.size + 3)
            try:
                with torch.no_grad():
                    out = net(case.images(1, odd))
            except Exception as exc:  # noqa: BLE001  MONAI raises its own errors on misaligned sizes
                assert case.arch != "glaucoscreen-cnn" or "built for" in str(exc)
                return
            assert out.shape != case.expected_shape(1, odd)
            return
        with torch.no_grad():
            assert net(case.images(1, case.odd_size)).shape == case.expected_shape(1, case.odd_size)

    @pytest.mark.slow  # a dynamo export takes ~5 s even for the compact CNN
    def test_onnx_export_matches_pytorch(self, case: ModelCase, tmp_path: Path) -> None:
        net = case.build().eval()
        path = tmp_path / f"{case.task}-{case.arch}.onnx"
        images = case.images(2).numpy()
        if case.kind == "segmentation":
            export_onnx(net, path, in_channels=case.channels, input_size=case.size)
            diff = check_parity(net, path, images, atol=1e-3)
        else:
            export_classifier_onnx(net, path, image=True, clinical=None, in_channels=case.channels,
                                   input_size=case.size)
            diff = check_classifier_parity(net, path, {"image": images}, atol=1e-4)
        assert diff <= 1e-3 and np.isfinite(diff)

    def test_state_dict_save_load_round_trips(self, case: ModelCase, tmp_path: Path) -> None:
        net = case.build(seed=0).eval()
        torch.save(net.state_dict(), tmp_path / "weights.pt")
        other = case.build(seed=1).eval()
        other.load_state_dict(torch.load(tmp_path / "weights.pt", weights_only=True))
        x = case.images(2)
        with torch.no_grad():
            assert torch.equal(net(x), other(x))
