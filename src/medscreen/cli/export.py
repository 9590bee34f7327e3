"""``medscreen export``: a training checkpoint → ONNX file + JSON card, with a parity check."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from medscreen.cli._common import console, handle_errors

__all__ = ["export_app"]

export_app = typer.Typer(help="Export a trained checkpoint to ONNX with its model card.", no_args_is_help=True)


@export_app.command("segmentation")
@handle_errors
def export_segmentation(
    checkpoint: Path = typer.Argument(..., help="checkpoints/best.ckpt of a training run."),
    out: Path = typer.Option(..., "--out", "-o", help="ONNX file to write (its .json card is written beside it)."),
    card_extra: Path | None = typer.Option(None, "--card", help="JSON with card fields (data, limits, metrics...)."),
    refine_k: float = typer.Option(3.0, "--refine-k", help="disc: second-pass crop side in disc diameters."),
    min_area: float = typer.Option(0.0, "--min-area", help="lesion: drop components below this share of the image."),
    atol: float = typer.Option(1e-3, "--atol", help="Largest accepted PyTorch/ONNX Runtime logit difference."),
) -> None:
    """Export a segmentation checkpoint and check ONNX Runtime matches PyTorch."""
    import numpy as np

    from medscreen.inference.card import write_card
    from medscreen.inference.export import check_parity, export_onnx
    from medscreen.io.images import file_sha256
    from medscreen.training.segmentation import load_module

    module = load_module(checkpoint)
    cfg = module.config
    channels = 3 if cfg.task == "disc" else 1
    export_onnx(module.net, out, in_channels=channels, input_size=cfg.input_size)
    rng = np.random.default_rng(0)
    try:
        diff = check_parity(module.net, out, rng.random((2, channels, cfg.input_size, cfg.input_size),
                                                        dtype=np.float32), atol=atol)
    except Exception:
        out.unlink(missing_ok=True)  # never leave a model that failed its parity check
        raise
    card = {
        "task": cfg.task, "arch": cfg.arch, "input_size": cfg.input_size, "in_channels": channels,
        "threshold": cfg.threshold,
        "params": {"refine_k": refine_k} if cfg.task == "disc" else {"min_area_fraction": min_area},
        "output": "N×1×S×S logits; sigmoid > threshold is the mask",
        "parameters": sum(p.numel() for p in module.net.parameters()),
        "training_config": cfg.model_dump(),
        "onnx_parity_max_abs_diff": diff, "onnx_parity_atol": atol,
        "sha256": file_sha256(out),
    }
    if card_extra is not None:
        card.update(json.loads(card_extra.read_text()))
    write_card(card, out)
    console.print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB); ONNX Runtime vs PyTorch max |Δlogit| = {diff:.2e}")


@export_app.command("add-metrics")
@handle_errors
def add_metrics(
    model: Path = typer.Argument(..., help="The .onnx whose card gets the metrics."),
    name: str = typer.Option(..., "--name", help="What was measured, e.g. 'validation: IDRiD, 11 photos'."),
    metrics: Path = typer.Option(..., "--json", help="OUT.json written by `medscreen evaluate`."),
    command: list[str] | None = typer.Option(None, "--command", help="Command(s) that produced it, for the card."),
) -> None:
    """Record an evaluation in a model's card (JSON and Markdown); the weights are untouched."""
    from medscreen.errors import ModelError
    from medscreen.inference.card import write_card

    card_path = model.with_suffix(".json")
    if not card_path.is_file():
        raise ModelError(f"{model}: no card {card_path.name} beside it; export the model first")
    card = json.loads(card_path.read_text())
    card.setdefault("metrics", {})[name] = json.loads(metrics.read_text())
    if command:
        card.setdefault("commands", []).extend(c for c in command if c not in card.get("commands", []))
    write_card(card, model)
    console.print(f"card of {model.name}: added metrics {name!r}")


@export_app.command("classifier")
@handle_errors
def export_classifier(
    checkpoint: Path = typer.Argument(..., help="checkpoints/best.ckpt of a classification run."),
    out: Path = typer.Option(..., "--out", "-o", help="ONNX file to write (its .json card is written beside it)."),
    card_extra: Path | None = typer.Option(None, "--card", help="JSON with card fields (data, limits, metrics...)."),
    atol: float = typer.Option(1e-4, "--atol", help="Largest accepted PyTorch/ONNX Runtime logit difference."),
) -> None:
    """Export a glaucoma/progression/breast-class checkpoint with its operating threshold; check parity."""
    import numpy as np

    from medscreen.datasets.clinical import CLINICAL_FEATURES
    from medscreen.inference.card import write_card
    from medscreen.inference.classification import spec_params
    from medscreen.inference.export import check_classifier_parity, export_classifier_onnx
    from medscreen.io.images import file_sha256
    from medscreen.training.classification import load_classifier_module, run_threshold

    module = load_classifier_module(checkpoint)
    cfg = module.config
    n_clinical = len(CLINICAL_FEATURES) if cfg.uses_clinical else None
    export_classifier_onnx(module.net, out, image=cfg.uses_image, clinical=n_clinical, in_channels=cfg.in_channels,
                           input_size=cfg.input_size)
    rng = np.random.default_rng(0)
    feeds = {}
    if cfg.uses_image:
        feeds["image"] = rng.standard_normal((2, cfg.in_channels, cfg.input_size, cfg.input_size), dtype=np.float32)
    if n_clinical:
        feeds["clinical"] = np.asarray(module.net.clinical_mean)[None].repeat(2, 0) + rng.standard_normal(
            (2, n_clinical)).astype(np.float32)
    try:
        diff = check_classifier_parity(module.net, out, feeds, atol=atol)
    except Exception:
        out.unlink(missing_ok=True)  # never leave a model that failed its parity check
        raise
    summary_path = checkpoint.parent.parent / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    card = {
        "task": cfg.task, "arch": cfg.arch if cfg.uses_image else None, "input_size": cfg.input_size,
        "in_channels": cfg.in_channels, "threshold": run_threshold(checkpoint),
        "threshold_rule": summary.get("threshold_rule", "0.5 (no run summary found)"),
        "params": spec_params(cfg.model_dump(), cfg.classes),
        "output": "N×1 logit of the positive class (sigmoid ≥ threshold = positive)" if cfg.binary
        else f"N×{len(cfg.classes)} logits ({', '.join(cfg.classes)}); softmax, argmax",
        "parameters": sum(p.numel() for p in module.net.parameters()),
        "training_config": cfg.model_dump(),
        "training_split": {k: summary.get(k) for k in ("n_train", "n_val", "train_class_counts", "epochs_run")},
        "onnx_parity_max_abs_diff": diff, "onnx_parity_atol": atol,
        "sha256": file_sha256(out),
    }
    if "validation" in summary:
        card.setdefault("metrics", {})["validation split of the training run"] = summary["validation"]
    if card_extra is not None:
        card.update(json.loads(card_extra.read_text()))
    write_card(card, out)
    console.print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB); ONNX Runtime vs PyTorch max |Δlogit| = {diff:.2e}")
