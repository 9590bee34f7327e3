"""``medscreen cv``: patient-grouped k-fold cross-validation of a classifier (trains k models).

A thin command over :func:`medscreen.training.cv.cross_validate`; its
training settings are the options of ``medscreen train`` (the same
:class:`~medscreen.training.config.ClassificationConfig`, the same defaults).
"""

from __future__ import annotations

from pathlib import Path

import typer

from medscreen.cli._common import console, handle_errors
from medscreen.cli._options import ConfigValues, config_options
from medscreen.cli.evaluate import (
    SPLIT,
    classification_records,
    print_classification_report,
)
from medscreen.cli.train import CRITERION, DATA
from medscreen.tasks import TASKS, task_names
from medscreen.training.config import ClassificationConfig

__all__ = ["cross_validation", "cv_app"]

cv_app = typer.Typer(help="Cross-validate a classifier: train one model per patient-grouped fold, report the pooled "
                          "out-of-fold predictions.", no_args_is_help=True)


def cross_validation(records: list, config: ClassificationConfig, k: int, out: Path) -> dict:
    """Run :func:`~medscreen.training.cv.cross_validate` into ``out`` and draw its ROC, confusion and
    calibration plots there; returns the pooled report."""
    from medscreen.evaluation.plots import plot_calibration, plot_confusion, plot_roc
    from medscreen.training.cv import cross_validate

    console.print(f"{k}-fold cross-validation of {config.task} ({config.inputs}) on {len(records)} cases; "
                  f"folds in {out}")
    report = cross_validate(records, config, out, k=k)
    labels = list(config.classes)
    truth, prob = _oof(out / "oof_predictions.csv", labels)
    multi = None if len(labels) == 2 else list(range(len(labels)))
    task = config.task
    plot_roc(out / "roc.png", truth, prob, labels=multi, title=f"{task}: pooled out-of-fold ROC")
    plot_confusion(out / "confusion.png", report["confusion_matrix"], labels, title=f"{task}: pooled confusion")
    plot_calibration(out / "calibration.png", truth, prob, labels=multi, title=f"{task}: calibration")
    return report


def _oof(path: Path, labels: list[str]):
    import numpy as np
    import pandas as pd

    table = pd.read_csv(path)
    truth = np.array([labels.index(v) for v in table["label"]])
    cols = [c for c in table.columns if c.startswith("p_")]
    prob = table[cols[0]].to_numpy() if len(cols) == 1 else table[cols].to_numpy()
    return truth, prob


def _command(task: str):
    @handle_errors
    @config_options(ClassificationConfig)
    def command(
        out: Path = typer.Option(..., "--out", "-o", help="Folder for the fold runs, oof_predictions.csv, "
                                 "cv_report.json and the plots."),
        folds: int = typer.Option(5, "--folds", "-k", min=2, help="Number of patient-grouped folds."),
        data: list[Path] | None = DATA,
        manifest: Path | None = typer.Option(None, "--manifest", "-m", help="CSV manifest with image and label."),
        split: str | None = SPLIT,
        criterion: str = CRITERION,
        json_out: Path | None = typer.Option(None, "--json", help="Also write the pooled report here."),
        *,
        overrides: ConfigValues,
    ) -> None:
        from medscreen.inference.evaluate import write_report

        config = overrides.build(task)
        records = classification_records(task, data, manifest, split, criterion, crops=not config.full_photos)
        report = cross_validation(records, config, folds, out)
        json_out = write_report(report, json_out) if json_out is not None else out / "cv_report.json"
        print_classification_report(report, json_out)

    command.__doc__ = (f"Cross-validate the {task} classifier ({TASKS[task].description}): "
                       "k models, pooled out-of-fold AUC and metrics at each fold's threshold.")
    return command


for _task in task_names("classification"):
    cv_app.command(_task)(_command(_task))
