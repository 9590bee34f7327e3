"""``medscreen evaluate``: measure a model on any data with masks."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import Progress

from medscreen.cli._common import console, err_console, handle_errors
from medscreen.cli._options import ConfigValues, config_options
from medscreen.cli.train import CRITERION, DATA, gather_records
from medscreen.errors import ConfigError
from medscreen.tasks import TASKS, task_names
from medscreen.training.config import ClassificationConfig

__all__ = ["SPLIT", "classification_records", "evaluate_app", "load_runner", "print_classification_report",
           "print_seen"]

SPLIT = typer.Option(None, "--split", help="Only manifest rows whose `split` is this (e.g. val).")
UNSEEN_ONLY = typer.Option(
    False, "--unseen-only",
    help="Score only images the model was neither trained nor validated on (by SHA-256, from its card).")
#: the training settings ``evaluate --cv`` still takes (``medscreen cv`` takes them all)
_CV_SETTINGS = ("inputs", "arch", "epochs", "input_size", "preprocess", "use_mask", "seed", "select", "lr",
                "weight_decay", "balance")

evaluate_app = typer.Typer(help="Evaluate a model (bundled by default) on data it has not seen.", no_args_is_help=True)


def load_runner(task: str, model: Path | None):
    """(runner, spec, description) for the bundled model, a ``.onnx`` file or a training ``.ckpt``."""
    from medscreen.inference.runtime import ModelSpec, OnnxModel, bundled_model_path

    if model is not None and model.suffix == ".ckpt":
        import torch

        from medscreen.training.segmentation import load_module

        module = load_module(model)
        cfg = module.config
        spec = ModelSpec(task, cfg.input_size, TASKS[task].in_channels, cfg.threshold, dict(TASKS[task].card_params))

        def run(batch):
            with torch.no_grad():
                return module(torch.as_tensor(batch)).numpy()

        return run, spec, f"{model} (PyTorch)"
    onnx = OnnxModel(model if model is not None else bundled_model_path(task))
    if onnx.spec.task != task:
        raise ConfigError(f"{onnx.path.name} is a {onnx.spec.task!r} model, not {task!r}; pass the right --model")
    return onnx, onnx.spec, f"{onnx.path} (ONNX Runtime, sha256 {onnx.sha256[:12]})"


def _training_images(runner, model: Path | None):
    """The training images of :func:`load_runner`'s model: its card's, or its run's split.csv (a ``.ckpt``)."""
    from medscreen.inference.provenance import checkpoint_training_images

    card = getattr(runner, "card", None)
    if card is not None:
        return card.training_images
    return checkpoint_training_images(model) if model is not None else None


def print_seen(report: dict) -> None:
    """The report's word on seen images: the warning, or a note (validation images, unknown, left out)."""
    seen = report.get("seen") or {}
    counts = seen.get("counts", {})
    if report.get("warning"):
        err_console.print(f"[yellow]warning:[/] {report['warning']}")
    elif counts.get("val"):
        err_console.print(f"[yellow]note:[/] {counts['val']} of {sum(counts.values())} were in this model's "
                          "validation split (they picked its checkpoint and threshold): slightly optimistic")
    if not seen.get("recorded", True):
        err_console.print(f"[yellow]note:[/] {seen['note']}")
    if seen.get("unseen_only"):
        left = seen.get("left_out", {})
        console.print(f"scored only unseen images; left out {left.get('train', 0)} training and "
                      f"{left.get('val', 0)} validation images")


def _segmentation(task: str):
    @handle_errors
    def command(
        json_out: Path = typer.Option(..., "--json", help="Write the metrics here."),
        data: list[Path] | None = DATA,
        manifest: Path | None = typer.Option(None, "--manifest", "-m", help="CSV manifest with image and mask."),
        split: str | None = SPLIT,
        model: Path | None = typer.Option(None, "--model", help=".onnx (with its .json card) or a training .ckpt; default: bundled."),
        out: Path | None = typer.Option(None, "--out", help="Folder for per_image.csv and worst-case overlays."),
        crop_scale: list[float] | None = typer.Option(
            None, "--crop-scale", help="Also evaluate disc-centred crops of side K × disc diameter (repeatable)."
        ),
        unseen_only: bool = UNSEEN_ONLY,
    ) -> None:
        from medscreen.inference.evaluate import evaluate_segmentation, write_report

        records = gather_records(data, manifest, split)
        runner, spec, description = load_runner(task, model)
        console.print(f"evaluating {description} on {len(records)} images")
        with Progress(console=console, transient=True) as progress:
            bar = progress.add_task("segmenting", total=None)
            report = evaluate_segmentation(
                records, task, runner, spec, crop_scales=crop_scale or (), out_dir=out,
                on_progress=lambda n: progress.update(bar, completed=n),
                training=_training_images(runner, model), unseen_only=unseen_only,
            )
        report["model"] = description
        write_report(report, json_out)
        console.print(
            f"n={report['n']}  Dice {report['dice']:.3f} [{report['dice_ci95'][0]:.3f}, {report['dice_ci95'][1]:.3f}]"
            f"  IoU {report['iou']:.3f} [{report['iou_ci95'][0]:.3f}, {report['iou_ci95'][1]:.3f}]  → {json_out}"
        )
        print_seen(report)

    command.__doc__ = f"Evaluate the {task} segmentation model (Dice, IoU, HD95, CIs)."
    return command


for _task in task_names("segmentation"):
    evaluate_app.command(_task)(_segmentation(_task))


def classification_records(task: str, data: list[Path] | None, manifest: Path | None, split: str | None,
                           criterion: str, *, crops: bool) -> list:
    """The records of ``--data``/``--manifest`` labelled for ``task``: GRAPE read as disc crops (``crops``) or
    full photos, progression relabelled by ``criterion``; warns when ACRIMA's crops would be re-cropped."""
    from medscreen.datasets.grape import relabel_grape, with_grape_images
    from medscreen.training.classification import task_records

    records = gather_records(data, manifest, split)
    if task != "breast-class":
        records = with_grape_images(records, "roi" if crops else "cfp")
    if task == "progression" and criterion != "any":
        records = relabel_grape(records, criterion)
    records = task_records(records, task)
    if not crops and task != "breast-class" and any(r.dataset == "acrima" for r in records):
        err_console.print("[yellow]warning:[/] ACRIMA's images are disc crops already; pass --crops to "
                          "classify them as they are (now the disc model re-crops them)")
    return records


def print_classification_report(report: dict, json_out: Path) -> None:
    """One line: n, AUC with its CI, and sensitivity/specificity (binary) or accuracy."""
    auc, ci = report.get("auc"), report.get("auc_ci95") or [None, None]
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}"
    extra = (f"  sensitivity {fmt(report.get('sensitivity'))}  specificity {fmt(report.get('specificity'))}"
             if "sensitivity" in report else f"  accuracy {fmt(report.get('accuracy'))}")
    console.print(f"n={report['n']}  AUC {fmt(auc)} [{fmt(ci[0])}, {fmt(ci[1])}]{extra}  → {json_out}")


def _classification(task: str):
    default_crops = task != "glaucoma"

    @handle_errors
    @config_options(ClassificationConfig, only=_CV_SETTINGS, files=False, prefix="--cv (deprecated): ")
    def command(
        json_out: Path = typer.Option(..., "--json", help="Write the metrics here."),
        data: list[Path] | None = DATA,
        manifest: Path | None = typer.Option(None, "--manifest", "-m", help="CSV manifest with image and label."),
        split: str | None = SPLIT,
        model: Path | None = typer.Option(None, "--model", help=".onnx (with its .json card) or a training .ckpt; default: bundled."),
        out: Path | None = typer.Option(None, "--out", help="Folder for per_case.csv and ROC/confusion/calibration/curve PNGs."),
        crops: bool = typer.Option(
            default_crops, "--crops/--full-photos",
            help="Images are disc crops, or full photos (the bundled disc model finds and crops the disc). "
            "GRAPE is read from 'ROI images' or 'CFPs' accordingly.",
        ),
        criterion: str = CRITERION,
        cv: int | None = typer.Option(
            None, "--cv", help=f"Deprecated: use `medscreen cv {task} --folds K --out DIR`. K-fold patient-grouped "
            "cross-validation, training in each fold (settings as `medscreen train`, same defaults)."),
        unseen_only: bool = UNSEEN_ONLY,
        *,
        overrides: ConfigValues,
    ) -> None:
        from medscreen.inference.classification import (
            evaluate_classifier,
            load_classifier,
        )
        from medscreen.inference.evaluate import write_report

        records = classification_records(task, data, manifest, split, criterion, crops=crops)
        if cv is not None:
            from medscreen.cli.cv import cross_validation

            if unseen_only:
                raise ConfigError("--unseen-only scores a trained model; --cv trains new ones on these images, "
                                  "so give one or the other")

            err_console.print(f"[yellow]note:[/] `evaluate --cv` is deprecated; use `medscreen cv {task} "
                              "--folds K --out DIR` (the same settings as `medscreen train`)")
            config = overrides.build(task, full_photos=not crops)
            report = cross_validation(records, config, cv, out or json_out.with_suffix(""))
        else:
            classifier = load_classifier(task, model)
            console.print(f"evaluating {classifier.description} on {len(records)} "
                          f"{'crops' if crops else 'photos'}")
            with Progress(console=console, transient=True) as progress:
                bar = progress.add_task("classifying", total=len(records))
                report = evaluate_classifier(records, task, classifier, is_crop=crops, out_dir=out,
                                             on_progress=lambda n: progress.update(bar, completed=n),
                                             unseen_only=unseen_only)
            if out is not None and model is not None and model.suffix == ".ckpt":
                curves = model.parent.parent / "curves.png"
                if curves.is_file():
                    (out / "training_curves.png").write_bytes(curves.read_bytes())
        write_report(report, json_out)
        print_classification_report(report, json_out)
        print_seen(report)

    command.__doc__ = f"Evaluate the {task} classifier (AUC with CI, metrics at the stored threshold, ECE)."
    return command


for _task in task_names("classification"):
    evaluate_app.command(_task)(_classification(_task))
