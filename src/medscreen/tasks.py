"""The task table: the only place a medscreen task is defined.

One :class:`TaskSpec` per task, in a plain dict (:data:`TASKS`) like the
dataset ``READERS``. Everything else derives from it: the CLI's sub-commands,
the training configs' accepted task names and input channels, the models each
screening pipeline runs and in which order, the augmentation preset, the result
field a finding is stored under, the tasks a specialist reviews, and the label a
reviewer may give. Adding a task is one entry here plus its network (and its
branch in the pipeline that runs it).

This module is a leaf: it imports nothing from medscreen but :mod:`errors`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from medscreen.errors import choose

__all__ = [
    "TASKS",
    "MODALITIES",
    "Kind",
    "Modality",
    "TaskSpec",
    "get_task",
    "task_names",
    "primary_task",
]

Kind = Literal["segmentation", "classification"]
Modality = Literal["fundus", "ultrasound"]

#: the imaging modalities, in the order the product lists them
MODALITIES: tuple[Modality, ...] = ("fundus", "ultrasound")


@dataclass(frozen=True)
class TaskSpec:
    """What one task is: its inputs, outputs and where its findings go.

    Attributes:
        name: the task's one spelling (CLI sub-command, card ``task``, review task).
        kind: ``segmentation`` (a mask) or ``classification`` (class probabilities).
        modality: the images it reads.
        in_channels: model input channels of the image (RGB fundus 3, grey ultrasound 1).
        classes: class names, negative first; a binary model's output is the last class's logit.
        augment: the training augmentation preset (:mod:`medscreen.transforms.presets`).
        result_field: the key of its finding in a screening result.
        positive_flag: for a binary finding, the boolean field that means the second class
            (``glaucoma.positive``); ``None`` when the finding carries a ``label``.
        reviewed: a specialist confirms or corrects this finding (a review task).
        card_params: parameters a new model card gets by default (the pipeline reads them).
        description: one line for help texts.
    """

    name: str
    kind: Kind
    modality: Modality
    in_channels: int
    augment: str
    result_field: str
    description: str
    classes: tuple[str, ...] = ()
    positive_flag: str | None = None
    reviewed: bool = False
    card_params: dict[str, float | list[float]] = field(default_factory=dict)

    @property
    def binary(self) -> bool:
        """True for a two-class classifier (one logit, a threshold)."""
        return len(self.classes) == 2

    @property
    def is_segmentation(self) -> bool:
        return self.kind == "segmentation"


TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec(
            "disc", "segmentation", "fundus", 3, augment="fundus-field", result_field="disc",
            description="optic-disc segmentation of a fundus photo or disc crop",
            card_params={"refine_k": 3.0, "refine_scales": [1.0]},
        ),
        TaskSpec(
            "glaucoma", "classification", "fundus", 3, augment="fundus-crop", result_field="glaucoma",
            description="glaucoma / normal from the disc crop",
            classes=("normal", "glaucoma"), positive_flag="positive", reviewed=True,
            # crops wider than 3.5 disc diameters are re-framed (trained on 1.7-2.2: AUC 0.79 at 4 as they are,
            # 0.87 re-framed; benchmarks/glaucoma_framing.py)
            card_params={"recrop_above_k": 3.5},
        ),
        TaskSpec(
            "progression", "classification", "fundus", 3, augment="fundus-crop", result_field="progression",
            description="stable / progressing for a glaucomatous eye (GRAPE)",
            classes=("stable", "progressing"), positive_flag="progressing", reviewed=True,
        ),
        TaskSpec(
            "lesion", "segmentation", "ultrasound", 1, augment="ultrasound", result_field="lesion",
            description="breast-lesion segmentation of an ultrasound image",
            card_params={"min_area_fraction": 0.0, "min_mean_probability": 0.0},
        ),
        TaskSpec(
            "breast-class", "classification", "ultrasound", 1, augment="ultrasound", result_field="breast_class",
            description="normal / benign / malignant breast ultrasound",
            classes=("normal", "benign", "malignant"), reviewed=True,
        ),
    )
}


def task_names(kind: Kind | None = None, modality: Modality | None = None, *, reviewed: bool | None = None) -> tuple[str, ...]:
    """Task names in table order, optionally only those of one kind, modality or review status.

    Within a modality the order is the order its pipeline runs the models.
    """
    return tuple(
        s.name for s in TASKS.values()
        if (kind is None or s.kind == kind)
        and (modality is None or s.modality == modality)
        and (reviewed is None or s.reviewed == reviewed)
    )


def get_task(name: str, kind: Kind | None = None) -> TaskSpec:
    """The :class:`TaskSpec` called ``name`` (of ``kind`` when given).

    Raises:
        ConfigError: unknown name; the message lists the choices and the closest one.
    """
    return TASKS[choose(name, task_names(kind), f"{kind} task" if kind else "task")]


def primary_task(modality: Modality) -> TaskSpec:
    """The modality's main reviewed finding (fundus: glaucoma; ultrasound: breast-class)."""
    return TASKS[task_names(modality=modality, reviewed=True)[0]]
