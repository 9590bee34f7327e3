"""Train classifiers: ``train_classifier(records, config, out_dir) -> run folder``.

Besides the run folder every trainer writes (:mod:`medscreen.training.run`;
``best.ckpt`` by validation AUC), a classification run holds
``val_predictions.csv`` and, in ``summary.json``, the validation report at the
operating threshold chosen on that validation split (binary tasks: the highest
threshold with sensitivity ≥ ``min_sensitivity``); the threshold is also saved
in ``best.ckpt``. Class imbalance is handled on the training split only;
augmentation runs on the training split only. Cross-validation is in
:mod:`medscreen.training.cv`.
"""

from __future__ import annotations

import csv
import json
import logging
import shutil
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler

from medscreen.datasets.clinical import CLINICAL_FEATURES, clinical_matrix
from medscreen.datasets.records import Record, task_label
from medscreen.errors import ConfigError
from medscreen.evaluation.classification import (
    compute_auc,
    operating_threshold,
    summarise_by_source,
)
from medscreen.models.losses import FocalLoss
from medscreen.models.mixstyle import MixStyle, attach_mixstyle, style_layers
from medscreen.models.registry import create_model
from medscreen.tasks import get_task, task_names
from medscreen.training.config import CLASS_NAMES, ClassificationConfig
from medscreen.training.run import (
    build_trainer,
    checkpoint_hyperparameters,
    load_lightning_checkpoint,
    open_run,
    set_checkpoint_hyperparameters,
    split_for_training,
)
from medscreen.transforms.classification import normalise, probabilities
from medscreen.transforms.geometry import resize
from medscreen.transforms.presets import classification_augment

__all__ = [
    "ClassDataset",
    "ClassItem",
    "ClassifierModule",
    "load_classifier_module",
    "load_items",
    "predict_items",
    "predict_logits",
    "run_threshold",
    "task_records",
    "train_classifier",
    "write_predictions",
]

log = logging.getLogger(__name__)


@dataclass
class ClassItem:
    """One case held in memory: its input image (uint8 ``S×S×C``, or None), clinical vector, class index."""

    key: str
    label: int
    source: str
    image: np.ndarray | None
    clinical: np.ndarray | None


def task_records(records: Sequence[Record], task: str) -> list[Record]:
    """The records usable for ``task``, relabelled for it (GRAPE → ``glaucoma``); GRAPE's baseline visits only.

    Raises:
        ConfigError: none of the records carries one of the task's labels.
    """
    classes = CLASS_NAMES[task]
    out, skipped = [], Counter()
    for r in records:
        if r.dataset == "grape" and r.fields.get("visit") not in (1, None):
            continue  # one photo per eye, the baseline: later visits are near-duplicates
        label = task_label(r, task)
        if label in classes:
            out.append(replace(r, label=label))
        else:
            skipped[str(label)] += 1
    if skipped:
        log.warning("%s: left out %d records whose label is not one of %s: %s", task, sum(skipped.values()),
                    "/".join(classes), dict(skipped))
    if not out:
        raise ConfigError(
            f"no record is labelled {' / '.join(classes)} for {task}; give a dataset or manifest with a `label` "
            "column using those names"
        )
    return out


def load_items(records: Sequence[Record], config: ClassificationConfig,
               cache: dict[str, np.ndarray | None] | None = None) -> list[ClassItem]:
    """Decode each record once into a :class:`ClassItem` at the model's input size.

    Full fundus photos (``config.full_photos``, or any record not from a
    crop dataset when training glaucoma/progression) are cropped around the
    disc found by the bundled disc model; photos where no disc is found are
    left out with a warning. ``cache`` (image path → input image) lets
    cross-validation decode and crop each image once, not once per fold.
    """
    from medscreen.inference.classification import (
        task_image,  # the deployed disc stage crops full photos
    )

    classes = config.classes
    clinical = clinical_matrix(records) if config.uses_clinical else None
    items, no_disc = [], []
    for i, r in enumerate(records):
        image = None
        if config.uses_image:
            key = str(r.image)
            if cache is None or key not in cache:
                image = task_image(r, config.task, is_crop=not config.full_photos, use_mask=config.use_mask,
                                   framing=config.framing, k=config.crop_k)
                if image is not None:
                    image = resize(image, (config.input_size, config.input_size)).reshape(
                        config.input_size, config.input_size, -1
                    )
                if cache is not None:
                    cache[key] = image
            image = cache[key] if cache is not None else image
            if image is None:
                no_disc.append(r.image.name)
                continue
        items.append(ClassItem(r.key or r.image.stem, classes.index(r.label), r.dataset,
                               image, None if clinical is None else clinical[i]))
    if no_disc:
        log.warning("no optic disc found in %d photos, left out: %s", len(no_disc), ", ".join(no_disc[:10]))
    return items


class ClassDataset(Dataset):
    """Items → ``{"image": C×S×S float32 (normalised), "clinical": F float32, "label"}``; augments when given."""

    def __init__(self, items: Sequence[ClassItem], config: ClassificationConfig, augment=None):
        self.items, self.config, self.augment = list(items), config, augment

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = self.items[index]
        sample: dict[str, torch.Tensor] = {"label": torch.tensor(item.label)}
        if item.image is not None:
            image = item.image.transpose(2, 0, 1).astype(np.float32) / 255.0
            if self.augment is not None:
                image = np.asarray(self.augment({"image": image})["image"], dtype=np.float32).clip(0.0, 1.0)
            sample["image"] = torch.as_tensor(normalise(image, self.config.preprocess))
        if item.clinical is not None:
            sample["clinical"] = torch.as_tensor(item.clinical, dtype=torch.float32)
        return sample


def _class_counts(items: Sequence[ClassItem], k: int) -> np.ndarray:
    return np.bincount([i.label for i in items], minlength=k).astype(np.float64)


class ClassifierModule(L.LightningModule):
    """A :class:`~medscreen.models.fusion.ScreeningClassifier`, its (class-weighted) loss, Adam with reduce-on-plateau on val AUC.

    ``threshold`` is the operating threshold, chosen after training and saved
    into ``best.ckpt`` (None while training, and in checkpoints written before
    it was saved there: see :func:`run_threshold`).
    """

    def __init__(self, config: dict, class_counts: list[float], clinical_mean: list[float] | None = None,
                 clinical_std: list[float] | None = None, threshold: float | None = None):
        super().__init__()
        self.save_hyperparameters()
        self.config = ClassificationConfig(**config)
        self.threshold = threshold
        cfg, k = self.config, len(self.config.classes)
        self.net = create_model(
            cfg.task, cfg.arch if cfg.uses_image else None, in_channels=cfg.in_channels,
            num_outputs=1 if cfg.binary else k, input_size=cfg.input_size,
            clinical_mean=clinical_mean, clinical_std=clinical_std,
        )
        if cfg.mixstyle > 0 and cfg.uses_image:  # training-time only: hooks, no parameters, nothing exported
            attach_mixstyle(style_layers(self.net), MixStyle(p=cfg.mixstyle))
        counts = np.maximum(np.asarray(class_counts, dtype=np.float64), 1.0)
        weighted = cfg.balance == "loss"
        loss = cfg.loss if cfg.loss != "auto" else ("bce" if cfg.binary else "ce")
        if cfg.binary and loss == "ce":
            raise ConfigError("loss 'ce' is for three classes; use bce or focal for a binary task")
        if not cfg.binary and loss != "ce":
            raise ConfigError(f"{cfg.task} has {k} classes: use loss 'ce' (or auto)")
        if loss == "bce":
            pos_weight = torch.tensor([counts[0] / counts[1]]) if weighted else None
            self.loss = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)
        elif loss == "focal":
            self.loss = FocalLoss(gamma=2.0, alpha=float(counts[0] / counts.sum()) if weighted else None)
        else:
            weight = torch.tensor(counts.sum() / (k * counts), dtype=torch.float32) if weighted else None
            self.loss = torch.nn.CrossEntropyLoss(weight=weight)
        self._val: list[tuple[np.ndarray, np.ndarray]] = []
        #: source of each validation case, in loader order (set by train_classifier; not saved)
        self.val_sources: list[str] | None = None

    def forward(self, image: torch.Tensor | None = None, clinical: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(image, clinical)

    def _step(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self(batch.get("image"), batch.get("clinical"))
        if self.config.binary:
            return logits, self.loss(logits[:, 0], batch["label"].float())
        return logits, self.loss(logits, batch["label"].long())

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        logits, loss = self._step(batch)
        n = len(batch["label"])
        self.log("train_loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=n)
        with torch.no_grad():
            pred = (logits[:, 0] > 0).long() if self.config.binary else logits.argmax(1)
            self.log("train_acc", (pred == batch["label"]).float().mean(), on_step=False, on_epoch=True, batch_size=n)
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        logits, loss = self._step(batch)
        self.log("val_loss", loss, on_epoch=True, batch_size=len(batch["label"]))
        self._val.append((batch["label"].cpu().numpy(), logits.detach().float().cpu().numpy()))

    def on_validation_epoch_end(self) -> None:
        if not self._val:
            return
        truth = np.concatenate([t for t, _ in self._val])
        prob = probabilities(np.concatenate([p for _, p in self._val]))
        self._val = []
        auc = _mean_source_auc(truth, prob, self.val_sources)
        acc = float(((prob >= 0.5).astype(int) if prob.ndim == 1 else prob.argmax(1)).__eq__(truth).mean())
        self.log("val_auc", 0.5 if not np.isfinite(auc) else auc, prog_bar=True)
        self.log("val_acc", acc, prog_bar=True)

    def configure_optimizers(self) -> dict:
        optimizer = torch.optim.Adam(self.parameters(), lr=self.config.lr, weight_decay=self.config.weight_decay)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="max", factor=0.5, patience=self.config.plateau_patience
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "monitor": "val_auc"}}


def _mean_source_auc(truth: np.ndarray, prob: np.ndarray, sources: Sequence[str] | None) -> float:
    """AUC within each source, averaged over the sources that have both classes (pooled AUC otherwise).

    With several cameras in validation, a pooled AUC also rewards telling the
    cameras apart when their class mixes differ; the mean of within-source
    AUCs only rewards telling glaucoma from normal on each camera, so the
    checkpoint is chosen for what transfers.
    """
    if sources is None or len(sources) != len(truth) or len(set(sources)) < 2 or prob.ndim != 1:
        return compute_auc(truth, prob)
    names = np.asarray(sources)
    aucs = [compute_auc(truth[names == s], prob[names == s]) for s in sorted(set(sources))
            if len(set(truth[names == s].tolist())) == 2]
    aucs = [a for a in aucs if np.isfinite(a)]
    return float(np.mean(aucs)) if aucs else compute_auc(truth, prob)


def _loader(items: Sequence[ClassItem], cfg: ClassificationConfig, *, train: bool) -> DataLoader:
    preset = None if cfg.augment == "task" else cfg.augment
    augment = classification_augment(cfg.task, cfg.seed, preset) if train and cfg.uses_image else None
    ds = ClassDataset(items, cfg, augment)
    generator = torch.Generator().manual_seed(cfg.seed)
    sampler = None
    if train and cfg.balance in ("sampler", "source"):
        if cfg.balance == "sampler":
            counts = _class_counts(items, len(cfg.classes))
            weights = [1.0 / counts[i.label] for i in items]
        else:  # each (source, class) cell drawn equally often
            cells = Counter((i.source, i.label) for i in items)
            weights = [1.0 / cells[(i.source, i.label)] for i in items]
        sampler = WeightedRandomSampler(weights, num_samples=len(items), replacement=True, generator=generator)
    return DataLoader(
        ds, batch_size=cfg.batch_size, shuffle=train and sampler is None, sampler=sampler,
        num_workers=cfg.num_workers, generator=generator if train else None,
        drop_last=train and len(ds) > cfg.batch_size,
    )


def predict_logits(module: ClassifierModule, items: Sequence[ClassItem]) -> np.ndarray:
    """Logits (``N×1`` or ``N×K``) of ``module`` on ``items``, no augmentation."""
    module.eval()
    logits = []
    with torch.no_grad():
        for batch in _loader(items, module.config, train=False):
            batch = {k: v.to(module.device) for k, v in batch.items()}
            logits.append(module(batch.get("image"), batch.get("clinical")).float().cpu().numpy())
    return np.concatenate(logits) if logits else np.zeros((0, 1), np.float32)


def predict_items(module: ClassifierModule, items: Sequence[ClassItem]) -> np.ndarray:
    """Probabilities (``N`` or ``N×K``) of ``module`` on ``items``, no augmentation."""
    logits = predict_logits(module, items)
    return probabilities(logits) if len(logits) else np.zeros(0)


def _clinical_stats(items: Sequence[ClassItem]) -> tuple[list[float], list[float]]:
    matrix = np.stack([i.clinical for i in items]).astype(np.float64)
    with warnings.catch_warnings():  # a feature missing for every case: mean 0, std 1
        warnings.simplefilter("ignore", RuntimeWarning)
        mean, std = np.nanmean(matrix, axis=0), np.nanstd(matrix, axis=0)
    return np.nan_to_num(mean).tolist(), np.where(np.isfinite(std) & (std > 0), std, 1.0).tolist()


def write_predictions(path: Path, items: Sequence[ClassItem], prob: np.ndarray, classes: Sequence[str]) -> Path:
    """One row per case: key, source, truth, and the probability of each class (binary: the positive one)."""
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        cols = [f"p_{classes[-1]}"] if prob.ndim == 1 else [f"p_{c}" for c in classes]
        writer.writerow(["key", "source", "label", *cols])
        for item, p in zip(items, prob, strict=True):
            writer.writerow([item.key, item.source, classes[item.label], *np.atleast_1d(p).round(6).tolist()])
    return path


def _report(items: Sequence[ClassItem], prob: np.ndarray, cfg: ClassificationConfig, threshold: float) -> dict:
    return summarise_by_source([i.label for i in items], prob, cfg.classes, [i.source for i in items],
                               threshold=threshold)


def train_classifier(
    records: Sequence[Record], config: ClassificationConfig, out_dir: Path, *, resume: bool = False,
    progress: bool = True, split: tuple[Sequence[Record], Sequence[Record]] | None = None,
    cache: dict[str, np.ndarray | None] | None = None,
) -> Path:
    """Train ``config.task`` on ``records`` (split by patient, stratified by label) and return the run folder.

    ``split`` gives the (train, validation) records directly and ``cache`` holds
    decoded inputs across runs (both for cross-validation). Nothing is written
    until the settings, the split and the training classes have been checked.

    Raises:
        ConfigError: a non-empty run folder without ``resume``, a setting the model refuses (e.g. an unknown
            architecture), too few usable records, or a one-class training split.
    """
    k = len(config.classes)
    run = open_run(out_dir, config, resume=resume, build=lambda: _placeholder_module(config))
    start = _encoder_weights(Path(config.init_from), config) if config.init_from and not run.resumes else None
    if split is None:
        records = task_records(records, config.task)
        if config.max_images:
            records = records[:: max(1, len(records) // config.max_images)][: config.max_images]
        if len(records) < 4:
            raise ConfigError(f"need at least 4 labelled records to train {config.task}, got {len(records)}")
        train, val = split_for_training(records, config.val_fraction, config.seed)
    else:
        train, val = list(split[0]), list(split[1])
    train_items, val_items = load_items(train, config, cache), load_items(val, config, cache)
    counts = _class_counts(train_items, k)
    if (counts == 0).any():
        missing = [c for c, n in zip(config.classes, counts, strict=True) if n == 0]
        raise ConfigError(f"the training split has no {', '.join(missing)} cases; add data or use another split")
    run.write_files(config, train, val)
    log.info("training %s on %d cases %s, validating on %d", config.task, len(train_items),
             dict(zip(config.classes, counts.astype(int).tolist(), strict=True)), len(val_items))
    mean = std = None
    if config.uses_clinical:
        mean, std = _clinical_stats(train_items)
    module = ClassifierModule(config.model_dump(), counts.tolist(), mean, std)
    if start is not None:
        module.net.image_net.features.load_state_dict(start)
        log.info("image encoder starts from %s", config.init_from)
    module.val_sources = [i.source for i in val_items]
    monitor = {"auc": ("val_auc", "max"), "loss": ("val_loss", "min")}.get(config.select)
    trainer = build_trainer(config, run.out_dir, metric="auc", train_metric="acc", monitor=monitor, progress=progress)
    run.fit(trainer, module, _loader(train_items, config, train=True), _loader(val_items, config, train=False))
    if config.select == "last":
        shutil.copyfile(run.last, run.best)
    best = load_classifier_module(run.best)
    prob = predict_items(best, val_items)
    truth = np.array([i.label for i in val_items])
    threshold = operating_threshold(truth, prob, config.min_sensitivity) if config.binary else 0.5
    set_checkpoint_hyperparameters(run.best, threshold=float(threshold))
    write_predictions(run.out_dir / "val_predictions.csv", val_items, prob, config.classes)
    summary = run.write_summary({
        "task": config.task, "classes": list(config.classes), "threshold": float(threshold),
        "threshold_rule": f"highest with validation sensitivity ≥ {config.min_sensitivity}" if config.binary
        else "argmax",
        "epochs_run": trainer.current_epoch, "n_train": len(train_items), "n_val": len(val_items),
        "train_class_counts": dict(zip(config.classes, counts.astype(int).tolist(), strict=True)),
        "clinical_features": list(CLINICAL_FEATURES) if config.uses_clinical else [],
        "validation": _report(val_items, prob, config, threshold),
    })
    log.info("best checkpoint %s (val AUC %.3f)", run.best, summary["validation"]["auc"] or 0)
    return run.out_dir


def _encoder_weights(source: Path, config: ClassificationConfig) -> dict[str, torch.Tensor]:
    """The encoder weights (``features``) a ``unet-encoder`` run starts from, read before anything is written.

    ``source`` is a segmentation run's ``.ckpt`` or a bundled model's ``.onnx``
    (its ``.pt`` beside it): the disc model's, so that the glaucoma classifier
    starts from features learnt on photos of several cameras.

    Raises:
        ModelError: the file is missing or unreadable.
        ConfigError: not a compact instance-norm U-Net with the task's channels.
    """
    from medscreen.models.unet import UNetEncoderClassifier
    from medscreen.models.weights import read_weights
    from medscreen.training.segmentation import load_module

    hint = "give a disc run's .ckpt or src/medscreen/weights/disc.onnx (its .pt beside it)"
    if source.suffix in (".onnx", ".pt"):
        task, state = read_weights(source.with_suffix(".pt"), hint=hint)
        if get_task(task).kind != "segmentation":
            raise ConfigError(f"--init {source}: a {task} model has no U-Net encoder; {hint}")
    else:
        saved = checkpoint_hyperparameters(source).get("config") or {}
        if saved.get("task") not in task_names("segmentation"):
            raise ConfigError(f"--init {source}: a {saved.get('task')} checkpoint has no U-Net encoder; {hint}")
        state = load_module(source).net.state_dict()
    start = UNetEncoderClassifier(config.in_channels)
    start.load_encoder(state, str(source))  # refuses another network
    return start.features.state_dict()


def _placeholder_module(config: ClassificationConfig) -> ClassifierModule:
    """The run's module with stand-in class counts and clinical statistics (to check the settings)."""
    k, f = len(config.classes), len(CLINICAL_FEATURES)
    clinical = ([0.0] * f, [1.0] * f) if config.uses_clinical else (None, None)
    return ClassifierModule(config.model_dump(), [1.0] * k, *clinical)


def load_classifier_module(checkpoint: Path) -> ClassifierModule:
    """Rebuild a trained classifier from its checkpoint (CPU, eval mode).

    Raises:
        ModelError: missing file, or not a medscreen classification checkpoint.
    """
    return load_lightning_checkpoint(
        ClassifierModule, checkpoint, "classification",
        "give a .ckpt written by `medscreen train glaucoma|progression|breast-class`",
    )


def run_threshold(checkpoint: Path) -> float:
    """The operating threshold of a trained classifier: the one saved in its checkpoint.

    Checkpoints written before the threshold was saved in them fall back to
    recomputing it from the run folder's ``val_predictions.csv`` with the
    ``min_sensitivity`` of its ``config.json`` (0.5 when those are missing).
    """
    checkpoint = Path(checkpoint)
    if checkpoint.is_file():
        saved = checkpoint_hyperparameters(checkpoint).get("threshold")
        if saved is not None:
            return float(saved)
    # an older checkpoint (no threshold inside): recompute it from the run's validation predictions
    run = checkpoint.parent.parent
    predictions, config_path = run / "val_predictions.csv", run / "config.json"
    if not (predictions.is_file() and config_path.is_file()):
        log.warning("%s: no threshold saved in it, nor val_predictions.csv/config.json in its run folder; "
                    "using threshold 0.5", checkpoint)
        return 0.5
    config = ClassificationConfig(**json.loads(config_path.read_text()))
    if not config.binary:
        return 0.5
    with predictions.open() as f:
        rows = list(csv.DictReader(f))
    truth = np.array([config.classes.index(r["label"]) for r in rows])
    prob = np.array([float(r[f"p_{config.classes[-1]}"]) for r in rows])
    return operating_threshold(truth, prob, config.min_sensitivity)
