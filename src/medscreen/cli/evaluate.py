"""``medscreen evaluate``: measure a model on any data with masks."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import Progress

from medscreen.cli._common import console, err_console, handle_errors
from medscreen.cli.train import gather_records
from medscreen.errors import ConfigError
from medscreen.tasks import TASKS, task_names

__all__ = ["evaluate_app", "load_runner"]

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


def _records(data: list[Path] | None, manifest: Path | None, split: str | None) -> list:
    """The records of ``--data``/``--manifest``, only those of ``--split`` when given."""
    records = gather_records(data, manifest)
    if split is not None:
        records = [r for r in records if r.fields.get("split") == split]
        if not records:
            raise ConfigError(f"no rows with split == {split!r}; check the manifest's `split` column")
    return records


def _segmentation(task: str):
    @handle_errors
    def command(
        json_out: Path = typer.Option(..., "--json", help="Write the metrics here."),
        data: list[Path] | None = typer.Option(None, "--data", "-d", help="Dataset folder(s)."),
        manifest: Path | None = typer.Option(None, "--manifest", "-m", help="CSV manifest with image and mask."),
        split: str | None = typer.Option(None, "--split", help="Only manifest rows whose `split` is this (e.g. val)."),
        model: Path | None = typer.Option(None, "--model", help=".onnx (with its .json card) or a training .ckpt; default: bundled."),
        out: Path | None = typer.Option(None, "--out", help="Folder for per_image.csv and worst-case overlays."),
        crop_scale: list[float] | None = typer.Option(
            None, "--crop-scale", help="Also evaluate disc-centred crops of side K × disc diameter (repeatable)."
        ),
    ) -> None:
        from medscreen.inference.evaluate import evaluate_segmentation, write_report

        records = _records(data, manifest, split)
        runner, spec, description = load_runner(task, model)
        console.print(f"evaluating {description} on {len(records)} images")
        with Progress(console=console, transient=True) as progress:
            bar = progress.add_task("segmenting", total=None)
            report = evaluate_segmentation(
                records, task, runner, spec, crop_scales=crop_scale or (), out_dir=out,
                on_progress=lambda n: progress.update(bar, completed=n),
            )
        report["model"] = description
        write_report(report, json_out)
        console.print(
            f"n={report['n']}  Dice {report['dice']:.3f} [{report['dice_ci95'][0]:.3f}, {report['dice_ci95'][1]:.3f}]"
            f"  IoU {report['iou']:.3f} [{report['iou_ci95'][0]:.3f}, {report['iou_ci95'][1]:.3f}]  → {json_out}"
        )

    command.__doc__ = f"Evaluate the {task} segmentation model (Dice, IoU, HD95, CIs)."
    return command


for _task in task_names("segmentation"):
    evaluate_app.command(_task)(_segmentation(_task))


def _classification(task: str):
    default_crops = task != "glaucoma"

    @handle_errors
    def command(
        json_out: Path = typer.Option(..., "--json", help="Write the metrics here."),
        data: list[Path] | None = typer.Option(None, "--data", "-d", help="Dataset folder(s)."),
        manifest: Path | None = typer.Option(None, "--manifest", "-m", help="CSV manifest with image and label."),
        split: str | None = typer.Option(None, "--split", help="Only manifest rows whose `split` is this (e.g. val)."),
        model: Path | None = typer.Option(None, "--model", help=".onnx (with its .json card) or a training .ckpt; default: bundled."),
        out: Path | None = typer.Option(None, "--out", help="Folder for per_case.csv and ROC/confusion/calibration/curve PNGs."),
        crops: bool = typer.Option(
            default_crops, "--crops/--full-photos",
            help="Images are disc crops, or full photos (the bundled disc model finds and crops the disc). "
            "GRAPE is read from 'ROI images' or 'CFPs' accordingly.",
        ),
        criterion: str = typer.Option("any", "--criterion", help="progression on GRAPE: any | PLR2 | PLR3 | MD"),
        cv: int | None = typer.Option(None, "--cv", help="K-fold patient-grouped cross-validation, training in each fold."),
        inputs: str = typer.Option("image", "--inputs", help="--cv: image | clinical | fused"),
        arch: str = typer.Option("compact", "--arch", help="--cv: architecture"),
        epochs: int = typer.Option(30, "--epochs", help="--cv: epochs per fold"),
        input_size: int = typer.Option(224, "--input-size", help="--cv: input side"),
        preprocess: str = typer.Option("standardise", "--preprocess", help="--cv: none | standardise | local-contrast"),
        use_mask: bool = typer.Option(False, "--use-mask", help="--cv, breast-class: lesion map as a channel"),
        seed: int | None = typer.Option(None, "--seed", help="--cv: seed of folds and training"),
        select: str = typer.Option("auc", "--select", help="--cv: checkpoint kept, auc | loss | last"),
        lr: float = typer.Option(1e-3, "--lr", help="--cv: Adam learning rate"),
        weight_decay: float = typer.Option(1e-4, "--weight-decay", help="--cv: Adam L2 penalty"),
        balance: str = typer.Option("loss", "--balance", help="--cv: loss | sampler | source (per dataset × class) | none"),
    ) -> None:
        from medscreen.config import get_settings
        from medscreen.datasets.grape import relabel_grape, with_grape_images
        from medscreen.inference.classification import evaluate_classifier, load_classifier
        from medscreen.inference.evaluate import write_report
        from medscreen.training.classification import task_records

        records = _records(data, manifest, split)
        if task != "breast-class":
            records = with_grape_images(records, "roi" if crops else "cfp")
        if task == "progression" and criterion != "any":
            records = relabel_grape(records, criterion)
        records = task_records(records, task)
        if not crops and task != "breast-class" and any(r.dataset == "acrima" for r in records):
            err_console.print("[yellow]warning:[/] ACRIMA's images are disc crops already; pass --crops to "
                              "classify them as they are (now the disc model re-crops them)")
        if cv is not None:
            report = _cross_validate(records, task, cv, out or json_out.with_suffix(""), crops=crops, inputs=inputs,
                                     arch=arch, epochs=epochs, input_size=input_size, preprocess=preprocess,
                                     use_mask=use_mask, seed=get_settings().seed if seed is None else seed,
                                     select=select, lr=lr, weight_decay=weight_decay, balance=balance)
        else:
            classifier = load_classifier(task, model)
            console.print(f"evaluating {classifier.description} on {len(records)} "
                          f"{'crops' if crops else 'photos'}")
            with Progress(console=console, transient=True) as progress:
                bar = progress.add_task("classifying", total=len(records))
                report = evaluate_classifier(records, task, classifier, is_crop=crops, out_dir=out,
                                             on_progress=lambda n: progress.update(bar, completed=n))
            if out is not None and model is not None and model.suffix == ".ckpt":
                curves = model.parent.parent / "curves.png"
                if curves.is_file():
                    (out / "training_curves.png").write_bytes(curves.read_bytes())
        write_report(report, json_out)
        auc, ci = report.get("auc"), report.get("auc_ci95") or [None, None]
        fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
        extra = (f"  sensitivity {fmt(report.get('sensitivity'))}  specificity {fmt(report.get('specificity'))}"
                 if "sensitivity" in report else f"  accuracy {fmt(report.get('accuracy'))}")
        console.print(f"n={report['n']}  AUC {fmt(auc)} [{fmt(ci[0])}, {fmt(ci[1])}]{extra}  → {json_out}")

    command.__doc__ = f"Evaluate the {task} classifier (AUC with CI, metrics at the stored threshold, ECE)."
    return command


def _cross_validate(records, task: str, k: int, out: Path, *, crops: bool, **settings) -> dict:
    from medscreen.evaluation.plots import plot_calibration, plot_confusion, plot_roc
    from medscreen.training.classification import cross_validate
    from medscreen.config import get_settings
    from medscreen.training.config import ClassificationConfig

    config = ClassificationConfig(task=task, full_photos=not crops, num_workers=get_settings().num_workers, **settings)
    console.print(f"{k}-fold cross-validation of {task} ({config.inputs}) on {len(records)} cases; "
                  f"folds in {out}")
    report = cross_validate(records, config, out, k=k)
    labels = list(config.classes)
    truth, prob = _oof(out / "oof_predictions.csv", labels)
    multi = None if len(labels) == 2 else list(range(len(labels)))
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


for _task in task_names("classification"):
    evaluate_app.command(_task)(_classification(_task))
