"""Train a segmentation model: ``train_segmentation(records, config, out_dir) -> run folder``.

The run folder is the one every trainer writes (:mod:`medscreen.training.run`):
``best.ckpt`` is chosen by validation IoU, and ``summary.json`` gives the best
IoU.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback
from monai.losses import DiceCELoss, DiceLoss
from torch.utils.data import DataLoader

from medscreen.datasets.records import Record
from medscreen.errors import ConfigError
from medscreen.evaluation.segmentation import compute_counts, summarise_segmentation
from medscreen.models.registry import create_model
from medscreen.models.weights import read_weights
from medscreen.tasks import TASKS
from medscreen.training.config import SegmentationConfig
from medscreen.training.data import (
    CachedImage,
    DiscFramer,
    SegmentationDataset,
    fixed_disc_views,
    load_cached,
)
from medscreen.training.logs import plot_curves
from medscreen.training.run import (
    build_trainer,
    checkpoint_hyperparameters,
    load_lightning_checkpoint,
    open_run,
    split_for_training,
)
from medscreen.transforms.presets import segmentation_augment

__all__ = ["SegmentationModule", "load_module", "plot_curves", "split_for_training", "train_segmentation"]

log = logging.getLogger(__name__)


def _make_loss(name: str) -> torch.nn.Module:
    if name == "dice":
        return DiceLoss(sigmoid=True, batch=True)
    if name == "bce":
        return torch.nn.BCEWithLogitsLoss()
    return DiceCELoss(sigmoid=True, batch=True)


class SegmentationModule(L.LightningModule):
    """A network, its loss, Adam with reduce-on-plateau on validation IoU."""

    def __init__(self, config: dict):
        super().__init__()
        self.save_hyperparameters({"config": config})
        self.config = SegmentationConfig(**config)
        self.net = create_model(self.config.task, self.config.arch, norm=self.config.norm)
        self.loss = _make_loss(self.config.loss)
        self._val_counts: list = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        logits = self(batch["image"])
        loss = self.loss(logits, batch["label"])
        n = len(batch["image"])
        self.log("train_loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=n)
        with torch.no_grad():  # per-image IoU with the empty rule, on the augmented batch
            pred, truth = logits > 0, batch["label"] > 0.5
            inter = (pred & truth).flatten(1).sum(1).float()
            union = (pred | truth).flatten(1).sum(1).float()
            iou = torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))
        self.log("train_iou", iou.mean(), on_step=False, on_epoch=True, batch_size=n)
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        logits = self(batch["image"])
        self.log("val_loss", self.loss(logits, batch["label"]), on_epoch=True, batch_size=len(batch["image"]))
        pred = (torch.sigmoid(logits) > self.config.threshold).cpu().numpy()
        truth = batch["label"].cpu().numpy() > 0.5
        self._val_counts.extend(compute_counts(p[0], t[0]) for p, t in zip(pred, truth, strict=True))

    def on_validation_epoch_end(self) -> None:
        if not self._val_counts:
            return
        summary = summarise_segmentation(self._val_counts, n_boot=1)
        if _fundus(self.config):  # the pipeline figure is logged by DiscPipelineValidation
            self.log("val_iou_single_pass", summary["iou"])
        else:
            self.log("val_iou", summary["iou"], prog_bar=True)
            self.log("val_dice", summary["dice"], prog_bar=True)
        self._val_counts = []

    def configure_optimizers(self) -> dict:
        optimizer = torch.optim.Adam(self.parameters(), lr=self.config.lr)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="max", factor=0.5, patience=self.config.plateau_patience
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "monitor": "val_iou"}}


class DiscPipelineValidation(Callback):
    """Validate the disc model as it is used: coarse-to-fine on whole photos and disc crops.

    The single-pass IoU of a 256-px view is a poor guide for the disc (tiny in
    a whole field, and stray blobs count), so ``val_iou`` for ``disc`` is the
    mean IoU of :func:`~medscreen.inference.segmentation.segment_disc` over
    the validation views — the figure that selects the checkpoint.
    """

    def __init__(self, views: Sequence, input_size: int, threshold: float, refine_k: float = 3.0):
        self.views, self.input_size, self.threshold, self.refine_k = list(views), input_size, threshold, refine_k

    def on_validation_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        from medscreen.inference.runtime import ModelSpec
        from medscreen.inference.segmentation import segment_disc

        spec = ModelSpec("disc", self.input_size, 3, self.threshold, {"refine_k": self.refine_k})
        was_training = module.training
        module.eval()

        def run(batch: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return module(torch.as_tensor(batch, device=module.device)).cpu().numpy()

        counts = [compute_counts(segment_disc(v.image, run, spec).mask, v.mask) for v in self.views]
        module.train(was_training)
        summary = summarise_segmentation(counts, n_boot=1)
        module.log("val_iou", summary["iou"], prog_bar=True)
        module.log("val_dice", summary["dice"])


def _fundus(config: SegmentationConfig) -> bool:
    """Fundus segmentation (the disc): photos cached large, framed from whole field to disc crops,
    validated through the coarse-to-fine disc stage; ultrasound images are simply resized."""
    return TASKS[config.task].modality == "fundus"


def _loaders(
    train: list[Record], val: list[Record], cfg: SegmentationConfig
) -> tuple[DataLoader, DataLoader, list[CachedImage]]:
    fundus = _fundus(cfg)
    side = cfg.cache_side if fundus else cfg.input_size
    train_items, val_items = load_cached(train, cfg.task, side), load_cached(val, cfg.task, side)
    framer = DiscFramer() if fundus else None
    if fundus:
        val_items = fixed_disc_views(val_items)
    train_ds = SegmentationDataset(
        train_items, cfg.input_size, framer=framer, augment=segmentation_augment(cfg.task, cfg.seed),
        repeats=cfg.repeats, seed=cfg.seed,
    )
    val_ds = SegmentationDataset(val_items, cfg.input_size)
    generator = torch.Generator().manual_seed(cfg.seed)
    return (
        DataLoader(train_ds, batch_size=cfg.batch_size, shuffle=True, num_workers=cfg.num_workers,
                   generator=generator, drop_last=len(train_ds) > cfg.batch_size),
        DataLoader(val_ds, batch_size=cfg.batch_size, shuffle=False, num_workers=cfg.num_workers),
        val_items,
    )


def train_segmentation(
    records: Sequence[Record], config: SegmentationConfig, out_dir: Path, *, resume: bool = False,
    progress: bool = True,
) -> Path:
    """Train ``config.task`` on ``records`` (split by patient) and return the run folder.

    Raises:
        ConfigError: the run folder exists without ``resume``, a setting the model refuses, an ``init_from``
            checkpoint of another task or network, or no record has a mask.
    """
    run = open_run(out_dir, config, resume=resume, build=lambda: SegmentationModule(config.model_dump()))
    init_from = Path(config.init_from) if config.init_from and not run.resumes else None
    start = _starting_weights(init_from, config) if init_from is not None else None
    records = [r for r in records if r.masks or r.label == "normal"]
    if config.max_images:
        records = list(records)[: config.max_images]
    if len(records) < 2:
        raise ConfigError("need at least two images with masks to train; check the data has masks")
    train, val = split_for_training(records, config.val_fraction, config.seed)
    run.write_files(config, train, val)
    log.info("training %s on %d images, validating on %d", config.task, len(train), len(val))
    train_loader, val_loader, val_views = _loaders(train, val, config)
    module = SegmentationModule(config.model_dump())
    if start is not None:
        module.net.load_state_dict(start)
        log.info("starting from the weights of %s", init_from)
    extra: list[Callback] = []
    if _fundus(config):
        extra.append(DiscPipelineValidation(val_views, config.input_size, config.threshold))
    trainer = build_trainer(config, run.out_dir, metric="iou", train_metric="iou", monitor=("val_iou", "max"),
                            progress=progress, callbacks=extra)
    run.fit(trainer, module, train_loader, val_loader)
    summary = run.write_summary({
        "best_val_iou": float(trainer.checkpoint_callback.best_model_score or np.nan),
        "epochs_run": trainer.current_epoch, "n_train": len(train), "n_val": len(val),
    })
    log.info("best checkpoint %s (val IoU %.4f)", run.best, summary["best_val_iou"])
    return run.out_dir


def _starting_weights(source: Path, config: SegmentationConfig) -> dict[str, torch.Tensor]:
    """The network weights an ``init_from`` run starts from: a run's ``.ckpt``, or a bundled model.

    A bundled model is named by its ``.onnx`` (or ``.pt``): its ``.pt`` beside
    it (:mod:`medscreen.models.weights`) holds the network, so a shipped model
    can be fine-tuned when its training run is not at hand. The ``.pt`` names
    only its task, so whether it is the run's architecture and normalisation
    is tried on a network without storage (``meta`` device: no memory, no
    random numbers drawn), before the run folder is written.

    Raises:
        ModelError: the file is missing or unreadable.
        ConfigError: it is of another task, architecture or normalisation than the run.
    """
    if source.suffix in (".onnx", ".pt"):
        task, state = read_weights(source.with_suffix(".pt"), hint=(
            "give a bundled model's .onnx with its .pt beside it (as `medscreen export` writes them) or a run's .ckpt"))
        if task != config.task:
            raise ConfigError(f"--init {source}: a {task} model cannot start a {config.task} run; "
                              f"give a {config.task} one")
        with torch.device("meta"):
            net = create_model(config.task, config.arch, norm=config.norm)
        try:
            net.load_state_dict(state, assign=True)
        except RuntimeError as exc:
            detail = " ".join(str(exc).split())[:200]
            raise ConfigError(f"--init {source}: not a {config.arch}/{config.norm} network ({detail}); give --arch "
                              "and --norm as that model was trained (its card's training_config)") from None
        return state
    saved = checkpoint_hyperparameters(source).get("config") or {}
    start = (saved.get("task"), saved.get("arch"), saved.get("norm", "batch"))
    if start != (config.task, config.arch, config.norm):
        raise ConfigError(f"--init {source}: a {'/'.join(map(str, start))} checkpoint cannot start a "
                          f"{config.task}/{config.arch}/{config.norm} run; give a matching one")
    return load_module(source).net.state_dict()


def load_module(checkpoint: Path) -> SegmentationModule:
    """Rebuild a trained module from its self-describing checkpoint (CPU, eval mode).

    Raises:
        ModelError: the file is missing or is not a medscreen segmentation checkpoint.
    """
    return load_lightning_checkpoint(SegmentationModule, checkpoint, "segmentation",
                                     "give a .ckpt written by `medscreen train`, or an exported .onnx")
