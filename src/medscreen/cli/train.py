"""``medscreen train``: train a model on public datasets or a manifest."""

from __future__ import annotations

from pathlib import Path

import typer

from medscreen.cli._common import console, handle_errors
from medscreen.cli.data import load_indexes
from medscreen.config import get_settings
from medscreen.datasets.records import Record
from medscreen.errors import ConfigError
from medscreen.tasks import TASKS, task_names

__all__ = ["train_app", "gather_records"]

train_app = typer.Typer(help="Train a model (seeded, resumable; CPU or GPU unchanged).", no_args_is_help=True)


# options every training command shares
_DATA = typer.Option(None, "--data", "-d", help="Dataset folder(s).")
_LR = typer.Option(1e-3, "--lr", help="Adam learning rate.")
_VAL = typer.Option(0.2, "--val", help="Share of patients held out for validation.")
_SEED = typer.Option(None, "--seed", help="Seed of the split and training (default MEDSCREEN_SEED).")
_MAX_IMAGES = typer.Option(None, "--max-images", help="Use only N images (smoke test).")
_RESUME = typer.Option(False, "--resume", help="Continue from RUN_DIR/checkpoints/latest.ckpt.")


def gather_records(data: list[Path] | None, manifest: Path | None) -> list[Record]:
    """Records of every ``--data`` folder (each a dataset or a folder of datasets) or of ``--manifest``."""
    if not data and manifest is None:
        raise ConfigError("give --data DIR (one or more) or --manifest FILE")
    if data and manifest is not None:
        raise ConfigError("give --data or --manifest, not both")
    if manifest is not None:
        return list(load_indexes(None, manifest)[0].records)
    return [r for d in data or [] for index in load_indexes(d, None) for r in index.records]


def _segmentation(task: str):
    @handle_errors
    def command(
        out: Path = typer.Option(..., "--out", "-o", help="Run folder (config, split, metrics, checkpoints)."),
        data: list[Path] | None = _DATA,
        manifest: Path | None = typer.Option(None, "--manifest", "-m", help="CSV manifest with image, mask[, patient_id, split]."),
        arch: str = typer.Option("compact", "--arch", help="compact | unet | effnet-b4"),
        norm: str = typer.Option("batch", "--norm", help="batch | instance (instance: mixed framings, small batches)"),
        loss: str = typer.Option("dice+bce", "--loss", help="dice | bce | dice+bce"),
        epochs: int = typer.Option(60, "--epochs"),
        batch_size: int = typer.Option(8, "--batch-size"),
        lr: float = _LR,
        input_size: int = typer.Option(256, "--input-size"),
        repeats: int = typer.Option(1, "--repeats", help="Visits of each training image per epoch."),
        val_fraction: float = _VAL,
        seed: int | None = _SEED,
        max_images: int | None = _MAX_IMAGES,
        early_stop: int = typer.Option(12, "--early-stop", help="Patience in epochs on validation IoU."),
        init: Path | None = typer.Option(None, "--init", help="Start from this checkpoint's weights (fine-tune)."),
        resume: bool = _RESUME,
    ) -> None:
        from medscreen.training.config import SegmentationConfig
        from medscreen.training.segmentation import train_segmentation

        records = gather_records(data, manifest)
        config = SegmentationConfig(
            task=task, arch=arch, norm=norm, loss=loss, epochs=epochs, batch_size=batch_size, lr=lr, input_size=input_size,
            repeats=repeats, val_fraction=val_fraction, seed=get_settings().seed if seed is None else seed,
            max_images=max_images, early_stop_patience=early_stop, init_from=str(init) if init else None,
            num_workers=get_settings().num_workers,
        )
        run = train_segmentation(records, config, out, resume=resume)
        console.print(f"run folder: {run}  (best checkpoint: {run / 'checkpoints' / 'best.ckpt'})")

    command.__doc__ = f"Train the {task} model: {TASKS[task].description}."
    return command


for _task in task_names("segmentation"):
    train_app.command(_task)(_segmentation(_task))


def _classification(task: str):
    @handle_errors
    def command(
        out: Path = typer.Option(..., "--out", "-o", help="Run folder (config, split, metrics, checkpoints, summary)."),
        data: list[Path] | None = _DATA,
        manifest: Path | None = typer.Option(None, "--manifest", "-m", help="CSV manifest with image, label[, patient_id, split, clinical columns]."),
        arch: str = typer.Option("compact", "--arch", help="compact | glaucoscreen-cnn | inception-v3 | efficientnet-b0 | densenet121"),
        inputs: str = typer.Option("image", "--inputs", help="progression: image | clinical | fused"),
        use_mask: bool = typer.Option(False, "--use-mask", help="breast-class: add the lesion model's map as a channel."),
        preprocess: str = typer.Option("standardise", "--preprocess", help="none | standardise | local-contrast"),
        loss: str = typer.Option("auto", "--loss", help="auto | bce | focal | ce"),
        balance: str = typer.Option("loss", "--balance", help="Class imbalance (training split only): loss | sampler | source (per dataset × class) | none"),
        epochs: int = typer.Option(40, "--epochs"),
        batch_size: int = typer.Option(32, "--batch-size"),
        lr: float = _LR,
        input_size: int = typer.Option(224, "--input-size"),
        val_fraction: float = _VAL,
        min_sensitivity: float = typer.Option(0.9, "--min-sensitivity", help="Binary: threshold's sensitivity target on validation."),
        criterion: str = typer.Option("any", "--criterion", help="progression on GRAPE: any | PLR2 | PLR3 | MD"),
        full_photos: bool = typer.Option(False, "--full-photos", help="glaucoma/progression: images are full photos; crop the disc."),
        framing: str = typer.Option("diameter", "--framing", help="Disc crop: diameter (k × disc diameter) | box+50"),
        crop_k: float = typer.Option(2.2, "--crop-k", help="Crop side in disc diameters."),
        seed: int | None = _SEED,
        max_images: int | None = _MAX_IMAGES,
        early_stop: int = typer.Option(10, "--early-stop", help="Patience in epochs on validation AUC."),
        select: str = typer.Option("auc", "--select", help="Checkpoint kept: auc | loss (validation) | last"),
        weight_decay: float = typer.Option(1e-4, "--weight-decay", help="Adam L2 penalty."),
        resume: bool = _RESUME,
    ) -> None:
        from medscreen.datasets.grape import relabel_grape
        from medscreen.training.classification import train_classifier
        from medscreen.training.config import ClassificationConfig

        records = gather_records(data, manifest)
        if task == "progression" and criterion != "any":
            records = relabel_grape(records, criterion)
        config = ClassificationConfig(
            task=task, arch=arch, inputs=inputs, use_mask=use_mask, preprocess=preprocess, loss=loss, balance=balance,
            epochs=epochs, batch_size=batch_size, lr=lr, input_size=input_size, val_fraction=val_fraction,
            min_sensitivity=min_sensitivity, full_photos=full_photos, framing=framing, crop_k=crop_k,
            seed=get_settings().seed if seed is None else seed, max_images=max_images, early_stop_patience=early_stop,
            select=select, weight_decay=weight_decay, num_workers=get_settings().num_workers,
        )
        run = train_classifier(records, config, out, resume=resume)
        console.print(f"run folder: {run}  (best checkpoint: {run / 'checkpoints' / 'best.ckpt'}; "
                      f"validation report: {run / 'summary.json'})")

    command.__doc__ = f"Train the {task} classifier: {TASKS[task].description}."
    return command


for _task in task_names("classification"):
    train_app.command(_task)(_classification(_task))
