"""``medscreen train``: train a model on public datasets or a manifest.

The training settings are the options of :mod:`medscreen.training.config`
(generated from it by :mod:`medscreen.cli._options`); this module adds only
where the data comes from and where the run goes.
"""

from __future__ import annotations

from pathlib import Path

import typer

from medscreen.cli._common import console, handle_errors
from medscreen.cli._options import ConfigValues, config_options
from medscreen.cli.data import load_indexes
from medscreen.datasets.records import Record
from medscreen.errors import ConfigError
from medscreen.tasks import TASKS, task_names
from medscreen.training.config import ClassificationConfig, SegmentationConfig

__all__ = ["CRITERION", "DATA", "gather_records", "train_app"]

train_app = typer.Typer(help="Train a model (seeded, resumable; CPU or GPU unchanged).", no_args_is_help=True)


# options every command that reads data shares
DATA = typer.Option(None, "--data", "-d", help="Dataset folder(s).")
CRITERION = typer.Option("any", "--criterion", help="progression on GRAPE: any | PLR2 | PLR3 | MD")
_RESUME = typer.Option(False, "--resume", help="Continue from RUN_DIR/checkpoints/latest.ckpt.")


def gather_records(data: list[Path] | None, manifest: Path | None, split: str | None = None) -> list[Record]:
    """Records of every ``--data`` folder (each a dataset or a folder of datasets) or of ``--manifest``;
    with ``split``, only the manifest rows whose ``split`` column is that."""
    if not data and manifest is None:
        raise ConfigError("give --data DIR (one or more) or --manifest FILE")
    if data and manifest is not None:
        raise ConfigError("give --data or --manifest, not both")
    if manifest is not None:
        records = list(load_indexes(None, manifest)[0].records)
    else:
        records = [r for d in data or [] for index in load_indexes(d, None) for r in index.records]
    if split is not None:
        records = [r for r in records if r.fields.get("split") == split]
        if not records:
            raise ConfigError(f"no rows with split == {split!r}; check the manifest's `split` column")
    return records


def _segmentation(task: str):
    @handle_errors
    @config_options(SegmentationConfig)
    def command(
        out: Path = typer.Option(..., "--out", "-o", help="Run folder (config, split, metrics, checkpoints)."),
        data: list[Path] | None = DATA,
        manifest: Path | None = typer.Option(None, "--manifest", "-m", help="CSV manifest with image, mask[, patient_id, split]."),
        resume: bool = _RESUME,
        *,
        overrides: ConfigValues,
    ) -> None:
        from medscreen.training.segmentation import train_segmentation

        config = overrides.build(task)
        run = train_segmentation(gather_records(data, manifest), config, out, resume=resume)
        console.print(f"run folder: {run}  (best checkpoint: {run / 'checkpoints' / 'best.ckpt'})")

    command.__doc__ = f"Train the {task} model: {TASKS[task].description}."
    return command


for _task in task_names("segmentation"):
    train_app.command(_task)(_segmentation(_task))


def _classification(task: str):
    @handle_errors
    @config_options(ClassificationConfig)
    def command(
        out: Path = typer.Option(..., "--out", "-o", help="Run folder (config, split, metrics, checkpoints, summary)."),
        data: list[Path] | None = DATA,
        manifest: Path | None = typer.Option(None, "--manifest", "-m", help="CSV manifest with image, label[, patient_id, split, clinical columns]."),
        criterion: str = CRITERION,
        resume: bool = _RESUME,
        *,
        overrides: ConfigValues,
    ) -> None:
        from medscreen.datasets.grape import relabel_grape
        from medscreen.training.classification import train_classifier

        config = overrides.build(task)
        records = gather_records(data, manifest)
        if task == "progression" and criterion != "any":
            records = relabel_grape(records, criterion)
        run = train_classifier(records, config, out, resume=resume)
        console.print(f"run folder: {run}  (best checkpoint: {run / 'checkpoints' / 'best.ckpt'}; "
                      f"validation report: {run / 'summary.json'})")

    command.__doc__ = f"Train the {task} classifier: {TASKS[task].description}."
    return command


for _task in task_names("classification"):
    train_app.command(_task)(_classification(_task))
