"""Per-epoch training log: ``metrics.csv`` (one row per epoch) and ``curves.png``."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import Callback

__all__ = ["EpochLog", "plot_curves"]


class EpochLog(Callback):
    """Append one row per epoch to ``metrics.csv`` and redraw ``curves.png``.

    Columns: epoch, train/val loss, ``train_<train_metric>``, ``val_<metric>``
    (the monitored figure), ``lr``. After a resume, rows of epochs being
    redone are dropped.
    """

    def __init__(self, run_dir: Path, *, metric: str = "iou", train_metric: str = "iou"):
        self.path, self.plot = Path(run_dir) / "metrics.csv", Path(run_dir) / "curves.png"
        self.metric, self.train_metric = metric, train_metric
        self.fields = ("epoch", "train_loss", "val_loss", f"train_{train_metric}", f"val_{metric}", "lr")

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        m = trainer.callback_metrics
        if f"val_{self.metric}" not in m:
            return

        def get(name: str) -> float:
            return float(m[name]) if name in m else math.nan

        row = {"epoch": trainer.current_epoch, **{f: get(f) for f in self.fields[1:-1]},
               "lr": trainer.optimizers[0].param_groups[0]["lr"]}
        rows = []
        if self.path.exists():
            with self.path.open() as f:
                rows = [r for r in csv.DictReader(f) if int(r["epoch"]) < row["epoch"]]
        with self.path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.fields, extrasaction="ignore")
            writer.writeheader()
            writer.writerows([*rows, row])
        plot_curves(self.path, self.plot)


def plot_curves(metrics_csv: Path, out_png: Path) -> None:
    """Loss and the tracked metric per epoch, training vs validation, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with Path(metrics_csv).open() as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return
    ep = [int(r["epoch"]) for r in rows]
    train_col = next((c for c in rows[0] if c.startswith("train_") and c != "train_loss"), None)
    val_col = next((c for c in rows[0] if c.startswith("val_") and c != "val_loss"), None)

    def col(name: str | None) -> list[float]:
        return [float(r[name]) if name and r.get(name) not in (None, "") else float("nan") for r in rows]

    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    a.plot(ep, col("train_loss"), label="train")
    a.plot(ep, col("val_loss"), label="validation")
    a.set(title="loss", xlabel="epoch")
    a.legend()
    if train_col:
        b.plot(ep, col(train_col), label=f"{train_col.replace('_', ' ')} (augmented)")
    if val_col:
        b.plot(ep, col(val_col), label=val_col.replace("_", " "))
    b.set(title="metric", xlabel="epoch", ylim=(0, 1))
    b.legend()
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
