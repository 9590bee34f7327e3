"""``medscreen export``: a training checkpoint → ONNX file + JSON card, with a parity check."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from medscreen.cli._common import console, handle_errors

if TYPE_CHECKING:
    from medscreen.inference.card import ModelCard

__all__ = ["export_app"]

WEIGHTS_HELP = ("float32 | float16: how the ONNX file stores its weights (float16: half the size, computed in "
                "float32 as before; the change in logits is measured and recorded in the card).")

export_app = typer.Typer(help="Export a trained checkpoint to ONNX with its model card.", no_args_is_help=True)


@export_app.command("segmentation")
@handle_errors
def export_segmentation(
    checkpoints: list[Path] = typer.Argument(..., help="checkpoints/best.ckpt of a training run; several runs of one "
                                             "task, architecture and input size make one ensemble (mean logit)."),
    out: Path = typer.Option(..., "--out", "-o", help="ONNX file to write (its .json card is written beside it)."),
    card_extra: Path | None = typer.Option(None, "--card", help="JSON with card fields (data, limits, training_data...)."),
    refine_k: float = typer.Option(3.0, "--refine-k", help="disc: second-pass crop side in disc diameters."),
    refine_scales: list[float] | None = typer.Option(
        None, "--refine-scale", help="disc: average the second pass over windows of these multiples of its side; "
        "repeat it (the shipped disc model: 1.0 1.5). Default: one window (1.0)."),
    min_area: float = typer.Option(0.0, "--min-area", help="lesion: drop components below this share of the image."),
    min_mean: float = typer.Option(0.0, "--min-mean-probability",
                                   help="lesion: drop components whose mean probability is below this."),
    atol: float = typer.Option(1e-3, "--atol", help="Largest accepted PyTorch/ONNX Runtime logit difference."),
    weights: str = typer.Option("float32", "--weights", help=WEIGHTS_HELP),
) -> None:
    """Export a segmentation checkpoint (several: one mean-logit ensemble) and check ONNX Runtime matches PyTorch."""
    from medscreen.inference.export import export_model

    card = export_model(checkpoints, out, card_extra, kind="segmentation", atol=atol,
                        params={"refine_k": refine_k, "refine_scales": refine_scales or [1.0],
                                "min_area_fraction": min_area,
                                "min_mean_probability": min_mean}, weights=weights)
    _report(out, card)


@export_app.command("add-metrics")
@handle_errors
def add_metrics(
    model: Path = typer.Argument(..., help="The .onnx whose card gets the metrics."),
    name: str = typer.Option(..., "--name", help="What was measured, e.g. 'validation: IDRiD, 11 photos'."),
    metrics: Path = typer.Option(..., "--json", help="OUT.json written by `medscreen evaluate`."),
    command: list[str] | None = typer.Option(None, "--command", help="Command(s) that produced it, for the card."),
) -> None:
    """Record an evaluation in a model's card (JSON and Markdown); the weights are untouched."""
    from medscreen.errors import ConfigError, ModelError
    from medscreen.inference.card import add_metrics as add_to_card
    from medscreen.inference.card import load_card, write_card

    card_path = model.with_suffix(".json")
    if not card_path.is_file():
        raise ModelError(f"{model}: no card {card_path.name} beside it; export the model first")
    try:
        report = json.loads(metrics.read_text())
    except FileNotFoundError:
        raise ConfigError(f"--json {metrics}: not found; give the OUT.json `medscreen evaluate` wrote") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--json {metrics}: not JSON ({exc}); give the OUT.json `medscreen evaluate` wrote") from None
    write_card(add_to_card(load_card(card_path), name, report, command), model)
    console.print(f"card of {model.name}: added metrics {name!r}")


@export_app.command("float16")
@handle_errors
def to_float16(
    model: Path = typer.Argument(..., help="An exported .onnx with its card beside it."),
) -> None:
    """Store an exported model's weights in float16: half the file, computed in float32 as before.

    The largest change in logits on random input is measured (refused above 0.05) and
    recorded in the card with the new SHA-256; the card's metrics are kept, so measure
    again any figure that was taken through this file.
    """
    from medscreen.inference.export import model_weights_to_float16

    before = model.stat().st_size if model.is_file() else 0
    card = model_weights_to_float16(model)
    console.print(f"{model}: {before / 1e6:.1f} → {model.stat().st_size / 1e6:.1f} MB; "
                  f"max |Δlogit| {card.float16_max_abs_diff:.2e}")


@export_app.command("classifier")
@handle_errors
def export_classifier(
    checkpoints: list[Path] = typer.Argument(..., help="checkpoints/best.ckpt of a classification run; several "
                                             "runs that differ only in --seed (and --augment) make one ensemble (mean logit)."),
    out: Path = typer.Option(..., "--out", "-o", help="ONNX file to write (its .json card is written beside it)."),
    card_extra: Path | None = typer.Option(None, "--card", help="JSON with card fields (data, limits, training_data...)."),
    atol: float = typer.Option(1e-4, "--atol", help="Largest accepted PyTorch/ONNX Runtime logit difference."),
    val_predictions: Path | None = typer.Option(None, "--val-predictions", help="Ensemble: write its predictions "
                                                "on the shared validation split here (CSV)."),
    weights: str = typer.Option("float32", "--weights", help=WEIGHTS_HELP),
) -> None:
    """Export a glaucoma/progression/breast-class checkpoint with its operating threshold; check parity.

    Several checkpoints are exported as one ensemble; its threshold is chosen on the
    members' shared validation split with the runs' rule.
    """
    from medscreen.inference.export import export_model

    card = export_model(checkpoints, out, card_extra, kind="classification", atol=atol,
                        val_predictions=val_predictions, weights=weights)
    _report(out, card)


def _report(out: Path, card: ModelCard) -> None:
    line = (f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB); ONNX Runtime vs PyTorch max |Δlogit| = "
            f"{card.onnx_parity_max_abs_diff:.2e}")
    if card.weights_dtype == "float16":
        line += f"; weights stored in float16: max |Δlogit| {card.float16_max_abs_diff:.2e}"
    console.print(line)
