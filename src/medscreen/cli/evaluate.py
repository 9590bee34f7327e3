"""``medscreen evaluate``: measure a model on any data with masks."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import Progress

from medscreen.cli._common import console, handle_errors
from medscreen.cli.train import gather_records
from medscreen.errors import ConfigError

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
        params = {"refine_k": 3.0} if task == "disc" else {}
        spec = ModelSpec(task, cfg.input_size, 3 if task == "disc" else 1, cfg.threshold, params)

        def run(batch):
            with torch.no_grad():
                return module(torch.as_tensor(batch)).numpy()

        return run, spec, f"{model} (PyTorch)"
    onnx = OnnxModel(model if model is not None else bundled_model_path(task))
    if onnx.spec.task != task:
        raise ConfigError(f"{onnx.path.name} is a {onnx.spec.task!r} model, not {task!r}; pass the right --model")
    return onnx, onnx.spec, f"{onnx.path} (ONNX Runtime, sha256 {onnx.sha256[:12]})"


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

        records = gather_records(data, manifest)
        if split is not None:
            records = [r for r in records if r.fields.get("split") == split]
            if not records:
                raise ConfigError(f"no rows with split == {split!r}; check the manifest's `split` column")
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


evaluate_app.command("disc")(_segmentation("disc"))
evaluate_app.command("lesion")(_segmentation("lesion"))
