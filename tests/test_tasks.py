"""The task table is the one definition of a task: everything that lists tasks agrees with it."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from medscreen.errors import ConfigError
from medscreen.tasks import MODALITIES, TASKS, get_task, primary_task, task_names

WEIGHTS = Path(__file__).resolve().parents[1] / "src" / "medscreen" / "weights"


def test_names_are_one_spelling() -> None:
    assert not any("_" in name for name in TASKS)  # hyphens, as on the command line


def test_every_task_has_its_augmentation_preset() -> None:
    from medscreen.transforms.presets import CLASSIFICATION_AUGMENT, SEGMENTATION_AUGMENT

    presets = {"segmentation": SEGMENTATION_AUGMENT, "classification": CLASSIFICATION_AUGMENT}
    for spec in TASKS.values():
        assert spec.augment in presets[spec.kind], spec.name


def test_classification_tasks_have_classes_and_segmentation_none() -> None:
    for spec in TASKS.values():
        assert bool(spec.classes) == (spec.kind == "classification"), spec.name
        if spec.positive_flag is not None:
            assert spec.binary, spec.name


def test_pipelines_run_the_table_in_order() -> None:
    from medscreen.pipelines.screening import TASKS as PIPELINE_TASKS

    assert PIPELINE_TASKS == {"fundus": ("disc", "glaucoma", "progression"), "ultrasound": ("lesion", "breast-class")}
    assert tuple(PIPELINE_TASKS) == MODALITIES


def test_store_enums_follow_the_table() -> None:
    from medscreen.store.models import Modality, ReviewTask

    # the stored values (the reviews.task CHECK of migration 0001): changing them needs a migration
    assert [t.value for t in ReviewTask] == ["glaucoma", "progression", "breast-class"]
    assert tuple(m.value for m in Modality) == MODALITIES
    assert primary_task("fundus").name == "glaucoma" and primary_task("ultrasound").name == "breast-class"


def test_cli_has_a_command_per_task() -> None:
    from medscreen.cli.evaluate import evaluate_app
    from medscreen.cli.train import train_app

    for app in (train_app, evaluate_app):
        assert {c.name for c in app.registered_commands} == set(TASKS)


@pytest.mark.parametrize("card", sorted(WEIGHTS.glob("*.json")), ids=lambda p: p.stem)
def test_bundled_cards_match_their_task(card: Path) -> None:
    data = json.loads(card.read_text())
    spec = get_task(data["task"])
    use_mask = bool(data.get("params", {}).get("use_mask", False))
    assert data["in_channels"] == spec.in_channels + int(use_mask)
    if spec.classes:
        assert tuple(data["params"]["labels"]) == spec.classes


def test_unknown_task_names_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"unknown classification task 'glaucomma'.*Did you mean 'glaucoma'"):
        get_task("glaucomma", "classification")
    with pytest.raises(ConfigError, match="choose one of disc, lesion"):
        get_task("glaucoma", "segmentation")


def test_training_configs_accept_only_their_kind() -> None:
    from pydantic import ValidationError

    from medscreen.training.config import ClassificationConfig, SegmentationConfig

    assert SegmentationConfig(task="lesion").in_channels == 1
    assert ClassificationConfig(task="breast-class", use_mask=True).in_channels == 2
    with pytest.raises(ValidationError, match="unknown segmentation task"):
        SegmentationConfig(task="glaucoma")
    with pytest.raises(ValidationError, match="only ultrasound tasks"):
        ClassificationConfig(task="glaucoma", use_mask=True)


def test_a_new_table_entry_reaches_configs_and_labels(monkeypatch: pytest.MonkeyPatch) -> None:
    """Adding a task is one entry: the config accepts it and its classes are derived."""
    from medscreen.training.config import ClassificationConfig

    cataract = replace(TASKS["glaucoma"], name="cataract", classes=("clear", "cataract"), result_field="cataract")
    monkeypatch.setitem(TASKS, "cataract", cataract)
    assert "cataract" in task_names("classification", "fundus")
    config = ClassificationConfig(task="cataract")
    assert config.classes == ("clear", "cataract") and config.binary and config.in_channels == 3
