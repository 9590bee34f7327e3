"""``medscreen export torch-weights``: the PyTorch weights (``<task>.pt``) the torch screening backend loads.

Registered on the ``export`` group by :mod:`medscreen.cli.main`.
"""

from __future__ import annotations

from pathlib import Path

import typer

from medscreen.cli._common import console, handle_errors

__all__ = ["export_torch_weights"]


@handle_errors
def export_torch_weights(
    checkpoints: list[Path] = typer.Argument(..., help="The training checkpoint(s) that made the .onnx (see its card's "
                                             "commands); an ensemble's members in the same order."),
    out: Path = typer.Option(..., "--out", "-o", help="The .pt to write, beside the model's .onnx: weights/<task>.pt."),
    atol: float = typer.Option(0.25, "--atol", help="Largest accepted logit difference from the .onnx beside --out "
                               "(float16 weights move logits by ~0.02; another run's weights by far more)."),
) -> None:
    """Write a checkpoint's network weights in float16 for `medscreen screen --backend torch`.

    When the .onnx (with its card) lies beside --out, the weights are checked against it
    and removed again if they do not match.
    """
    from medscreen.inference.torch_backend import compare_with_onnx, torch_weights_from_checkpoint

    torch_weights_from_checkpoint(checkpoints, out)
    onnx = out.with_suffix(".onnx")
    if onnx.is_file() and onnx.with_suffix(".json").is_file():
        try:
            diff = compare_with_onnx(onnx, atol=atol)
        except Exception:
            out.unlink(missing_ok=True)  # never leave weights that disagree with their ONNX model
            raise
        console.print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB); vs {onnx.name}: max |Δlogit| = {diff:.2e}")
    else:
        console.print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB); no {onnx.name} beside it to check against")
