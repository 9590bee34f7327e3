"""Every architecture of every task through the shared tester (forward, backward, odd sizes, ONNX, save/load)."""

from __future__ import annotations

import pytest
from model_tester import ModelCase, ModelTester, model_cases

from medscreen.models.registry import ARCHS, CLASSIFICATION_TASKS, SEGMENTATION_TASKS


@pytest.fixture(params=[c.param() for c in model_cases()])
def case(request: pytest.FixtureRequest) -> ModelCase:
    return request.param


class TestEveryModel(ModelTester):
    pass


def test_the_tester_covers_every_registered_architecture_of_every_task():
    covered = {(c.task, c.arch) for c in model_cases()}
    tasks = {**SEGMENTATION_TASKS, **CLASSIFICATION_TASKS}
    kinds = {t: "segmentation" if t in SEGMENTATION_TASKS else "classification" for t in tasks}
    assert covered == {(t, a) for t in tasks for a in ARCHS[kinds[t]]}
