"""``medscreen data``: check datasets and write reproducible splits.

Heavy libraries (scikit-learn, Pillow) are imported inside the commands, so
``medscreen --help`` does not load them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.progress import Progress
from rich.table import Table

from medscreen.cli._common import console, handle_errors
from medscreen.config import get_settings
from medscreen.constants import GLAUCOMA_CROP_K
from medscreen.datasets.manifest import read_manifest, write_manifest
from medscreen.datasets.records import DatasetIndex, Severity
from medscreen.datasets.registry import find_datasets, read_dataset
from medscreen.errors import ConfigError, choose

if TYPE_CHECKING:
    from medscreen.datasets.check import CheckReport

__all__ = ["data_app", "load_indexes"]

data_app = typer.Typer(help="Check datasets and make patient-level splits.", no_args_is_help=True)


def load_indexes(path: Path | None, manifest: Path | None, dataset: str | None = None) -> list[DatasetIndex]:
    """The datasets named on the command line: a folder (of datasets) or a manifest."""
    if (path is None) == (manifest is None):
        raise ConfigError("give either a dataset folder (PATH) or --manifest FILE, not both and not neither")
    if manifest is not None:
        return [read_manifest(manifest)]
    assert path is not None
    if dataset is not None:
        return [read_dataset(path, dataset)]
    return find_datasets(path)


def _size(size: tuple[int, int] | None) -> str:
    return "-" if size is None else f"{size[0]}×{size[1]}"


def _summary_table(reports: list[CheckReport]) -> Table:
    table = Table(title="medscreen data check", show_lines=False)
    for col in ("dataset", "images", "labels", "masks", "smallest", "largest", "errors", "warnings"):
        right = col in {"images", "masks", "errors", "warnings"}
        table.add_column(col, justify="right" if right else "left", no_wrap=col != "labels")
    for r in reports:
        n_err = sum(p.severity is Severity.ERROR for p in r.problems)
        n_warn = len(r.problems) - n_err
        labels = "\n".join(f"{k} {v}" for k, v in r.label_counts.items())
        table.add_row(
            r.name, str(r.n_images), labels, str(r.n_with_mask), _size(r.min_size), _size(r.max_size),
            f"[red]{n_err}[/]" if n_err else "0", f"[yellow]{n_warn}[/]" if n_warn else "0",
        )
    return table


@data_app.command("check")
@handle_errors
def check(
    path: Path | None = typer.Argument(None, help="A dataset's folder, or a folder of datasets (e.g. ../shared/data)."),
    manifest: Path | None = typer.Option(None, "--manifest", "-m", help="A CSV manifest (image, mask, label, patient_id)."),
    dataset: str | None = typer.Option(None, "--dataset", help="Read PATH as this dataset instead of detecting it."),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the full report as JSON here."),
    show: int = typer.Option(20, "--show", help="Problems listed per dataset (all are in --json)."),
) -> None:
    """Index every image, open every header, and list what is wrong.

    Exit status 1 when any dataset has errors (unreadable file, image without its
    mask, size mismatch, unknown label, missing column); warnings do not fail.
    """
    from medscreen.datasets.check import check_index  # reads image headers (Pillow, pydicom)

    settings = get_settings()
    indexes = load_indexes(path, manifest, dataset)
    reports: list[CheckReport] = []
    with Progress(console=console, transient=True) as progress:
        for index in indexes:
            task = progress.add_task(f"checking {index.name}", total=len(index.records))
            reports.append(
                check_index(
                    index,
                    max_pixels=settings.limits.max_image_pixels,
                    on_progress=lambda done, total, t=task: progress.update(t, completed=done, total=total),
                )
            )
    console.print(_summary_table(reports))
    for r in reports:
        if not r.problems:
            continue
        console.print(f"[bold]{r.name}[/] ({r.root}): {len(r.problems)} problem(s)")
        for p in r.problems[:show]:
            colour = "red" if p.severity is Severity.ERROR else "yellow"
            console.print(f"  [{colour}]{p.severity.value}[/] {p.path}: {p.message}", highlight=False, soft_wrap=True)
        if len(r.problems) > show:
            console.print(f"  … {len(r.problems) - show} more (use --show or --json)")
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps([r.to_dict() for r in reports], indent=2))
    if not all(r.ok for r in reports):
        raise typer.Exit(code=1)


@data_app.command("split")
@handle_errors
def split(
    path: Path | None = typer.Argument(None, help="A dataset's folder, or a folder of datasets."),
    out: Path = typer.Option(..., "--out", "-o", help="Manifest CSV to write, with a `split` (or `fold`) column."),
    manifest: Path | None = typer.Option(None, "--manifest", "-m", help="A CSV manifest instead of PATH."),
    dataset: str | None = typer.Option(None, "--dataset", help="Read PATH as this dataset instead of detecting it."),
    val: float = typer.Option(0.2, "--val", help="Fraction of patients for validation."),
    test: float = typer.Option(0.0, "--test", help="Fraction of patients for a test split (0 = none)."),
    kfold: int = typer.Option(0, "--kfold", help="Write K folds (column `fold`) instead of train/val/test."),
    seed: int | None = typer.Option(None, "--seed", help="Random seed (default: MEDSCREEN_SEED, 42)."),
) -> None:
    """Split by patient (stratified by label) and write the split as a manifest."""
    from medscreen.datasets.splits import assign_splits, kfold_records  # scikit-learn

    seed = get_settings().seed if seed is None else seed
    records = [r for index in load_indexes(path, manifest, dataset) for r in index.records]
    if kfold:
        folds = kfold_records(records, k=kfold, seed=seed)
        fold_of = {id(r): str(i) for i, (_, val_records) in enumerate(folds) for r in val_records}
        extra = {"fold": [fold_of[id(r)] for r in records]}
        what = f"{kfold} folds"
    else:
        extra = {"split": assign_splits(records, val_fraction=val, test_fraction=test, seed=seed)}
        what = "train/val" + ("/test" if test else "")
    write_manifest(records, out, extra=extra)
    console.print(f"wrote {len(records)} images ({what}, seed {seed}) to {out}")


@data_app.command("crops")
@handle_errors
def crops(
    paths: list[Path] = typer.Argument(..., help="Fundus dataset folder(s): full photos and/or published disc crops."),
    out: Path = typer.Option(..., "--out", "-o", help="New folder for the crops and their manifests."),
    task: str = typer.Option("glaucoma", "--task", help="Label the records for this task (glaucoma | progression)."),
    disc_model: Path | None = typer.Option(None, "--disc-model", help="ONNX disc model (default: the bundled one)."),
    size: int = typer.Option(256, "--size", min=32, help="Side of the written crops in pixels."),
    framing: str = typer.Option("diameter", "--framing", help="diameter | box+50 (as the classifier's card)."),
    crop_k: float = typer.Option(GLAUCOMA_CROP_K, "--crop-k", min=1.0, help="Crop side in disc diameters (framing diameter)."),
) -> None:
    """Find the disc once per photo and write the classifier's crops with a manifest (a training cache)."""
    from medscreen.inference.crops import write_disc_crops
    from medscreen.tasks import task_names
    from medscreen.training.classification import task_records

    choose(framing, ["box+50", "diameter"], "--framing")
    choose(task, sorted(task_names("classification", "fundus")), "--task")
    records = task_records([r for p in paths for index in load_indexes(p, None) for r in index.records], task)
    with Progress(console=console, transient=True) as progress:
        bar = progress.add_task("cropping", total=len(records))
        manifest = write_disc_crops(records, out, disc_model=disc_model, size=size, framing=framing, k=crop_k,
                                    on_progress=lambda n: progress.update(bar, completed=n))
    summary = json.loads((out / "crops.json").read_text())
    console.print(f"wrote {summary['n']} crops ({summary['counts']}) and {manifest}; "
                  f"{summary['n_skipped']} skipped (listed with the reason in {out / 'skipped.csv'})")
