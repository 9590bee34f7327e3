"""BUS-BRA: breast ultrasound with lesion masks, biopsy-proven benign / malignant, BI-RADS.

Gómez-Flores W., Gregorio-Calas M. J., Coelho de Albuquerque Pereira W.,
"BUS-BRA: A breast ultrasound dataset for assessing computer-aided diagnosis
systems", Medical Physics 51 (2024), doi:10.5281/zenodo.7730709.

Published layout (1,875 images of 1,064 patients; any subset works the same way)::

    BUSBRA/                     (the folder itself, or the folder that contains it)
      Images/bus_0001-l.png     Masks/mask_0001-l.png
      bus_data.csv              ID, Case, Histology, Pathology, BIRADS, Device, Width, Height, Side, BBOX
      5-fold-cv.csv             ID, Pathology, kFold, valid_1..valid_5     (patient-level folds)
      10-fold-cv.csv            ID, Pathology, kFold, valid_1..valid_10

``Case`` is the patient: one patient may have several images (``-l``/``-r``
sides, ``-s`` single). The CSV ``Width``/``Height`` are kept as ``width_csv``/
``height_csv``; a few disagree with the files, which :mod:`medscreen.datasets.check`
reports (trust the file).
"""

from __future__ import annotations

import csv
import logging
import re
from pathlib import Path
from typing import Any

from medscreen.datasets._layout import find_child, layout_error, list_files, natural_key, resolve_root
from medscreen.datasets.records import DatasetIndex, Record
from medscreen.errors import DatasetLayoutError

__all__ = ["BUSBRA_COLUMNS", "BUSBRA_LABELS", "looks_like_busbra", "read_busbra"]

logger = logging.getLogger(__name__)

BUSBRA_COLUMNS: tuple[str, ...] = (
    "ID", "Case", "Histology", "Pathology", "BIRADS", "Device", "Width", "Height", "Side", "BBOX"
)  # fmt: skip
BUSBRA_LABELS: tuple[str, ...] = ("benign", "malignant")
_FOLD_FILES = {"fold5": "5-fold-cv.csv", "fold10": "10-fold-cv.csv"}
_INNER = ("BUSBRA",)
_ID = re.compile(r"^bus_(?P<suffix>\d+-[a-z]+)$", re.IGNORECASE)
_EXPECTED = (
    "'bus_data.csv' beside the folders 'Images' (bus_XXXX-s.png) and 'Masks' (mask_XXXX-s.png), "
    "either directly or inside 'BUSBRA'"
)


def _is_busbra(folder: Path) -> bool:
    return find_child(folder, "bus_data.csv", is_dir=False) is not None and find_child(folder, "Images") is not None


def looks_like_busbra(root: Path) -> bool:
    """Whether ``root`` (or its ``BUSBRA`` folder) holds ``bus_data.csv`` and ``Images/``."""
    return resolve_root(Path(root), _is_busbra, inner=_INNER) is not None


def read_busbra(root: Path) -> DatasetIndex:
    """Index a BUS-BRA folder from ``bus_data.csv``: one :class:`Record` per CSV row.

    Args:
        root: the folder holding ``bus_data.csv``, ``Images/`` and ``Masks/``
            (or the folder that contains ``BUSBRA/``).

    Returns:
        A :class:`DatasetIndex` named ``bus-bra``; ``label`` is ``Pathology``
        (``benign``/``malignant``), ``patient_id`` is ``str(Case)``, ``key`` is
        ``ID``; ``fields`` hold ``histology``, ``birads``, ``device``,
        ``width_csv``, ``height_csv``, ``side``, ``bbox`` (``[x, y, w, h]``)
        and ``fold5``/``fold10`` where the fold CSVs exist. Rows whose image or
        mask is missing are left out (errors); images without a row are warnings.

    Raises:
        DatasetLayoutError: ``root`` is not a BUS-BRA folder, or ``bus_data.csv``
            lacks one of :data:`BUSBRA_COLUMNS`.
    """
    root = Path(root)
    folder = resolve_root(root, _is_busbra, inner=_INNER)
    if folder is None:
        raise layout_error("BUS-BRA", root, _EXPECTED)
    index = DatasetIndex(name="bus-bra", root=root)
    images_dir = find_child(folder, "Images") or folder / "Images"
    masks_dir = find_child(folder, "Masks")
    if masks_dir is None:
        index.error(folder / "Masks", "folder 'Masks' not found: every image needs its mask_XXXX-s.png")
    image_names = {p.name: p for p in list_files(images_dir)}
    mask_names = {p.name: p for p in list_files(masks_dir)} if masks_dir else {}
    folds = {field: _read_folds(index, folder, name) for field, name in _FOLD_FILES.items()}

    seen: set[str] = set()
    csv_path = find_child(folder, "bus_data.csv", is_dir=False) or folder / "bus_data.csv"
    for line, row in _read_rows(csv_path, BUSBRA_COLUMNS):
        where = f"{csv_path}:{line}"
        record = _make_record(index, where, row, image_names, mask_names, folds, seen)
        if record is not None:
            index.records.append(record)

    for name, path in image_names.items():
        if Path(name).stem not in seen:
            index.warn(path, "image without a row in bus_data.csv; left out")
    for field, fold in folds.items():
        for image_id in sorted(set(fold) - seen):
            index.warn(folder / _FOLD_FILES[field], f"row {image_id!r} has no usable row in bus_data.csv")
    index.records.sort(key=lambda r: natural_key(r.key))
    logger.info("BUS-BRA %s: %d images %s", folder, len(index.records), index.label_counts())
    return index


def _read_rows(path: Path, required: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """Rows of a CSV as ``(line number, {required column: stripped text})``; columns found by name."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetLayoutError(
            f"{path}: cannot be read as a UTF-8 CSV ({exc}); restore the file from the BUS-BRA download."
        ) from exc
    header = [h.strip().casefold() for h in rows[0]] if rows else []
    positions: dict[str, int] = {}
    for name in required:
        if name.casefold() not in header:
            raise DatasetLayoutError(
                f"{path}: column {name!r} not found (header: {', '.join(rows[0]) if rows else 'empty file'}); "
                f"expected the columns {', '.join(required)}. Restore the file from the BUS-BRA download."
            )
        positions[name] = header.index(name.casefold())
    out = []
    for line, cells in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in cells):
            continue
        out.append((line, {n: (cells[i].strip() if i < len(cells) else "") for n, i in positions.items()}))
    return out


def _read_folds(index: DatasetIndex, folder: Path, name: str) -> dict[str, int]:
    """``{ID: kFold}`` from a fold CSV; ``{}`` when the file is absent or unusable (then an error)."""
    path = find_child(folder, name, is_dir=False)
    if path is None:
        return {}
    try:
        rows = _read_rows(path, ("ID", "kFold"))
    except Exception as exc:  # a broken optional file is reported, not fatal
        index.error(folder / name, str(exc))
        return {}
    folds: dict[str, int] = {}
    for line, row in rows:
        fold = _to_int(row["kFold"])
        if fold is None:
            index.error(f"{path}:{line}", f"kFold {row['kFold']!r} is not an integer; row ignored")
        else:
            folds[row["ID"]] = fold
    return folds


def _make_record(
    index: DatasetIndex,
    where: str,
    row: dict[str, str],
    image_names: dict[str, Path],
    mask_names: dict[str, Path],
    folds: dict[str, dict[str, int]],
    seen: set[str],
) -> Record | None:
    image_id = row["ID"]
    match = _ID.match(image_id)
    if match is None:
        index.error(where, f"ID {image_id!r} is not of the form 'bus_XXXX-s'; row left out")
        return None
    if image_id in seen:
        index.error(where, f"ID {image_id!r} appears twice in bus_data.csv; later row left out")
        return None
    seen.add(image_id)
    case = _to_int(row["Case"])
    label = row["Pathology"].casefold()
    image = image_names.get(f"{image_id}.png")
    mask = mask_names.get(f"mask_{match['suffix']}.png")
    if case is None:
        index.error(where, f"Case {row['Case']!r} is not an integer patient number; row left out")
    if label not in BUSBRA_LABELS:
        index.error(where, f"Pathology {row['Pathology']!r} is not one of {BUSBRA_LABELS}; row left out")
    if image is None:
        index.error(where, f"row {image_id!r} has no file Images/{image_id}.png; row left out")
    elif mask is None:
        index.error(image, f"image without its mask Masks/mask_{match['suffix']}.png; left out")
    if case is None or label not in BUSBRA_LABELS or image is None or mask is None:
        return None
    fields: dict[str, Any] = {
        "histology": row["Histology"] or None,
        "birads": _parse_birads(row["BIRADS"]),
        "device": row["Device"] or None,
        "width_csv": _to_int(row["Width"]),
        "height_csv": _to_int(row["Height"]),
        "side": row["Side"].casefold() or None,
        "bbox": _parse_bbox(index, where, row["BBOX"]),
    }
    for field, fold in folds.items():
        if fold:
            fields[field] = fold.get(image_id)
            if fields[field] is None:
                index.warn(where, f"ID {image_id!r} has no row in {_FOLD_FILES[field]}")
    return Record(
        image=image, masks=(mask,), label=label, patient_id=str(case), dataset="bus-bra", key=image_id, fields=fields
    )


def _to_int(text: str) -> int | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if value.is_integer() else None


def _parse_birads(text: str) -> int | str | None:
    """BI-RADS as an int (``4``), or the text as given when it has a subcategory (``4a``)."""
    value = _to_int(text)
    return value if value is not None else (text or None)


def _parse_bbox(index: DatasetIndex, where: str, text: str) -> list[int] | None:
    """``"[70,50,94,32]"`` → ``[70, 50, 94, 32]`` (x, y, width, height); ``None`` with a warning if malformed."""
    parts = [_to_int(p) for p in text.strip().strip("[]()").replace(";", ",").split(",")] if text.strip() else []
    if len(parts) != 4 or any(p is None for p in parts):
        index.warn(where, f"BBOX {text!r} is not '[x,y,w,h]' of 4 integers; bbox left empty")
        return None
    return [p for p in parts if p is not None]
