"""Train a segmentation model: ``train_segmentation(records, config, out_dir) -> run folder``.

The run folder is self-describing: ``config.json``, ``split.csv`` (the
patient-level split as a manifest), ``metrics.csv`` (one row per epoch),
``curves.png``, ``checkpoints/best.ckpt`` (by validation IoU) and
``checkpoints/latest.ckpt`` (every epoch, to resume).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, LearningRateMonitor, ModelCheckpoint
from monai.losses import DiceCELoss, DiceLoss
from torch.utils.data import DataLoader

from medscreen.datasets.manifest import write_manifest
from medscreen.datasets.records import Record
from medscreen.datasets.splits import split_records
from medscreen.errors import ConfigError, ModelError
from medscreen.evaluation.segmentation import compute_counts, summarise_segmentation
from medscreen.models.registry import create_model
from medscreen.training.config import SegmentationConfig
from medscreen.training.logs import EpochLog, plot_curves
from medscreen.training.data import CachedImage, DiscFramer, SegmentationDataset, fixed_disc_views, load_cached
from medscreen.transforms.presets import segmentation_augment
from medscreen.tasks import TASKS

__all__ = ["SegmentationModule", "train_segmentation", "split_for_training", "plot_curves", "load_module"]

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
        self.net = create_model(self.config.task, self.config.arch, self.config.norm)
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


def split_for_training(records: Sequence[Record], val_fraction: float, seed: int) -> tuple[list[Record], list[Record]]:
    """Use a manifest's ``split`` column when given, else split by patient (stratified by label)."""
    given = [r.fields.get("split") for r in records]
    if all(s in {"train", "val", "test"} for s in given):
        train = [r for r in records if r.fields["split"] == "train"]
        val = [r for r in records if r.fields["split"] == "val"]
        if not train or not val:
            raise ConfigError("the manifest's `split` column needs both `train` and `val` rows")
        return train, val
    splits = split_records(records, val_fraction=val_fraction, seed=seed)
    return splits["train"], splits["val"]


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
        ConfigError: no record has a mask, or the run folder exists without ``resume``.
    """
    out_dir = Path(out_dir)
    last = out_dir / "checkpoints" / "latest.ckpt"
    if out_dir.exists() and any(out_dir.iterdir()) and not resume:
        raise ConfigError(f"run folder {out_dir} is not empty; pass --resume to continue it or choose another --out")
    records = [r for r in records if r.masks or r.label == "normal"]
    if config.max_images:
        records = list(records)[: config.max_images]
    if len(records) < 2:
        raise ConfigError("need at least two images with masks to train; check the data has masks")
    L.seed_everything(config.seed, workers=True)
    train, val = split_for_training(records, config.val_fraction, config.seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.json").write_text(config.model_dump_json(indent=2))
    write_manifest(train + val, out_dir / "split.csv", extra={"split": ["train"] * len(train) + ["val"] * len(val)})
    log.info("training %s on %d images, validating on %d", config.task, len(train), len(val))
    train_loader, val_loader, val_views = _loaders(train, val, config)
    module = SegmentationModule(config.model_dump())
    if config.init_from and not (resume and last.exists()):
        start = load_module(Path(config.init_from))
        if start.config.task != config.task or start.config.arch != config.arch or start.config.norm != config.norm:
            raise ConfigError(f"--init {config.init_from}: a {start.config.task}/{start.config.arch}/{start.config.norm} "
                              f"checkpoint cannot start a {config.task}/{config.arch}/{config.norm} run; give a matching one")
        module.net.load_state_dict(start.net.state_dict())
        log.info("starting from the weights of %s", config.init_from)
    extra: list[Callback] = []
    if _fundus(config):
        extra.append(DiscPipelineValidation(val_views, config.input_size, config.threshold))
    trainer = L.Trainer(
        max_epochs=config.epochs,
        accelerator=config.accelerator,
        devices=1,
        default_root_dir=out_dir,
        logger=False,
        enable_progress_bar=progress,
        deterministic=False,
        log_every_n_steps=5,
        callbacks=[
            *extra,
            ModelCheckpoint(dirpath=out_dir / "checkpoints", filename="best", monitor="val_iou", mode="max",
                            enable_version_counter=False),
            # every epoch, to resume from (save_last only writes when a new best is saved)
            ModelCheckpoint(dirpath=out_dir / "checkpoints", filename="latest", monitor=None, save_top_k=1,
                            enable_version_counter=False),
            EarlyStopping(monitor="val_iou", mode="max", patience=config.early_stop_patience),
            EpochLog(out_dir, metric="iou", train_metric="iou"),
        ],
    )
    trainer.fit(module, train_loader, val_loader, ckpt_path=str(last) if resume and last.exists() else None)
    best = out_dir / "checkpoints" / "best.ckpt"
    summary = {"best_val_iou": float(trainer.checkpoint_callback.best_model_score or np.nan),
               "epochs_run": trainer.current_epoch, "n_train": len(train), "n_val": len(val)}
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    log.info("best checkpoint %s (val IoU %.4f)", best, summary["best_val_iou"])
    return out_dir


def load_lightning_checkpoint(cls: type[L.LightningModule], checkpoint: Path, what: str, hint: str):
    """``cls.load_from_checkpoint`` on CPU in eval mode, with errors that say what to give instead.

    Raises:
        ModelError: the file is missing or is not a checkpoint of ``cls``.
    """
    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise ModelError(f"checkpoint {checkpoint} not found; give a run's checkpoints/best.ckpt (or latest.ckpt)")
    try:
        module = cls.load_from_checkpoint(str(checkpoint), map_location="cpu", weights_only=False)
    except Exception as exc:  # torch/Lightning raise many untyped errors on foreign or corrupt files
        raise ModelError(
            f"{checkpoint.name}: not a readable medscreen {what} checkpoint ({type(exc).__name__}); {hint}"
        ) from None
    return module.eval()


def load_module(checkpoint: Path) -> SegmentationModule:
    """Rebuild a trained module from its self-describing checkpoint (CPU, eval mode).

    Raises:
        ModelError: the file is missing or is not a medscreen segmentation checkpoint.
    """
    return load_lightning_checkpoint(SegmentationModule, checkpoint, "segmentation",
                                     "give a .ckpt written by `medscreen train`, or an exported .onnx")
