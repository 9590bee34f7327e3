"""The run skeleton both trainers share; ``train_classifier`` and ``train_segmentation`` only wire their parts.

A run folder is self-describing: ``config.json``, ``split.csv`` (the
patient-level split as a manifest), ``metrics.csv`` and ``curves.png`` (one
row per epoch), ``checkpoints/best.ckpt`` (by the monitored validation
figure) and ``checkpoints/latest.ckpt`` (every epoch, to resume), and
``summary.json`` (with the run's wall time).

A trainer calls, in order:

1. :func:`open_run` — refuses a non-empty folder without ``resume``, an
   unknown or absent accelerator, and whatever building the module refuses
   (architecture, loss, normalisation…), *before anything is written*; then
   seeds everything and starts the clock;
2. :meth:`Run.write_files` once the split is known and the data is loaded;
3. :func:`build_trainer` and :meth:`Run.fit`;
4. :meth:`Run.write_summary`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint

from medscreen.datasets.manifest import SOURCE_DIGEST_COLUMN, write_manifest
from medscreen.datasets.records import Record
from medscreen.datasets.splits import split_records
from medscreen.errors import ConfigError, ModelError, choose
from medscreen.training.logs import EpochLog

__all__ = [
    "Run",
    "RunConfig",
    "build_trainer",
    "check_accelerator",
    "checkpoint_hyperparameters",
    "load_lightning_checkpoint",
    "open_run",
    "set_checkpoint_hyperparameters",
    "split_for_training",
]

log = logging.getLogger(__name__)


class RunConfig(Protocol):
    """What the skeleton reads from a training config (both configs have these fields)."""

    task: str
    seed: int
    epochs: int
    early_stop_patience: int
    accelerator: str

    def model_dump_json(self, *, indent: int | None = None) -> str: ...


@dataclass
class Run:
    """An opened run folder: its paths, whether it resumes, and when it started."""

    out_dir: Path
    resume: bool
    started: float = field(default_factory=time.perf_counter)

    @property
    def last(self) -> Path:
        return self.out_dir / "checkpoints" / "latest.ckpt"

    @property
    def best(self) -> Path:
        return self.out_dir / "checkpoints" / "best.ckpt"

    @property
    def resumes(self) -> bool:
        """True when training continues from ``latest.ckpt``."""
        return self.resume and self.last.exists()

    def write_files(self, config: RunConfig, train: Sequence[Record], val: Sequence[Record]) -> None:
        """Create the folder; write ``config.json`` and ``split.csv`` (a manifest with a ``split`` column).

        A crop's ``source_sha256`` (its photo's digest, from ``medscreen data crops``) is carried into
        split.csv, so that the exported card records the photos the crops were cut from.
        """
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / "config.json").write_text(config.model_dump_json(indent=2))
        records = [*train, *val]
        extra: dict[str, list[Any]] = {"split": ["train"] * len(train) + ["val"] * len(val)}
        if any(r.fields.get(SOURCE_DIGEST_COLUMN) for r in records):
            extra[SOURCE_DIGEST_COLUMN] = [r.fields.get(SOURCE_DIGEST_COLUMN) for r in records]
        write_manifest(records, self.out_dir / "split.csv", extra=extra)

    def fit(self, trainer: L.Trainer, module: L.LightningModule, train_loader, val_loader) -> None:
        """``trainer.fit``, continuing from ``latest.ckpt`` when resuming."""
        trainer.fit(module, train_loader, val_loader, ckpt_path=str(self.last) if self.resumes else None)

    def write_summary(self, summary: dict[str, Any]) -> dict[str, Any]:
        """Write ``summary.json`` with ``wall_time_s`` (seconds since :func:`open_run`, this invocation only)."""
        summary = {**summary, "wall_time_s": round(time.perf_counter() - self.started, 1)}
        (self.out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
        return summary


def open_run(out_dir: Path, config: RunConfig, *, resume: bool = False,
             build: Callable[[], object] | None = None) -> Run:
    """Refuse a run that cannot finish before anything is written, then seed everything.

    ``build`` constructs the run's module; it is called on PyTorch's meta
    device (no memory, no weights), so the model registry itself judges the
    architecture and the module its other settings.

    Raises:
        ConfigError: the folder is not empty and ``resume`` is not set, an unknown or absent accelerator,
            or a setting the module refuses.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not resume:
        raise ConfigError(f"run folder {out_dir} is not empty; pass --resume to continue it or choose another --out")
    check_accelerator(config.accelerator)
    if build is not None:
        with torch.device("meta"):
            build()
    L.seed_everything(config.seed, workers=True)
    return Run(out_dir, resume)


def check_accelerator(name: str) -> None:
    """Refuse an accelerator Lightning does not know, or one this machine lacks.

    Raises:
        ConfigError: unknown name (with the choices and the closest one), or not available here.
    """
    from lightning.pytorch.accelerators import AcceleratorRegistry

    if choose(name, sorted({"auto", "gpu", *AcceleratorRegistry.available_accelerators()}), "accelerator") == "auto":
        return
    names = ("cuda", "mps") if name == "gpu" else (name,)
    if not any(AcceleratorRegistry[n]["accelerator"].is_available() for n in names):
        raise ConfigError(f"accelerator {name!r} is not available on this machine; use auto or cpu")


def build_trainer(config: RunConfig, out_dir: Path, *, metric: str, train_metric: str,
                  monitor: tuple[str, str] | None, progress: bool = True,
                  callbacks: Iterable[Callback] = ()) -> L.Trainer:
    """The Lightning ``Trainer`` of a run: one device, no logger, ``metrics.csv`` per epoch.

    Args:
        metric, train_metric: the ``val_``/``train_`` figures :class:`EpochLog` records.
        monitor: (logged name, ``max``|``min``) that picks ``best.ckpt`` and stops early;
            None: keep only ``latest.ckpt`` and run every epoch.
        callbacks: the trainer's own callbacks, run first (e.g. one that logs the monitored figure).
    """
    folder = Path(out_dir) / "checkpoints"
    best: list[Callback] = []
    stop: list[Callback] = []
    if monitor is not None:
        best = [ModelCheckpoint(dirpath=folder, filename="best", monitor=monitor[0], mode=monitor[1],
                                enable_version_counter=False)]
        stop = [EarlyStopping(monitor=monitor[0], mode=monitor[1], patience=config.early_stop_patience)]
    return L.Trainer(
        max_epochs=config.epochs, accelerator=config.accelerator, devices=1, default_root_dir=out_dir,
        logger=False, enable_progress_bar=progress, deterministic=False, log_every_n_steps=5,
        callbacks=[
            *callbacks, *best,
            # every epoch, to resume from (save_last only writes when a new best is saved)
            ModelCheckpoint(dirpath=folder, filename="latest", monitor=None, save_top_k=1,
                            enable_version_counter=False),
            *stop, EpochLog(out_dir, metric=metric, train_metric=train_metric),
        ],
    )


def split_for_training(records: Sequence[Record], val_fraction: float, seed: int) -> tuple[list[Record], list[Record]]:
    """Use a manifest's ``split`` column when given, else split by patient (stratified by label)."""
    given = [r.fields.get("split") for r in records]
    if all(s in {"train", "val", "test"} for s in given):
        train = [r for r in records if r.fields["split"] == "train"]
        val = [r for r in records if r.fields["split"] == "val"]
        if not train or not val:
            raise ConfigError("the manifest's `split` column needs both `train` and `val` rows")
        return train, val
    splits = split_records(records, val_fraction=val_fraction, seed=seed)
    return splits["train"], splits["val"]


def load_lightning_checkpoint(cls: type[L.LightningModule], checkpoint: Path, what: str, hint: str):
    """``cls.load_from_checkpoint`` on CPU in eval mode, with errors that say what to give instead.

    Raises:
        ModelError: the file is missing or is not a checkpoint of ``cls``.
    """
    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise ModelError(f"checkpoint {checkpoint} not found; give a run's checkpoints/best.ckpt (or latest.ckpt)")
    try:
        module = cls.load_from_checkpoint(str(checkpoint), map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001  torch/Lightning raise many untyped errors on foreign or corrupt files
        raise ModelError(
            f"{checkpoint}: not a readable medscreen {what} checkpoint ({type(exc).__name__}); {hint}"
        ) from None
    return module.eval()


def checkpoint_hyperparameters(checkpoint: Path) -> dict[str, Any]:
    """The ``hyper_parameters`` saved in a Lightning checkpoint (memory-mapped: the weights are not read).

    Raises:
        ModelError: the file is missing or not a readable checkpoint.
    """
    checkpoint = Path(checkpoint)
    try:
        saved = torch.load(checkpoint, map_location="cpu", weights_only=False, mmap=True)
    except FileNotFoundError:
        raise ModelError(f"checkpoint {checkpoint} not found; give a run's checkpoints/best.ckpt") from None
    except Exception as exc:  # noqa: BLE001  torch raises many untyped errors on foreign or corrupt files
        raise ModelError(f"{checkpoint}: not a readable checkpoint ({type(exc).__name__}); give a .ckpt written by "
                         "`medscreen train`") from None
    hyper = saved.get("hyper_parameters") if isinstance(saved, dict) else None
    return dict(hyper) if hyper else {}


def set_checkpoint_hyperparameters(checkpoint: Path, **values: Any) -> None:
    """Add ``values`` to a checkpoint's ``hyper_parameters`` in place (they reach the module's ``__init__``).

    For what is only known after training, such as the operating threshold
    chosen on the best model's validation predictions.
    """
    saved = torch.load(checkpoint, map_location="cpu", weights_only=False)
    saved.setdefault("hyper_parameters", {}).update(values)
    torch.save(saved, checkpoint)
