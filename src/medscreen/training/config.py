"""Training configuration: the whole run in one visible, saved object."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator, model_validator

from medscreen.constants import GLAUCOMA_CROP_K
from medscreen.errors import ConfigError
from medscreen.tasks import TASKS, Kind, get_task, task_names

__all__ = ["AUGMENT_MODALITY", "CLASS_NAMES", "ClassificationConfig", "SegmentationConfig"]


def _task_of_kind(task: str, kind: Kind) -> str:
    try:
        return get_task(task, kind).name
    except ConfigError as exc:  # pydantic reports ValueErrors as validation errors of the field
        raise ValueError(str(exc)) from None


_VAL = "Share of patients held out for validation."
_SEED = "Seed of the split and training."
_WORKERS = "Data-loading worker processes (0: in the training process)."
_ACCELERATOR = "Lightning accelerator: auto | cpu | gpu | cuda | mps."


class SegmentationConfig(BaseModel):
    """Everything that defines a segmentation run; saved as ``config.json`` in the run folder."""

    task: str = Field(description="A segmentation task of medscreen.tasks.TASKS.")
    arch: str = Field("compact", description="Architecture (medscreen.models.registry): compact | unet | effnet-b4.")
    norm: Literal["batch", "instance"] = Field("batch", description="Normalisation (instance: mixed framings, small batches).")
    loss: Literal["dice", "bce", "dice+bce"] = Field("dice+bce", description="Training loss.")
    input_size: int = Field(256, ge=32, description="Model input side in pixels (multiple of 16).")
    cache_side: int = Field(1024, ge=64, description="Fundus photos are cached at this side before framing.")
    epochs: int = Field(60, ge=1, description="Most epochs to train.")
    batch_size: int = Field(8, ge=1, description="Images per batch.")
    lr: float = Field(1e-3, gt=0, description="Adam learning rate (both seeds: 1e-3).")
    plateau_patience: int = Field(4, ge=1, description="Epochs without val IoU gain before the LR is reduced.")
    early_stop_patience: int = Field(12, ge=1, description="Epochs without val IoU gain before training stops.")
    repeats: int = Field(1, ge=1, description="Times each training image is visited per epoch.")
    val_fraction: float = Field(0.2, gt=0, lt=1, description=_VAL)
    seed: int = Field(42, description=_SEED)
    threshold: float = Field(0.5, gt=0, lt=1, description="Probability above which a pixel is foreground.")
    max_images: int | None = Field(None, ge=2, description="Use only this many images (smoke tests).")
    init_from: str | None = Field(None, description="Start from these weights (fine-tuning): a run's .ckpt, or a "
                                  "bundled model's .onnx with its .pt beside it.")
    num_workers: int = Field(0, ge=0, description=_WORKERS)
    accelerator: str = Field("auto", description=_ACCELERATOR)

    @field_validator("task")
    @classmethod
    def _segmentation_task(cls, task: str) -> str:
        return _task_of_kind(task, "segmentation")

    @property
    def in_channels(self) -> int:
        return TASKS[self.task].in_channels


#: class names per classification task, negative first; a binary model's output is the last class's logit
CLASS_NAMES: dict[str, tuple[str, ...]] = {name: TASKS[name].classes for name in task_names("classification")}


#: the images each classification augmentation preset (medscreen.transforms.presets.CLASSIFICATION_AUGMENT, not
#: imported here: it loads MONAI) is made for; ``ClassificationConfig.augment`` lists the same names
AUGMENT_MODALITY = {"fundus-crop": "fundus", "fundus-crop-dg": "fundus", "ultrasound": "ultrasound"}


class ClassificationConfig(BaseModel):
    """Everything that defines a classification run; saved as ``config.json`` in the run folder."""

    task: str = Field(description="A classification task of medscreen.tasks.TASKS.")
    arch: str = Field("compact", description="Image architecture (medscreen.models.registry): compact | "
                      "glaucoscreen-cnn | inception-v3 | efficientnet-b0 | densenet121 | unet-encoder.")
    inputs: Literal["image", "clinical", "fused"] = Field(
        "image", description="progression: photo only, baseline clinical data only, or both (summed logits)."
    )
    use_mask: bool = Field(False, description="breast-class: add the lesion model's probability map as a channel.")
    preprocess: Literal["none", "standardise", "local-contrast"] = Field(
        "standardise", description="Image normalisation before the network."
    )
    loss: Literal["auto", "bce", "focal", "ce"] = Field("auto", description="auto: BCE (binary) or cross-entropy.")
    augment: Literal["task", "fundus-crop", "fundus-crop-dg", "ultrasound"] = Field(
        "task", description="Training augmentation preset (medscreen.transforms.presets): the task's own, or "
        "fundus-crop-dg (adds resolution, desaturation and random-convolution changes for unseen cameras)."
    )
    mixstyle: float = Field(
        0.0, ge=0, le=1, description="Compact classifier: probability of MixStyle per training batch (mixes two "
        "images' feature statistics after the first two stages, so a camera's style cannot carry the label; "
        "training only, the exported model is unchanged). 0: off."
    )
    balance: Literal["loss", "sampler", "source", "none"] = Field(
        "loss", description="Class imbalance, training split only: weighted loss, weighted sampling by class, "
        "or by source × class (every dataset and class drawn equally often, so the camera cannot predict the label)."
    )
    input_size: int = Field(224, ge=32, description="Model input side in pixels.")
    epochs: int = Field(40, ge=1, description="Most epochs to train.")
    batch_size: int = Field(32, ge=1, description="Images per batch.")
    lr: float = Field(1e-3, gt=0, description="Adam learning rate (GlaucoScreen's CNN: 1e-2).")
    weight_decay: float = Field(1e-4, ge=0, description="Adam L2 penalty.")
    select: Literal["auc", "loss", "last"] = Field(
        "auc", description="Checkpoint kept: best validation AUC, lowest validation loss, or the last epoch "
        "(no early stopping; for tiny validation splits where AUC is noise)."
    )
    plateau_patience: int = Field(4, ge=1, description="Epochs without val AUC gain before the LR is reduced.")
    early_stop_patience: int = Field(10, ge=1, description="Epochs without gain of the selected figure before "
                                     "training stops.")
    val_fraction: float = Field(0.2, gt=0, lt=1, description=_VAL)
    min_sensitivity: float = Field(0.9, gt=0, le=1, description="Binary: the operating threshold's target.")
    full_photos: bool = Field(False, description="glaucoma: training images are full photos; crop the disc first.")
    framing: Literal["diameter", "box+50"] = Field(
        "diameter", description="Disc crop: k × disc diameter, or the disc's box plus 50 %."
    )
    crop_k: float = Field(GLAUCOMA_CROP_K, gt=1, description="Crop side in disc diameters (framing 'diameter').")
    init_from: str | None = Field(
        None, description="unet-encoder: start the encoder from a compact instance-norm segmentation model's: a "
        "disc run's .ckpt, or a bundled model's .onnx with its .pt beside it (e.g. src/medscreen/weights/disc.onnx)."
    )
    seed: int = Field(42, description=_SEED)
    max_images: int | None = Field(None, ge=4, description="Use only this many images (smoke tests).")
    num_workers: int = Field(0, ge=0, description=_WORKERS)
    accelerator: str = Field("auto", description=_ACCELERATOR)

    @field_validator("task")
    @classmethod
    def _classification_task(cls, task: str) -> str:
        return _task_of_kind(task, "classification")

    @field_validator("augment")
    @classmethod
    def _augment_for_the_tasks_images(cls, augment: str, info: ValidationInfo) -> str:
        task = info.data.get("task")  # absent when the task itself was refused
        if augment != "task" and task is not None and AUGMENT_MODALITY[augment] != TASKS[task].modality:
            same = [name for name, modality in AUGMENT_MODALITY.items() if modality == TASKS[task].modality]
            raise ValueError(f"{augment!r} augments {AUGMENT_MODALITY[augment]} images and {task} reads "
                             f"{TASKS[task].modality} images; use task or one of {', '.join(same)}")
        return augment

    @model_validator(mode="after")
    def _mask_needs_ultrasound(self) -> ClassificationConfig:
        if self.use_mask and TASKS[self.task].modality != "ultrasound":
            raise ValueError(f"use_mask adds the lesion model's map, which only ultrasound tasks have; "
                             f"drop --use-mask for {self.task}")
        return self

    @model_validator(mode="after")
    def _init_needs_the_encoder(self) -> ClassificationConfig:
        if self.init_from and (self.arch != "unet-encoder" or not self.uses_image):
            raise ValueError(f"--init starts the image encoder of --arch unet-encoder from a segmentation model; "
                             f"use --arch unet-encoder, or drop --init for {self.arch}")
        return self

    @property
    def classes(self) -> tuple[str, ...]:
        return TASKS[self.task].classes

    @property
    def binary(self) -> bool:
        return len(self.classes) == 2

    @property
    def uses_image(self) -> bool:
        return self.inputs in ("image", "fused")

    @property
    def uses_clinical(self) -> bool:
        return self.inputs in ("clinical", "fused")

    @property
    def in_channels(self) -> int:
        """The image's channels, plus the lesion probability map when ``use_mask``."""
        return TASKS[self.task].in_channels + int(self.use_mask)
