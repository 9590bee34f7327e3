"""The CSV manifest: a user's own images, masks and labels, one row per image.

Every command that takes data accepts a manifest in place of a public dataset
folder. The header names the columns; only ``image`` is required::

    image,mask,label,patient_id,split
    scans/p01_a.png,masks/p01_a.png,benign,P01,train
    scans/p02.png,masks/p02_1.png;masks/p02_2.png,malignant,P02,val
    /data/other/p03.png,,normal,,

* Column names are matched case-insensitively after stripping spaces.
* Paths are relative to the CSV file's folder, or absolute.
* A blank cell means "not given" (no mask, no label, no patient id).
* A ``mask`` cell may hold several paths separated by ``;``: the mask is their
  union (BUSI's ``_mask_1``/``_mask_2``). Mask paths therefore cannot contain
  ``;``.
* ``dataset`` and ``key`` columns, when present, set :attr:`Record.dataset`
  (default ``"manifest"``) and :attr:`Record.key` (default the image's file stem;
  when two images share a stem, their path relative to the CSV without suffix).
* Any other column (``split``, ``site``...) is kept in :attr:`Record.fields`
  under its lower-case name; blank cells are left out.

The file must be UTF-8 (an Excel "CSV UTF-8" export, with or without BOM) and
comma-separated. Rows are numbered as a spreadsheet shows them: the header is
row 1, the first image row 2.
"""

from __future__ import annotations

import csv
import io
import logging
import os
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from medscreen.datasets.records import DatasetIndex, Record
from medscreen.errors import ManifestError, closest

__all__ = ["MANIFEST_COLUMNS", "MASK_SEPARATOR", "SOURCE_DIGEST_COLUMN", "read_manifest", "write_manifest"]

logger = logging.getLogger(__name__)

MANIFEST_COLUMNS: tuple[str, ...] = ("image", "mask", "label", "patient_id")
"""The manifest's own columns; only ``image`` is required."""

MASK_SEPARATOR = ";"
"""Separates several mask paths in one ``mask`` cell (their union is the mask)."""

SOURCE_DIGEST_COLUMN = "source_sha256"
"""Extra column of a crops manifest (and of a split.csv trained on it): the SHA-256 of the photo each crop
was cut from, so that a model card records, and ``evaluate`` recognises, the photos a user has."""

_WRITTEN_COLUMNS = (*MANIFEST_COLUMNS, "dataset", "key")
_EXPECTED_HEADER = ",".join(MANIFEST_COLUMNS)
_IMAGE_ALIASES = ("img", "images", "path", "file", "filename", "file_name", "filepath", "image_path", "imagepath")


def read_manifest(
    path: str | Path,
    *,
    labels: Collection[str] | None = None,
    require_masks: bool = False,
) -> DatasetIndex:
    """Read a CSV manifest into a :class:`DatasetIndex`.

    Problems of one row (blank or missing image, missing mask, unknown label,
    blank mask when masks are required, wrong number of cells) are recorded on
    the index as errors naming the row and column, and that row is left out of
    ``index.records``; duplicate images or keys are warnings. Pixels are not
    opened (see :mod:`medscreen.datasets.check`).

    Args:
        path: the CSV file.
        labels: the allowed labels of the task; ``None`` accepts any label.
            A blank label is always accepted (the record has ``label=None``).
        require_masks: make a blank ``mask`` cell an error (segmentation).

    Returns:
        The index, named after the CSV's stem, rooted at the CSV's folder, with
        absolute, normalised image and mask paths.

    Raises:
        ManifestError: the file is missing, not UTF-8, not CSV, has no rows, has
            no ``image`` column (or no ``mask`` column while masks are required)
            or repeats a column.
    """
    csv_path = Path(path)
    rows = _read_rows(csv_path)
    header = rows[0][1]
    columns = _match_columns(csv_path, header)
    data_rows = [(n, cells) for n, cells in rows[1:] if any(c.strip() for c in cells)]
    if not data_rows:
        raise ManifestError(f"manifest {csv_path} has no rows; add one row per image under the header")
    if require_masks and "mask" not in columns:
        raise ManifestError(
            f"manifest {csv_path} has no 'mask' column, but this task needs a mask for every image; "
            f"add a 'mask' column (header '{_EXPECTED_HEADER}')"
        )

    folder = os.path.abspath(csv_path.parent)
    index = DatasetIndex(name=csv_path.stem, root=Path(folder))
    _warn_near_miss_columns(index, csv_path, columns)
    allowed = None if labels is None else list(dict.fromkeys(labels))
    images = {_resolve(folder, cell) for _, cells in data_rows if (cell := _cell(cells, columns, "image"))}
    stems = Counter(image.stem for image in images)
    for row, cells in data_rows:
        record = _read_row(index, csv_path, folder, header, columns, row, cells, allowed, require_masks, stems)
        if record is not None:
            index.records.append(record)
    _warn_duplicates(index, csv_path)
    logger.info(
        "read %d records from manifest %s (%d errors, %d problems)",
        len(index.records),
        csv_path,
        len(index.errors),
        len(index.problems),
    )
    return index


def write_manifest(
    records: Iterable[Record],
    path: str | Path,
    *,
    extra: Mapping[str, Sequence[Any]] | None = None,
    relative: bool = True,
) -> Path:
    """Write records as a CSV manifest that :func:`read_manifest` reads back.

    Columns are ``image, mask, label, patient_id, dataset, key`` and then the
    ``extra`` columns in their given order. Several masks are joined by ``;``;
    ``None`` is written as a blank cell. The file is written to a temporary
    name and then moved into place, so a reader never sees half a manifest.

    Args:
        records: the records to write, one row each.
        path: the CSV file to write; its folder is created if needed.
        extra: more columns, each a sequence aligned with ``records``
            (``{"split": assign_splits(records)}``).
        relative: write paths relative to the CSV's folder where possible
            (absolute across drives); ``False`` writes absolute paths.

    Returns:
        The path written.

    Raises:
        ManifestError: an extra column repeats a manifest column or has a length
            other than the number of records, or a mask path contains ``;``.
    """
    rows = list(records)
    out = Path(path)
    extra = dict(extra or {})
    _check_extra(out, extra, len(rows))
    folder = os.path.abspath(out.parent)
    lines: list[list[str]] = [[*_WRITTEN_COLUMNS, *(name.strip() for name in extra)]]
    for i, record in enumerate(rows):
        masks = [_path_cell(m, folder, relative) for m in record.masks]
        for mask in masks:
            if MASK_SEPARATOR in mask:
                raise ManifestError(
                    f"cannot write mask path {mask!r} to manifest {out}: it contains {MASK_SEPARATOR!r}, "
                    "which separates several masks; rename the file"
                )
        lines.append(
            [
                _path_cell(record.image, folder, relative),
                MASK_SEPARATOR.join(masks),
                record.label or "",
                record.patient_id or "",
                record.dataset,
                record.key,
                *("" if values[i] is None else str(values[i]) for values in extra.values()),
            ]
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(lines)
    os.replace(tmp, out)
    logger.info("wrote %d records to manifest %s", len(rows), out)
    return out


def _read_rows(csv_path: Path) -> list[tuple[int, list[str]]]:
    """Rows from the header on, numbered as a spreadsheet numbers them."""
    if not csv_path.exists():
        raise ManifestError(
            f"manifest {csv_path} does not exist; give the path of a CSV file with the header '{_EXPECTED_HEADER}'"
        )
    if not csv_path.is_file():
        raise ManifestError(f"manifest {csv_path} is not a file; give the path of a CSV file, not a folder")
    try:
        data = csv_path.read_bytes()
    except OSError as exc:
        raise ManifestError(f"manifest {csv_path} cannot be read: {exc}") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ManifestError(
            f"manifest {csv_path} is not UTF-8 text (bad byte at offset {exc.start}); "
            "if it is a spreadsheet, save it as 'CSV UTF-8 (comma delimited)'"
        ) from exc
    if "\x00" in text:
        raise ManifestError(f"manifest {csv_path} is not a CSV text file (it contains NUL bytes); give a CSV file")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        rows = list(enumerate(reader, start=1))
    except csv.Error as exc:
        raise ManifestError(f"manifest {csv_path} is not valid CSV near line {reader.line_num}: {exc}") from exc
    for i, (_, cells) in enumerate(rows):
        if any(c.strip() for c in cells):
            return rows[i:]
    raise ManifestError(
        f"manifest {csv_path} has no rows; add one row per image under a header such as '{_EXPECTED_HEADER}'"
    )


def _match_columns(csv_path: Path, header: list[str]) -> dict[str, int]:
    """Map lower-case column names to their position; check ``image`` is there."""
    columns: dict[str, int] = {}
    for i, raw in enumerate(header):
        name = raw.strip().lower()
        if not name:
            continue
        if name in columns:
            raise ManifestError(
                f"manifest {csv_path} has the column {name!r} twice (columns {columns[name] + 1} and {i + 1}); "
                "keep one of them"
            )
        columns[name] = i
    if "image" in columns:
        return columns
    found = ", ".join(repr(h.strip()) for h in header if h.strip()) or "none"
    message = f"manifest {csv_path} has no 'image' column (columns found: {found})"
    alias = next((name for name in columns if name in _IMAGE_ALIASES), None)
    guess = alias or closest("image", columns)
    if guess is not None:
        message += f"; did you mean {guess!r}? Rename it to 'image'"
    elif len(columns) == 1 and any(sep in header[0] for sep in ";\t|"):
        sep = next(s for s in ";\t|" if s in header[0])
        message += f"; the header looks separated by {sep!r}: save the file comma-separated"
    raise ManifestError(message + f". The expected header is '{_EXPECTED_HEADER}' (only 'image' is required)")


def _warn_near_miss_columns(index: DatasetIndex, csv_path: Path, columns: Mapping[str, int]) -> None:
    """Warn about extra columns that look like a misspelt manifest column (``masks``, ``patient``)."""
    for name in columns:
        if name in _WRITTEN_COLUMNS:
            continue
        close = closest(name, [c for c in _WRITTEN_COLUMNS if c not in columns], cutoff=0.75)
        if close:
            index.warn(
                csv_path,
                f"column {name!r} is not a manifest column and is kept as an extra field; "
                f"did you mean {close!r}? Rename it if so",
            )


def _read_row(
    index: DatasetIndex,
    csv_path: Path,
    folder: str,
    header: list[str],
    columns: Mapping[str, int],
    row: int,
    cells: list[str],
    allowed: list[str] | None,
    require_masks: bool,
    stems: Counter[str],
) -> Record | None:
    """One row as a record, or ``None`` after recording why it cannot be used."""
    if len(cells) > len(header) and any(c.strip() for c in cells[len(header) :]):
        index.error(
            csv_path,
            f"row {row} has {len(cells)} cells but the header has {len(header)} columns; "
            "put paths that contain commas in double quotes",
        )
        return None
    ok = True
    image_cell = _cell(cells, columns, "image")
    image = None
    if not image_cell:
        index.error(csv_path, f"row {row}, column 'image': blank; give the image path or delete the row")
        ok = False
    else:
        image = _resolve(folder, image_cell)
        ok &= _check_file(index, csv_path, folder, row, "image", image_cell, image)
    masks: list[Path] = []
    for mask_cell in (p.strip() for p in _cell(cells, columns, "mask").split(MASK_SEPARATOR)):
        if mask_cell:
            masks.append(_resolve(folder, mask_cell))
            ok &= _check_file(index, csv_path, folder, row, "mask", mask_cell, masks[-1])
    if require_masks and not masks:
        index.error(
            csv_path,
            f"row {row}, column 'mask': blank, but this task needs a mask for every image; "
            f"give the mask path (several separated by {MASK_SEPARATOR!r}) or delete the row",
        )
        ok = False
    label = _cell(cells, columns, "label") or None
    if label is not None and allowed is not None and label not in allowed:
        choices = ", ".join(repr(a) for a in allowed)
        hint = closest(label, allowed, cutoff=0.5) or next((a for a in allowed if a.lower() == label.lower()), None)
        suffix = f"; did you mean {hint!r}?" if hint else "; fix the label or delete the row"
        index.error(csv_path, f"row {row}, column 'label': {label!r} is not one of {choices}{suffix}")
        ok = False
    if not ok or image is None:
        return None
    fields = {
        name: cells[i].strip()
        for name, i in columns.items()
        if name not in _WRITTEN_COLUMNS and i < len(cells) and cells[i].strip()
    }
    return Record(
        image=image,
        masks=tuple(masks),
        label=label,
        patient_id=_cell(cells, columns, "patient_id") or None,
        dataset=_cell(cells, columns, "dataset") or "manifest",
        key=_cell(cells, columns, "key") or _default_key(folder, image, stems),
        fields=fields,
    )


def _cell(cells: Sequence[str], columns: Mapping[str, int], name: str) -> str:
    """The stripped cell of column ``name``; ``""`` when blank, absent or past the row's end."""
    i = columns.get(name)
    return cells[i].strip() if i is not None and i < len(cells) else ""


def _resolve(folder: str, cell: str) -> Path:
    """A cell's path made absolute against the CSV's folder and normalised."""
    return Path(os.path.normpath(os.path.join(folder, os.path.expanduser(cell))))


def _check_file(
    index: DatasetIndex, csv_path: Path, folder: str, row: int, column: str, cell: str, path: Path
) -> bool:
    """Record an error on ``path`` unless it is an existing file."""
    if path.is_file():
        return True
    what = "is a folder, not a file" if path.is_dir() else "file not found"
    where = "" if os.path.isabs(os.path.expanduser(cell)) else f"; relative paths are read from {folder}"
    index.error(path, f"{csv_path.name} row {row}, column {column!r}: {what} (cell {cell!r}{where})")
    return False


def _default_key(folder: str, image: Path, stems: Counter[str]) -> str:
    """The image's stem, or its suffix-less path relative to the CSV when another image shares the stem."""
    if stems[image.stem] <= 1:
        return image.stem
    try:
        return Path(os.path.relpath(image.with_suffix(""), folder)).as_posix()
    except ValueError:  # another drive
        return image.with_suffix("").as_posix()


def _warn_duplicates(index: DatasetIndex, csv_path: Path) -> None:
    """Warn about images listed twice and keys used twice within one dataset."""
    images = Counter(r.image for r in index.records)
    for image, count in images.items():
        if count > 1:
            index.warn(image, f"listed {count} times in {csv_path.name}; keep one row per image")
    keys = Counter((r.dataset, r.key) for r in index.records)
    for (dataset, key), count in keys.items():
        if count > 1:
            index.warn(
                csv_path,
                f"key {key!r} of dataset {dataset!r} is used by {count} rows; give each image its own 'key'",
            )


def _check_extra(out: Path, extra: Mapping[str, Sequence[Any]], n_records: int) -> None:
    """Check extra columns are new, distinct and aligned with the records."""
    seen: set[str] = set()
    for name, values in extra.items():
        norm = name.strip().lower()
        if not norm or norm in _WRITTEN_COLUMNS or norm in seen:
            raise ManifestError(
                f"cannot write extra column {name!r} to manifest {out}: the name is blank, repeated or one of "
                f"{', '.join(_WRITTEN_COLUMNS)}; choose another name"
            )
        seen.add(norm)
        if len(values) != n_records:
            raise ManifestError(
                f"cannot write extra column {name!r} to manifest {out}: it has {len(values)} values "
                f"for {n_records} records; give one value per record"
            )


def _path_cell(path: Path, folder: str, relative: bool) -> str:
    """A path as written in the manifest: relative to ``folder`` where possible, with ``/``."""
    absolute = os.path.abspath(path)
    if relative:
        try:
            return Path(os.path.relpath(absolute, folder)).as_posix()
        except ValueError:  # another drive on Windows
            pass
    return Path(absolute).as_posix()
